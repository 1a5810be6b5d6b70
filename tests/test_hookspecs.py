"""docs/hooks.md cannot drift from hookspecs.py (datasette's habit): every hook is documented with its exact
signature and kind, and nothing else is documented as a hook."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from ftcore import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def hookspec_functions() -> dict[str, object]:
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }


def signature_line(name: str, fn: object) -> str:
    """``def name(arg: Annotation, …) -> Return`` exactly as written in hookspecs.py (annotations are strings)."""
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def documented_sections() -> dict[str, str]:
    text = DOC.read_text()
    parts = re.split(r"^## `([a-z_]+)`\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_hookspecs_found():
    assert set(hookspec_functions()) == {
        "register_models",
        "register_templates",
        "register_datasets",
        "register_tuners",
        "register_stages",
        "load_model",
        "build_template",
        "load_dataset",
        "configure_tuner",
    }


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_hook_is_documented_with_its_signature_and_kind(name):
    sections = documented_sections()
    assert name in sections, f"docs/hooks.md has no section for hook {name}"
    fn = hookspec_functions()[name]
    section = sections[name]
    assert f"```python\n{signature_line(name, fn)}\n```" in section, (
        f"docs/hooks.md: the signature of {name} differs from hookspecs.py; expected {signature_line(name, fn)}"
    )
    firstresult = getattr(fn, f"{hookspecs.PROJECT}_spec")["firstresult"]
    assert f"**Kind:** {'first result' if firstresult else 'collect all'}." in section
    assert fn.__doc__ and fn.__doc__.strip(), f"hookspecs.{name} has no docstring"


def test_no_stale_hooks_in_the_doc():
    assert set(documented_sections()) == set(hookspec_functions())
