"""Reading run files: TOML → RunConfig (every problem at once), ``--set`` overrides, writing TOML, the JSON schema."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ftcore.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ftcore.config.messages import clip, format_errors, is_branch_tag
from ftcore.config.sections import RunConfig


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` → (["section", "key"], value parsed as a TOML value, else as a string)."""
    if "=" not in text:
        raise ConfigError([f"--set {text}: expected section.key=value"])
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if raw.strip()[:1] in ("[", "{", '"', "'"):  # meant as a TOML list / table / string, but broken
            raise ConfigError([f"--set {clip(text)}: the value is not valid TOML ({exc}); quote strings, close "
                               "brackets, e.g. --set 'data.datasets=[\"a\", \"b\"]'"]) from None
        value = raw  # a bare word: a string
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError([f"--set {clip(text)}: {part} is not a section"])
        node[path[-1]] = value
    return data


def config_from_dict(data: dict[str, Any], source: str = "run.toml", base_dir: str = ".") -> RunConfig:
    """Validate a dict (as read from TOML); raises :class:`ConfigError` listing every problem."""
    data = {k: v for k, v in data.items() if k not in ("base_dir", "source")}
    for key in ("model", "template"):  # short forms: model = "qwen2.5-7b", template = "chatml"
        if isinstance(data.get(key), str):
            data[key] = {"name": data[key]}
    if isinstance(data.get("data"), (str, list)):  # data = ["a", "b"]
        data["data"] = {"datasets": data["data"]}
    try:
        cfg = RunConfig.model_validate({**data, "base_dir": base_dir, "source": source})
    except ValidationError as exc:
        problems = format_errors(source, exc)
        problems.extend(p for p in _cross_problems_of_rest(data, exc, source) if p not in problems)
        raise ConfigError(problems) from None
    return cfg


def _cross_problems_of_rest(data: dict[str, Any], exc: ValidationError, source: str) -> list[str]:
    """Cross-key problems among the values that are valid, so one pass reports those too."""
    import copy

    rest = copy.deepcopy(data)
    for err in exc.errors():
        loc = [p for p in err["loc"] if not is_branch_tag(p)]
        node: Any = rest
        for part in loc[:-1]:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                node = None
                break
        if not loc:
            return []  # a cross-key problem already: nothing more to learn
        if isinstance(node, dict):
            node.pop(loc[-1], None)
        elif isinstance(node, list) and isinstance(loc[-1], int) and loc[-1] < len(node):
            node[loc[-1]] = None  # keep indexes stable; the None is dropped below
    try:
        RunConfig.model_validate(_drop_none_items(rest))
    except ValidationError as again:
        if all(not e["loc"] for e in again.errors()):
            return format_errors(source, again)
    return []


def _drop_none_items(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none_items(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_none_items(v) for v in value if v is not None]
    return value


def config_without_errors(data: dict[str, Any], source: str = "run.toml", base_dir: str = ".") -> RunConfig | None:
    """A RunConfig of ``data`` with every invalid value dropped (its default stands in) and the cross-key checks
    off, so that ``ftcore validate`` can check names, files and the environment of a file that also has key or
    value errors; None when even that fails."""
    import copy

    rest = copy.deepcopy({k: v for k, v in data.items() if k not in ("base_dir", "source")})
    for key in ("model", "template"):
        if isinstance(rest.get(key), str):
            rest[key] = {"name": rest[key]}
    if isinstance(rest.get("data"), (str, list)):
        rest["data"] = {"datasets": rest["data"]}
    for _ in range(8):
        try:
            return RunConfig.model_validate({**rest, "base_dir": base_dir, "source": source},
                                            context={"cross_checks": False})
        except ValidationError as exc:
            dropped = False
            for err in exc.errors():
                loc = [p for p in err["loc"] if not is_branch_tag(p)]
                node: Any = rest
                for part in loc[:-1]:
                    node = node.get(part) if isinstance(node, dict) else (
                        node[part] if isinstance(node, list) and isinstance(part, int) and part < len(node) else None)
                if loc and isinstance(node, dict) and loc[-1] in node:
                    node.pop(loc[-1])
                    dropped = True
                elif loc and isinstance(node, list) and isinstance(loc[-1], int) and loc[-1] < len(node):
                    node.pop(loc[-1])
                    dropped = True
            if not dropped:
                return None
    return None


def read_config_data(path: str | os.PathLike[str], overrides: list[str] | None = None) -> dict[str, Any]:
    """The run file's TOML as a dict with ``--set`` overrides applied; one-line errors for a file that cannot be
    read (missing, a directory, not UTF-8, not TOML)."""
    p = Path(path)
    source = clip(str(path))
    try:
        is_dir, is_file = p.is_dir(), p.is_file()
    except (OSError, ValueError) as exc:
        raise ConfigError([f"{source}: cannot be read ({getattr(exc, 'strerror', None) or exc})"]) from None
    if is_dir:
        raise ConfigError([f"{source}: is a directory; give the path of a run.toml file"])
    if not is_file:
        raise ConfigError([f"{source}: file not found"])
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML: {exc}; fix that line"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{source}: not a UTF-8 text file (byte offset {exc.start}); save it as UTF-8"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot be read ({exc.strerror or exc}); check its permissions"]) from None
    return apply_overrides(data, overrides or [])


def load_config(path: str | os.PathLike[str], overrides: list[str] | None = None) -> RunConfig:
    """Read and validate a run.toml; ``overrides`` are ``section.key=value`` strings (``--set``)."""
    data = read_config_data(path, overrides)
    return config_from_dict(data, source=str(path), base_dir=str(Path(path).parent.resolve()))


def config_to_toml(cfg: RunConfig) -> str:
    """The fully resolved config as TOML (None values omitted: TOML has no null)."""
    return dict_to_toml(cfg.model_dump(mode="json"))


def dict_to_toml(data: dict[str, Any]) -> str:
    """A run config's dict as TOML text (None values omitted: TOML has no null)."""
    import tomli_w

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [strip(v) for v in value if v is not None]
        return value

    return tomli_w.dumps(strip(data))


def json_schema() -> dict[str, Any]:
    """JSON Schema of run.toml (``ftcore config schema``), for editors."""
    schema = RunConfig.model_json_schema()
    props = schema.get("properties", {})
    props.pop("base_dir", None)
    props.pop("source", None)
    schema["title"] = "ftcore run.toml"
    schema["additionalProperties"] = {"type": "object"}  # a plugin stage's options table ([my-stage])
    return schema
