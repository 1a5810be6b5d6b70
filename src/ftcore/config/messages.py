"""Error rendering: pydantic's validation errors as one line per problem, ``run.toml: train.lr: <message>``, with
did-you-mean hints for misspelled keys and for ms-swift argument names."""

from __future__ import annotations

import difflib
import sys
from typing import Any

from pydantic import BaseModel, ValidationError

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass

from ftcore.config.ms_swift import SEED_ARGUMENTS
from ftcore.config.sections import RunConfig
from ftcore.config.types import Section


def _sections() -> dict[str, type[BaseModel]]:
    """Every section class by class name (pydantic names union branches after them in error locations)."""
    out: dict[str, type[BaseModel]] = {}
    todo: list[type[BaseModel]] = [Section]
    while todo:
        cls = todo.pop()
        out[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return out


def is_branch_tag(part: Any) -> bool:
    """Whether a pydantic location part names a union branch (``float``, ``literal['auto']``, ``DatasetEntry``)."""
    if not isinstance(part, str):
        return False
    return (
        "[" in part
        or part in ("str", "int", "float", "bool", "list", "dict")
        or part[:1].isupper()
        or part.startswith(("constrained-", "function-", "lax-", "json-", "tagged-", "nullable", "default"))
    )


def _branch_model(part: Any, sections: dict[str, type[BaseModel]]) -> type[BaseModel] | None:
    """The section a union-branch tag names: ``DatasetEntry`` or ``function-after[_one_source(), DatasetEntry]``."""
    if not isinstance(part, str):
        return None
    name = part.rstrip("]").split("[")[-1].split(",")[-1].strip()
    return sections.get(name)


def _render_key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(raw_loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section class holding the last key of ``raw_loc`` (union tags and list indexes followed)."""
    sections = _sections()
    model: type[BaseModel] | None = RunConfig
    for part in raw_loc[:-1]:
        if isinstance(part, int):
            continue
        branch = _branch_model(part, sections)
        if branch is not None:
            model = branch
            continue
        if model is None:
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            if is_branch_tag(part):
                continue
            return None
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return model


def all_key_paths() -> dict[str, list[str]]:
    """last key name -> every full key path with that name (``rank`` -> ``["tuner.rank"]``)."""
    out: dict[str, list[str]] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if field.exclude:
                continue
            path = f"{prefix}{name}"
            out.setdefault(name, []).append(path)
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{path}.")

    walk(RunConfig, "")
    return out


def _key_paths() -> set[str]:
    return {path for paths in all_key_paths().values() for path in paths}


def _unknown_key_hint(raw_loc: tuple[Any, ...], clean_loc: tuple[Any, ...]) -> str:
    key = str(clean_loc[-1])
    parent = _model_at(raw_loc)
    prefix = _render_key(clean_loc[:-1])
    prefix = f"{prefix}." if prefix else ""
    seed = SEED_ARGUMENTS.get(key)
    if seed:
        if seed.rsplit(".", 1)[-1] == key:
            return f" (did you mean {seed}?)"
        return f" (did you mean {seed}? '{key}' is ms-swift's name for it)"
    if parent is not None:
        keys = [k for k, f in parent.model_fields.items() if not f.exclude]
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
        if close:
            return f" (did you mean {prefix}{close[0]}?)"
    elsewhere = all_key_paths().get(key, [])
    if elsewhere:
        return f" (did you mean {' or '.join(elsewhere)}?)"
    if parent is not None:
        return f" (known keys: {', '.join(k for k, f in parent.model_fields.items() if not f.exclude)})"
    return ""


def unknown_key_hint(path: str) -> str:
    """The `` (did you mean …?)`` hint for an unknown dotted key such as ``tuner.lr``; "" when there is none."""
    loc = tuple(path.split("."))
    hint = _unknown_key_hint(loc, loc)
    return "" if hint.startswith(" (known keys:") else hint


#: pydantic error type -> what the value must be, for messages that read "must be a number (got 'fast')"
_EXPECTED = {
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _expected(err: Any) -> str | None:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "literal_error":
        return str(ctx.get("expected", "one of the listed values"))
    for bound, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if bound in ctx and kind.startswith(("greater", "less")):
            limit = ctx[bound]
            return f"{op} {int(limit) if isinstance(limit, float) and limit.is_integer() else limit}"
    return None


#: echoed values longer than this are clipped (a 9,000-character name stays one readable line)
CLIP = 200


def clip(text: str, limit: int = CLIP) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _got(err: Any) -> str:
    value = err.get("input")
    if isinstance(value, (dict, list)) or err["type"] in ("missing", "extra_forbidden"):
        return ""
    return f" (got {clip(repr(value))})"


def _message(err: Any) -> str:
    expected = _expected(err)
    if expected is not None:
        return f"must be {expected}{_got(err)}"
    if err["type"] == "missing":
        return "is required"
    msg = clip(str(err["msg"]), 4 * CLIP)
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    return (msg[:1].lower() + msg[1:]) + _got(err)


def error_message(err: Any) -> str:
    """How a run.toml error reads after ``<key>: `` (``must be >= 1 (got 0)``) for one pydantic error dict."""
    return _message(err)


def format_errors(source: str, exc: ValidationError) -> list[str]:
    """One line per problem, ``<source>: <key>: <message>``; errors of one key's union branches merged."""
    by_key: dict[str, list[tuple[tuple[Any, ...], Any]]] = {}
    for err in exc.errors():
        raw = tuple(err["loc"])
        clean = tuple(p for p in raw if not is_branch_tag(p))
        by_key.setdefault(_render_key(clean), []).append((clean, err))
    keys = list(by_key)
    lines: list[str] = []
    for key, errs in by_key.items():
        # a table given for a ``str | table`` union fails the str branch too: keep the table's own problems
        deeper = any(other != key and other.startswith(key) for other in keys)
        kept = [
            (c, e) for c, e in errs if not (isinstance(e.get("input"), dict) and e["type"] == "string_type")
        ]
        if not kept and deeper:
            continue
        errs = kept or errs
        if len(errs) > 1 and all(_expected(e) for _, e in errs):  # one value failing every branch of a union
            what = " or ".join(dict.fromkeys(_expected(e) for _, e in errs))  # type: ignore[misc]
            lines.append(f"{source}: {key}: must be {what}{_got(errs[0][1])}")
            continue
        for clean, err in errs:
            if err["type"] == "extra_forbidden":
                lines.append(f"{source}: {key}: unknown key{_unknown_key_hint(tuple(err['loc']), clean)}")
                continue
            msg = _message(err)
            if err["type"] == "value_error" and (not key or "\n" in msg):  # cross checks carry their own keys
                lines.extend(f"{source}: {m}" for m in msg.split("\n"))
                continue
            if err["type"] == "value_error" and msg.split(": ", 1)[0] in _key_paths():
                lines.append(f"{source}: {msg}")  # a section check naming its own key (model.repo: ...)
                continue
            lines.append(f"{source}: {key}: {msg}" if key else f"{source}: {msg}")
    return lines
