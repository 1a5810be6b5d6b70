"""The rows of one DatasetSpec: :func:`load_spec` is what the built-in ``load_dataset`` hook (trylast) does.

Local files and folders are read by :mod:`ftcore.data.loading`. Hub datasets are looked up in the local caches
first (the Hugging Face hub cache, then ModelScope's) and downloaded only when absent; with ``FTCORE_OFFLINE`` /
``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` set, a dataset missing from the caches is a one-line error instead of a
download attempt.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import Any

from ftcore.data.loading import (
    OFFLINE_VARS,
    _concat,
    _data_files_in,
    _datasets,
    _load_parts,
    _pick_split,
    _short,
    _validation_of,
    is_offline,
    load_folder,
    load_local,
    parse_split,
    sample_rows,
)
from ftcore.errors import FtcoreError, MissingDependencyError
from ftcore.specs import DatasetOptions, DatasetSpec

log = logging.getLogger("ftcore.data")


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
