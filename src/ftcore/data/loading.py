"""Raw rows of one DatasetSpec: local files and folders, bundled files, Hugging Face and ModelScope datasets.

:func:`load_spec` is what the built-in ``load_dataset`` hook (trylast) does. Hub datasets are looked up in the
local caches first (the Hugging Face hub cache, then ModelScope's) and downloaded only when absent; with
``FTCORE_OFFLINE`` / ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` set, a dataset missing from the caches is a
one-line error instead of a download attempt.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ftcore.data.textfiles import TEXT_SUFFIXES, check_text_file
from ftcore.errors import FtcoreError, MissingDependencyError
from ftcore.specs import DatasetOptions, DatasetSpec

log = logging.getLogger("ftcore.data")

#: file suffix -> datasets builder
BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".arrow": "arrow"}
BUNDLED_DIR = Path(__file__).parent / "bundled"
BUILTIN_PREFIX = "builtin:"
OFFLINE_VARS = ("FTCORE_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
#: split names taken as a folder's / repo's validation split (in this order) when present
VALIDATION_SPLITS = ("validation", "valid", "val", "dev")

#: the column holding raw JSON text when a json file cannot be read column-wise (mixed types per column)
JSON_COLUMN = "_json"
#: each raw row's 1-based number in its source (added before any split or sample, for the report)
ROW_COLUMN = "_ftcore_row"


# --------------------------------------------------------------------------------------------------
# helpers


def is_offline() -> bool:
    """Downloads are off (any of :data:`OFFLINE_VARS` set to a true value)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


def resolve_local_path(path: str) -> Path:
    """``builtin:<file>`` → the bundled file; ``~`` expanded. The path must exist."""
    if path.startswith(BUILTIN_PREFIX):
        p = BUNDLED_DIR / path[len(BUILTIN_PREFIX):]
        if not p.exists():
            known = ", ".join(sorted(f.name for f in BUNDLED_DIR.glob("*"))) if BUNDLED_DIR.is_dir() else "none"
            raise FtcoreError(f"data: {path}: no such bundled file (bundled: {known})")
        return p
    p = Path(os.path.expanduser(path))
    try:
        if not p.exists():
            raise FtcoreError(f"data: {path}: file not found")
    except (OSError, ValueError) as exc:  # a name too long …
        raise FtcoreError(f"data: {path[:200]}: cannot be looked up ({getattr(exc, 'strerror', None) or exc})") from None
    return p


def parse_split(entry: str) -> tuple[str | None, str]:  # "subset:split" → (subset, split); "split" → (None, split)
    if ":" in entry:
        subset, split = entry.split(":", 1)
        return (subset or None), (split or "train")
    return None, entry


def _datasets() -> Any:
    import datasets
    return datasets


def _concat(parts: list[Any]) -> Any:
    parts = [p for p in parts if p is not None]
    if len(parts) <= 1:
        return parts[0] if parts else None
    return _datasets().concatenate_datasets(parts)


def _pick_split(dd: Any, split: str, where: str) -> Any:
    """One split of a DatasetDict; a lone split stands in for ``train``."""
    if not hasattr(dd, "keys"):
        return dd
    if split in dd:
        return dd[split]
    if split in VALIDATION_SPLITS:  # "val" ↔ "validation" (the datasets library's name for val.jsonl) ...
        for alias in VALIDATION_SPLITS:
            if alias in dd:
                return dd[alias]
    if split == "train" and len(dd) == 1:
        return next(iter(dd.values()))
    raise FtcoreError(f"data: {where}: no split {split!r} (it has: {', '.join(dd)})")


def _validation_of(dd: Any) -> Any:
    if not hasattr(dd, "keys"):
        return None
    for name in VALIDATION_SPLITS:
        if name in dd:
            return dd[name]
    return None


def with_row_numbers(ds: Any) -> Any:
    """``ds`` with :data:`ROW_COLUMN` (1-based, source order) unless it has one; streams are numbered as read."""
    if ds is None or not hasattr(ds, "__len__") or ROW_COLUMN in (ds.column_names or ()):
        return ds
    fp = getattr(ds, "_fingerprint", None)
    return ds.add_column(ROW_COLUMN, list(range(1, len(ds) + 1)), **({"new_fingerprint": f"{fp}-rows"} if fp else {}))


def sample_rows(ds: Any, n: int | None, seed: int, *, number: bool = True) -> Any:
    """At most ``n`` rows: a seeded random subset kept in source order (raw rows numbered first, see
    :func:`with_row_numbers`; ``number=False`` for normalized rows); a streamed set takes its first ``n``."""
    if ds is None or n is None or n < 0:
        return ds
    if not hasattr(ds, "__len__"):
        return ds.take(n)
    if len(ds) <= n:
        return ds
    return (with_row_numbers(ds) if number else ds).select(sorted(random.Random(seed).sample(range(len(ds)), n)))


