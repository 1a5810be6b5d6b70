"""Where a model's files live: a local folder, the Hugging Face or ModelScope cache, or a download (cache first).

Every hub lookup first asks the hub library for its *cached* snapshot (``local_files_only=True``), for every hub
the model is on, before anything touches the network: a cached model loads offline and instantly, and ModelScope
(which retries for ~20 s when offline) is only asked to download when nothing is cached anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError, MissingDependencyError

#: the hubs in the order ``hub = "auto"`` tries them (caches of both first, then downloads in this order)
AUTO_ORDER = ("huggingface", "modelscope")


def ftcore_cache_dir() -> Path:
    """ftcore's own cache folder: ``$FTCORE_CACHE``, else ``$XDG_CACHE_HOME/ftcore``, else ``~/.cache/ftcore``."""
    env = os.environ.get("FTCORE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ftcore"


def _offline(hub: str) -> bool:
    names = ["FTCORE_OFFLINE"] + (["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"] if hub == "huggingface" else [])
    return any(os.environ.get(n, "").strip().lower() in ("1", "true", "yes", "on") for n in names)


def _hf_snapshot(repo_id: str, *, revision: str | None, cache_dir: str | None, ignore: list[str],
                 local_files_only: bool) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(
        repo_id,
        revision=revision,
        cache_dir=cache_dir,
        ignore_patterns=ignore or None,
        local_files_only=local_files_only,
    )


def _ms_snapshot(repo_id: str, *, revision: str | None, cache_dir: str | None, ignore: list[str],
                 local_files_only: bool) -> str:
    try:
        from modelscope import snapshot_download
    except ImportError:
        raise MissingDependencyError(f"downloading {repo_id} from ModelScope", "'ftcore[modelscope]'") from None
    kwargs = {"revision": revision} if revision else {}
    return snapshot_download(
        repo_id,
        cache_dir=cache_dir,
        ignore_file_pattern=ignore or None,
        local_files_only=local_files_only,
        **kwargs,
    )


_SNAPSHOT = {"huggingface": _hf_snapshot, "modelscope": _ms_snapshot}


def _modelscope_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("modelscope") is not None


def _revision_for(hub: str, revision: str | None) -> str | None:
    # ms-swift's registry used ModelScope's "master"; on Hugging Face the default branch is "main".
    if hub == "huggingface" and revision == "master":
        return None
    return revision


def snapshot(
    ids: dict[str, str],
    *,
    hub: str = "auto",
    revision: str | None = None,
    cache_dir: str | None = None,
    ignore_patterns: list[str] | None = None,
    what: str = "model",
) -> str:
    """The local folder of a hub repo: the cached snapshot if any hub has one, else a download.

    :param ids: repo id per hub, e.g. ``{"huggingface": "Qwen/Qwen2.5-0.5B", "modelscope": "qwen/Qwen2.5-0.5B"}``.
    :param hub: ``auto`` (every hub in ``ids``), ``huggingface`` or ``modelscope``.
    :raises FtcoreError: one line, when nothing is cached and no download succeeded (e.g. offline).
    """
    ignore = list(ignore_patterns or [])
    order = [h for h in AUTO_ORDER if h in ids] if hub == "auto" else [hub]
    order = [h for h in order if h in ids]
    if not order:
        raise FtcoreError(f"{what}: no {hub} id known (give model.repo or register one in the spec's hub ids)")
    cache = os.path.expanduser(cache_dir) if cache_dir else None

    # 1. cache first, every hub
    for h in order:
        if h == "modelscope" and not _modelscope_installed():
            continue
        try:
            return _SNAPSHOT[h](ids[h], revision=_revision_for(h, revision), cache_dir=cache, ignore=ignore,
                                local_files_only=True)
        except MissingDependencyError:
            continue
        except Exception:  # noqa: BLE001 - "not cached" has a different class in every hub library
            continue

    # 2. downloads, in order
    failures: list[str] = []
    for h in order:
        if _offline(h):
            failures.append(f"{h}: offline mode is on")
            continue
        if h == "modelscope" and not _modelscope_installed():
            failures.append("modelscope: not installed (pip install 'ftcore[modelscope]')")
            continue
        try:
            return _SNAPSHOT[h](ids[h], revision=_revision_for(h, revision), cache_dir=cache, ignore=ignore,
                                local_files_only=False)
        except MissingDependencyError as exc:
            failures.append(f"{h}: {exc}")
        except Exception as exc:  # noqa: BLE001
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            failures.append(f"{h}: {type(exc).__name__}: {first[:160]}")
    listed = ", ".join(f"{h}:{ids[h]}" for h in order)
    rev = f" (revision {revision})" if revision else ""
    raise FtcoreError(
        f"{what} {listed}{rev} is not in the local cache and could not be downloaded ({'; '.join(failures)}); "
        f"connect to the network once, or set model.path to a local folder"
    )


def materialize_builtin(name: str) -> str:
    """The folder of an embedded model (``builtin:<name>``), built into the ftcore cache on first use."""
    if name == "tiny-qwen2":
        from ftcore.models.tiny import build_tiny_qwen2

        return build_tiny_qwen2(ftcore_cache_dir() / "models" / "tiny-qwen2")
    raise FtcoreError(f"unknown embedded model builtin:{name} (known: builtin:tiny-qwen2)")


#: written into a folder a ``ModelSpec.build`` finished; holds the folder the builder returned
BUILT_MARKER = ".ftcore-built"


def build_model_folder(spec: Any) -> str:
    """The folder ``spec.build`` writes, built on first use into ``$FTCORE_CACHE/models/<name>`` and reused.

    A build that fails leaves nothing behind (the next run builds again); its exception becomes one line naming
    the plugin.
    """
    import shutil

    out = ftcore_cache_dir() / "models" / spec.name
    marker = out / BUILT_MARKER
    if marker.is_file():
        folder = marker.read_text(encoding="utf-8").strip() or str(out)
        if Path(folder).is_dir():
            return folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    try:
        result = spec.build(out)
    except FtcoreError:
        shutil.rmtree(out, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(out, ignore_errors=True)
        from ftcore.errors import PluginHookError

        raise PluginHookError(spec.plugin or f"model {spec.name!r}", "ModelSpec.build", exc) from exc
    folder = os.fspath(result) if result is not None else str(out)
    if not Path(folder).is_dir():
        shutil.rmtree(out, ignore_errors=True)
        raise FtcoreError(f"model {spec.name!r}: build returned {folder}, which is not a folder")
    marker.write_text(folder, encoding="utf-8")
    return folder
