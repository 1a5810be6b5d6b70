"""The tokenized cache: fingerprints of sources, template and tokenizer → one key → ``<cache>/data/<key>/``.

A second run with the same data, template, tokenizer and settings loads the encoded sets from there instead of
re-tokenizing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftcore.data.maps import fingerprint_of, progress_bars, work_dir
from ftcore.data.report import DataReport, PreparedData
from ftcore.data.sources import LoadedSources
from ftcore.specs import DatasetSpec, spec_to_dict
from ftcore.templates.protocol import TemplateProtocol

log = logging.getLogger("ftcore.data")

#: bump when the encoded layout or the pipeline's semantics change (invalidates every cache entry)
CACHE_VERSION = "2"  # 2: multimodal rows keep their pixel inputs


def cache_root(cfg: Any) -> Path:
    """``data.cache_dir``, else ``$FTCORE_CACHE``, else ``~/.cache/ftcore`` — plus ``/data``."""
    if cfg.data.cache_dir:
        return Path(cfg.resolve_path(cfg.data.cache_dir))
    return Path(os.path.expanduser(os.environ.get("FTCORE_CACHE") or "~/.cache/ftcore")) / "data"


def _code_hash(fn: Any) -> str | None:
    code = getattr(fn, "__code__", None) or getattr(getattr(fn, "func", None), "__code__", None)
    if code is None:
        return None
    return hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:16]


def _set_fields(spec: Any) -> dict[str, Any]:
    """A spec's fields that differ from their defaults (a field added to the class later changes no key)."""
    out = {}
    full = spec_to_dict(spec)
    for f in dataclasses.fields(spec):
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if getattr(spec, f.name) != default:
            out[f.name] = full[f.name]
    return out


def spec_fingerprint(spec: DatasetSpec) -> str:
    d = _set_fields(spec)
    d["preprocess_code"] = _code_hash(spec.preprocess)
    d["get_code"] = _code_hash(spec.get)
    d.pop("description", None)
    return fingerprint_of(d)


def template_fingerprint(template: TemplateProtocol) -> str:
    """The template's own ``fingerprint()`` (its spec and settings; the tokenizer is keyed separately)."""
    return str(template.fingerprint())


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Vocabulary, merges, normalizer and special tokens (the fast tokenizer's JSON), plus the chat template."""
    if tokenizer is None:
        return "none"
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    h = hashlib.sha256(f"{type(tok).__module__}.{type(tok).__qualname__}".encode())
    backend = getattr(tok, "backend_tokenizer", None) or getattr(tok, "_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tok.get_vocab().items())).encode())
    extra = {
        "special": getattr(tok, "special_tokens_map", None),
        "chat_template": getattr(tok, "chat_template", None),
        "add_bos": getattr(tok, "add_bos_token", None),
        "add_eos": getattr(tok, "add_eos_token", None),
        "pad": getattr(tok, "pad_token_id", None),
    }
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def cache_key(loaded: LoadedSources, data: Any, template: Any, tokenizer: Any) -> str | None:
    """One key for everything that decides the encoded sets; None when a source has no stable fingerprint."""
    from ftcore import __version__

    sources = []
    for src, part, (train, val) in zip(loaded.sources, loaded.parts, loaded.raw, strict=True):
        fps = [getattr(x, "_fingerprint", None) for x in (train, val) if x is not None]
        if not fps or any(f is None for f in fps) or not all(hasattr(x, "__len__") for x in (train, val)
                                                                 if x is not None):
            return None
        sources.append({"label": src.label, "part": part, "spec": spec_fingerprint(src.spec), "sample": src.sample,
                        "raw": fps})
    settings = {k: getattr(data, k) for k in ("test_ratio", "sample", "seed", "strict", "hub")}
    return fingerprint_of(CACHE_VERSION, __version__, sources, settings, template_fingerprint(template),
               tokenizer_fingerprint(tokenizer))[:20]


def load_cached(folder: Path) -> tuple[Any, Any, DataReport] | None:
    from datasets import load_from_disk

    if not (folder / "report.json").is_file():
        return None
    try:
        train = load_from_disk(str(folder / "train"))
        val = load_from_disk(str(folder / "validation")) if (folder / "validation").is_dir() else None
        report = DataReport.from_dict(json.loads((folder / "report.json").read_text()))
    except Exception as exc:  # noqa: BLE001 - a damaged entry is rebuilt
        log.warning("data: cache entry %s unreadable (%s); rebuilding it", folder, exc)
        return None
    return train, val, report


def save_cached(folder: Path, train: Any, val: Any, report: DataReport, meta: dict[str, Any]) -> None:
    """Written under a temporary name and renamed, so a killed run never leaves a half entry."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        with progress_bars(len(train)):
            train.save_to_disk(str(tmp / "train"))
            if val is not None:
                val.save_to_disk(str(tmp / "validation"))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        (tmp / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same entry first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning("data: could not write the cache entry %s (%s)", folder, exc)


def prepare_cached(cfg: Any, loaded: LoadedSources, key: str | None,
                   encode: Callable[[], tuple[Any, Any, DataReport]], meta: dict[str, Any] | None = None
                   ) -> PreparedData:
    """(train, validation) from the cache entry ``key`` when there is one; else ``encode()`` them in a private work
    folder (its map caches), save the entry and serve the saved files (memory-mapped, independent of the work
    files, which are then removed — as they are when encoding fails). The SFT and preference paths share this."""
    fingerprints = loaded.fingerprints()
    folder = cache_root(cfg) / key if key else None
    if folder is not None:
        fingerprints["data"] = key  # type: ignore[assignment]
        cached = load_cached(folder)
        if cached is not None:
            train, val, report = cached
            log.info("data: using the tokenized cache %s (delete it to re-tokenize)", folder)
            report.log()
            return PreparedData(train, val, report, fingerprints, cache_hit=True, cache_dir=str(folder))
    work = None
    if folder is not None:
        work = folder.with_name(f"{folder.name}.work-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        work.mkdir(parents=True, exist_ok=True)
    try:
        with work_dir(work):
            train, val, report = encode()
            if folder is not None:
                save_cached(folder, train, val, report, {"key": key, "sources": fingerprints, **(meta or {})})
                cached = load_cached(folder)
                if cached is not None:  # served from the cache files: the work files can go
                    train, val, _ = cached
                    shutil.rmtree(work, ignore_errors=True)  # type: ignore[arg-type]
    except BaseException:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    return PreparedData(train, val, report, fingerprints, cache_dir=str(folder) if folder else None)