# --------------------------------------------------------------------------------------------------
# local files and folders


def _read_json_rows(path: Path, label: Path | None = None) -> Iterable[dict[str, Any]]:
    """Rows of a json / jsonl file as raw JSON text with their line (item) numbers (used when the columns do not
    have one type each)."""
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if path.suffix == ".json" and stripped.startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FtcoreError(f"data: {label or path}: not valid JSON ({exc}); fix the file") from None
        for i, item in enumerate(data, 1):
            yield {JSON_COLUMN: json.dumps(item, ensure_ascii=False), ROW_COLUMN: i}
        return
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield {JSON_COLUMN: line, ROW_COLUMN: i}


def load_file(path: Path, *, streaming: bool = False, encoding: str | None = None) -> Any:
    """One local data file as a ``datasets.Dataset`` (``IterableDataset`` when streaming). Text files are read
    as UTF-8 (a BOM and CRLF line ends are fine) or in ``encoding``; see :func:`check_text_file`."""
    datasets = _datasets()
    builder = BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise FtcoreError(
            f"data: {path}: unsupported file type {path.suffix or '(none)'} (use {', '.join(sorted(BUILDERS))})"
        )
    source = path
    if path.suffix.lower() in TEXT_SUFFIXES:
        path = check_text_file(path, encoding)
    kwargs: dict[str, Any] = {}
    if path.suffix.lower() == ".tsv":
        kwargs["sep"] = "\t"
    try:
        return datasets.load_dataset(builder, data_files={"train": str(path)}, split="train",
                                     streaming=streaming, **kwargs)
    except Exception as exc:  # noqa: BLE001 - mixed column types, a broken line ...
        if builder != "json":
            raise FtcoreError(f"data: {source}: cannot be read as {builder} ({_short(exc)}); fix the file") from None
        log.info("data: %s: reading row by row (%s)", source, _short(exc))
    rows = list(_read_json_rows(path, source))
    if streaming:
        return datasets.Dataset.from_list(rows).to_iterable_dataset()
    return datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({JSON_COLUMN: []})


def _data_files_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in BUILDERS and not any(part.startswith(".") for part in
                                                                     p.relative_to(folder).parts)
    )


def load_folder(folder: Path, *, subset: str | None = None, data_files: list[str] | None = None,
                streaming: bool = False, encoding: str | None = None) -> Any:
    """A folder (a local dataset or a hub snapshot) as a DatasetDict, through the datasets library's own
    layout rules (``README.md`` configs, ``train`` / ``validation`` file names, ``data/`` folders)."""
    datasets = _datasets()
    kwargs: dict[str, Any] = {}
    if data_files:
        kwargs["data_files"] = {"train": [str(folder / f) for f in data_files]}
    elif subset and subset != "default":
        if (folder / subset).is_dir():
            kwargs["data_dir"] = subset
        else:
            kwargs["name"] = subset
    elif not (folder / "README.md").exists():
        files = _data_files_in(folder)
        if not files:
            raise FtcoreError(f"data: {folder}: no data files (jsonl, json, csv, tsv, parquet) in the folder")
        if len(files) == 1:
            return {"train": load_file(files[0], streaming=streaming, encoding=encoding)}
    if encoding:
        kwargs["encoding"] = encoding
    for file in (f for f in _data_files_in(folder) if f.suffix.lower() in TEXT_SUFFIXES):
        check_text_file(file, encoding)  # one line naming the file and line, not a decode error mid-map
    try:
        return datasets.load_dataset(str(folder), streaming=streaming, **kwargs)
    except FileNotFoundError as exc:
        raise FtcoreError(f"data: {folder}: {_short(exc)}") from None
    except ValueError as exc:
        raise FtcoreError(f"data: {folder}: {_short(exc)}") from None


def _load_parts(loader: Any, entries: list[str], where: str) -> Any:
    """Concatenate ``loader(subset)`` picked at each entry's split."""
    parts = []
    for entry in entries:
        subset, split = parse_split(entry)
        parts.append(_pick_split(loader(subset), split, f"{where} {entry}"))
    return _concat(parts)


def load_local(spec: DatasetSpec, options: DatasetOptions) -> Any:
    """``spec.path`` (a file, a folder or ``builtin:<file>``) → a dataset, or (train, validation)."""
    assert spec.path is not None
    path = resolve_local_path(spec.path)
    if path.is_file():
        return load_file(path, streaming=options.streaming, encoding=options.encoding)
    cache: dict[Any, Any] = {}

    def loader(subset: str | None) -> Any:
        if subset not in cache:
            cache[subset] = load_folder(path, subset=subset, data_files=spec.data_files or None,
                                        streaming=options.streaming, encoding=options.encoding)
        return cache[subset]

    train = _load_parts(loader, spec.train or ["train"], spec.path)
    if spec.validation:
        return train, _load_parts(loader, spec.validation, spec.path)
    return train, _validation_of(loader(parse_split((spec.train or ["train"])[0])[0]))


# --------------------------------------------------------------------------------------------------
# hub caches


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def ms_cache_root() -> Path:
    return Path(os.environ.get("MODELSCOPE_CACHE") or "~/.cache/modelscope").expanduser()


def hf_cached(repo: str, revision: str | None, cache_dir: str | None = None) -> Path | None:
    """The snapshot folder of a dataset repo in the HF hub cache (``datasets--owner--name/snapshots/<rev>``)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, repo_type="dataset", revision=revision,
                                      cache_dir=cache_dir or str(hf_cache_dir()), local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (LocalEntryNotFoundError and friends)
        return None


def ms_cached(repo: str, revision: str | None, cache_dir: str | None = None) -> Path | None:
    """A dataset repo in the ModelScope cache, in any of the layouts its clients have used:
    ``datasets/<owner>/<name>`` (dots as ``___``), ``datasets/<owner>--<name>/snapshots/<rev>``,
    ``hub/datasets/<owner>/<name>`` and the flat ``<owner>/<name>``."""
    if "/" not in repo:
        return None
    owner, name = repo.split("/", 1)
    safe = name.replace(".", "___")
    root = Path(cache_dir).expanduser() if cache_dir else ms_cache_root()
    candidates = []
    snaps = root / "datasets" / f"{owner}--{name}" / "snapshots"
    if snaps.is_dir():
        if revision and (snaps / revision).is_dir():
            candidates.append(snaps / revision)
        candidates += sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime,
                             reverse=True)
    for base in (root / "datasets", root / "hub" / "datasets", root, root / "hub"):
        for n in dict.fromkeys((safe, name)):
            folder = base / owner / n
            if revision and (folder / revision).is_dir():
                candidates.append(folder / revision)
            candidates.append(folder)
    for folder in candidates:
        if folder.is_dir() and _data_files_in(folder):
            return folder
    return None


# --------------------------------------------------------------------------------------------------
# hubs


def _hub_order(spec: DatasetSpec, preference: str) -> list[str]:
    hubs = list(spec.hub)
    if preference in hubs:
        hubs.remove(preference)
        hubs.insert(0, preference)
    elif preference == "auto" and "huggingface" in hubs:  # the datasets library is always installed
        hubs.remove("huggingface")
        hubs.insert(0, "huggingface")
    return hubs


def _load_from_folder(spec: DatasetSpec, folder: Path, streaming: bool) -> tuple[Any, Any]:
    cache: dict[Any, Any] = {}

    def loader(subset: str | None) -> Any:
        if subset not in cache:
            cache[subset] = load_folder(folder, subset=subset, data_files=spec.data_files or None,
                                        streaming=streaming)
        return cache[subset]

    train = _load_parts(loader, spec.train or ["train"], spec.name)
    val = _load_parts(loader, spec.validation, spec.name) if spec.validation else None
    return train, val


def _download_hf(spec: DatasetSpec, repo: str, streaming: bool, cache_dir: str | None) -> tuple[Any, Any]:
    datasets = _datasets()
    cache: dict[Any, Any] = {}

    def loader(subset: str | None) -> Any:
        if subset not in cache:
            cache[subset] = datasets.load_dataset(
                repo,
                name=None if subset in (None, "default") else subset,
                revision=spec.revision,
                data_files=spec.data_files or None,
                streaming=streaming,
                cache_dir=cache_dir,
            )
        return cache[subset]

    train = _load_parts(loader, spec.train or ["train"], spec.name)
    val = _load_parts(loader, spec.validation, spec.name) if spec.validation else None
    return train, val


def _download_ms(spec: DatasetSpec, repo: str, streaming: bool, cache_dir: str | None) -> tuple[Any, Any]:
    try:
        from modelscope.msdatasets import MsDataset
    except ImportError:
        raise MissingDependencyError(f"dataset {spec.name!r} from ModelScope", "'ftcore[modelscope]'") from None
    if spec.data_files:
        from modelscope.hub.snapshot_download import dataset_snapshot_download

        folder = dataset_snapshot_download(repo, revision=spec.revision, allow_patterns=spec.data_files,
                                           cache_dir=cache_dir)
        return _load_from_folder(spec, Path(folder), streaming)

    def load(entry: str) -> Any:
        subset, split = parse_split(entry)
        ds = MsDataset.load(repo, subset_name=subset or "default", split=split,
                            version=spec.revision or "master", use_streaming=streaming, cache_dir=cache_dir)
        to_hf = getattr(ds, "to_hf_dataset", None)
        return to_hf() if callable(to_hf) else ds

    train = _concat([load(e) for e in spec.train or ["train"]])
    val = _concat([load(e) for e in spec.validation]) if spec.validation else None
    return train, val


def load_hub(spec: DatasetSpec, options: DatasetOptions) -> tuple[Any, Any]:
    """Cache first (every hub of the spec), then a download (in hub preference order)."""
    hubs = _hub_order(spec, options.hub)
    looked = []
    unusable = []
    for hub in hubs:
        repo = spec.hub[hub]
        if hub == "huggingface":
            folder = hf_cached(repo, spec.revision, options.cache_dir)
            looked.append(str(hf_cache_dir()))
        else:
            folder = ms_cached(repo, spec.revision, options.cache_dir)
            looked.append(str(ms_cache_root()))
        if folder is not None:
            try:
                out = _load_from_folder(spec, folder, options.streaming)
            except FtcoreError as exc:  # e.g. a partial snapshot without the wanted subset
                log.info("data: %s: cached copy at %s not usable (%s)", spec.name, folder, exc)
                unusable.append(f"{folder}: {exc}")
                continue
            log.info("data: %s: using the cached copy at %s", spec.name, folder)
            return out
    if is_offline():
        set_vars = ", ".join(v for v in OFFLINE_VARS if os.environ.get(v))
        if unusable:
            raise FtcoreError(
                f"dataset {spec.name!r}: the cached copy does not fit its spec ({'; '.join(unusable)}) and "
                f"downloads are off ({set_vars}); fix the spec's train/validation splits or the cached files"
            )
        raise FtcoreError(
            f"dataset {spec.name!r} ({', '.join(spec.hub.values())}) is not in the local cache "
            f"(looked in {', '.join(dict.fromkeys(looked))}) and downloads are off ({set_vars}); "
            "download it once online or unset that variable"
        )
    failures = []
    for hub in hubs:
        repo = spec.hub[hub]
        try:
            if hub == "huggingface":
                return _download_hf(spec, repo, options.streaming, options.cache_dir)
            return _download_ms(spec, repo, options.streaming, options.cache_dir)
        except MissingDependencyError as exc:
            failures.append(str(exc))
        except FtcoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - network / hub errors become one line
            failures.append(f"{hub} {repo}: {_short(exc)}")
    raise FtcoreError(f"dataset {spec.name!r}: cannot be downloaded and is not cached ({'; '.join(failures)})")


def _call_get(spec: DatasetSpec, options: DatasetOptions) -> Any:
    """The spec's own get-function: ``get(spec, options, **get_kwargs)`` (or ``get(**get_kwargs)``)."""
    assert spec.get is not None
    try:
        params = inspect.signature(spec.get).parameters
    except (TypeError, ValueError):
        params = None
    positional = [p for p in (params or {}).values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in spec.get_kwargs]
    if params is not None and not positional:
        out = spec.get(**spec.get_kwargs)
    else:
        out = spec.get(spec, options, **spec.get_kwargs)
    return out


def _as_dataset(value: Any, streaming: bool) -> Any:
    if value is None:
        return None
    datasets = _datasets()
    if isinstance(value, list):
        value = datasets.Dataset.from_list(value)
    if streaming and isinstance(value, datasets.Dataset):
        value = value.to_iterable_dataset()
    return value


def load_spec(spec: DatasetSpec, options: DatasetOptions) -> Any:
    """Raw rows of ``spec``: a dataset, or a ``(train, validation)`` pair (validation may be None).

    Order: the spec's ``get`` function, a local ``path``, then its hub ids. ``options.sample`` limits the
    training rows (a seeded subset; the first rows of a stream).
    """
    if spec.get is not None:
        out = _call_get(spec, options)
    elif spec.path is not None:
        out = load_local(spec, options)
    elif spec.hub:
        out = load_hub(spec, options)
    else:
        raise FtcoreError(f"dataset {spec.name!r}: no get function, local path or hub id to load it from")
    if hasattr(out, "keys") and not isinstance(out, dict):  # a DatasetDict
        out = (_pick_split(out, "train", spec.name), _validation_of(out))
    if isinstance(out, dict):
        out = (_pick_split(out, "train", spec.name), _validation_of(out))
    if isinstance(out, tuple):
        if len(out) != 2:
            raise FtcoreError(f"dataset {spec.name!r}: get returned {len(out)} items, expected (train, validation)")
        train, val = (_as_dataset(x, options.streaming) for x in out)
        return sample_rows(train, options.sample, options.seed), val
    return sample_rows(_as_dataset(out, options.streaming), options.sample, options.seed)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"[:300]
