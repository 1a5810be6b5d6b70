"""Model resolution and loading: which spec, which local folder (local / Hugging Face / ModelScope, cache first),
which dtype, and the :class:`~ftcore.models.loading.ModelLoader` that loads it.

    spec, model_dir = resolve_model(cfg)
    model, tokenizer = load(cfg, spec, model_dir)

``get_model_tokenizer`` is the one-call public form (ms-swift's function of the same name). This package sits
below training and inference: it imports neither (device placement lives in :mod:`ftcore.models.devices`), and
it loads no local plugin files: the caller loads the run's ``plugins`` first (``load_run_plugins``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftcore.errors import FtcoreError
from ftcore.models.devices import accelerator, process_devices
from ftcore.models.loading import ModelLoader
from ftcore.specs import ModelOptions, ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig
    from ftcore.registry import Catalog

__all__ = [
    "ModelLoader",
    "generic_note",
    "generic_spec",
    "get_model_tokenizer",
    "load",
    "load_run_plugins",
    "load_with",
    "model_options",
    "cpu_has_fast_bf16",
    "resolve_dtype",
    "resolve_model",
    "spec_slug",
]


#: a multimodal model's processor files (image / video preprocessing), saved with the tokenizer in checkpoints and
#: merged models so that a full-weights checkpoint is complete on its own
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json")


def copy_processor_files(model_dir: str | Path | None, dest: str | Path) -> list[str]:
    """Copy the processor files of ``model_dir`` that ``dest`` lacks; returns the names copied."""
    import shutil

    if not model_dir or not Path(model_dir).is_dir():
        return []
    copied = []
    for name in PROCESSOR_FILES:
        src, dst = Path(model_dir, name), Path(dest, name)
        if src.is_file() and not dst.exists():
            shutil.copy2(src, dst)
            copied.append(name)
    return copied


def spec_slug(text: str) -> str:
    """A catalog-style name for an ad-hoc model: ``Qwen/Qwen2.5-0.5B`` → ``qwen2.5-0.5b``."""
    last = text.rstrip("/\\").replace("\\", "/").split("/")[-1].lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", last).strip("-._")
    return slug or "model"


#: the tag of a spec made up for a ``model.path`` / ``model.repo`` that no catalog entry covers
GENERIC_TAG = "generic"


def generic_spec(name: str, **fields: Any) -> ModelSpec:
    """The spec of a model no plugin covers: template = its tokenizer's chat_template (``jinja``; ``default``
    without one), LoRA targets from its architecture (peft's mapping, else every Linear but the head)."""
    return ModelSpec(name=name, tags=[GENERIC_TAG], **fields)


def generic_note(spec: ModelSpec) -> str | None:
    """The one-line note a run prints for a model no plugin covers (None for catalog models)."""
    if GENERIC_TAG not in spec.tags or spec.plugin:
        return None
    return (f"model {spec.name}: no plugin covers it; template = its own chat_template (jinja), "
            "LoRA targets = peft's for its architecture, else every Linear layer but the head")


def catalog_spec_for_repo(repo: str, catalog: Catalog | None = None) -> ModelSpec | None:
    """The catalog entry whose hub id (any hub) is ``repo``, case-insensitively; None when there is none."""
    if catalog is None:
        from ftcore.registry import get_catalog

        catalog = get_catalog()
    low = repo.lower()
    for spec in catalog.models:
        if any(v.lower() == low for v in spec.hub.values()):
            return spec
    return None


def load_run_plugins(cfg: RunConfig) -> None:
    """Load the plugin files a run names (``plugins = [...]`` in run.toml) before its model is resolved."""
    if cfg.plugins:
        from ftcore.plugins import load_local_plugins

        load_local_plugins(cfg.plugins, cfg.base_dir)


def resolve_model(cfg: RunConfig, catalog: Catalog | None = None) -> tuple[ModelSpec, str]:
    """The model's spec and the local folder holding its files (downloaded if needed, every hub's cache first).

    ``model.name`` is a catalog entry; ``model.path`` a local folder; ``model.repo`` a hub id (a catalog entry
    with that id lends its template and LoRA targets; an existing local folder given as ``repo`` is used as is).
    ``catalog`` defaults to the current one; the run's local plugin files must already be loaded
    (:func:`load_run_plugins`).
    """
    from ftcore.models.hub import materialize_builtin, snapshot

    if catalog is None:
        from ftcore.registry import get_catalog

        catalog = get_catalog()
    m = cfg.model
    revision = m.revision
    if m.name:
        spec = catalog.models.get(m.name)
        if m.path:  # that model's files already on disk (ms-swift's model_cache_dir)
            folder = Path(cfg.resolve_path(m.path))
            if not folder.is_dir():
                raise FtcoreError(f"{cfg.source}: model.path: folder {m.path} not found")
            return spec, str(folder)
    elif m.path:
        folder = Path(cfg.resolve_path(m.path))
        if not folder.is_dir():
            raise FtcoreError(f"{cfg.source}: model.path: folder {m.path} not found")
        return generic_spec(spec_slug(str(folder)), path=str(folder)), str(folder)
    elif m.repo:
        local = Path(cfg.resolve_path(m.repo))
        if local.is_dir() and (local / "config.json").is_file():
            return generic_spec(spec_slug(str(local)), path=str(local)), str(local)
        known = catalog_spec_for_repo(m.repo, catalog)
        if known is not None:
            spec = known
        else:
            hubs = ("huggingface", "modelscope") if m.hub == "auto" else (m.hub,)
            spec = generic_spec(spec_slug(m.repo), hub={h: m.repo for h in hubs})
    else:
        raise FtcoreError(f"{cfg.source}: model: give name, path or repo")

    if spec.path:
        if spec.path.startswith("builtin:"):
            return spec, materialize_builtin(spec.path.split(":", 1)[1])
        folder = Path(spec.path).expanduser()
        if folder.is_dir():
            return spec, str(folder)
        if not spec.hub and spec.build is None:
            raise FtcoreError(f"model {spec.name!r}: folder {spec.path} not found")
    if spec.build is not None:
        from ftcore.models.hub import build_model_folder

        return spec, build_model_folder(spec)
    model_dir = snapshot(
        spec.hub,
        hub=m.hub,
        revision=revision or spec.revision,
        cache_dir=cfg.resolve_path(m.cache_dir) if m.cache_dir else None,
        ignore_patterns=spec.ignore_patterns,
        what=f"model {spec.name!r}:",
    )
    return spec, model_dir


#: ``model.dtype = "auto"`` picks bf16 on a CPU with bf16 matmul instructions (:func:`cpu_has_fast_bf16`) only when
#: this is on. Off until bench/cpu_bf16.py, run on a quiet machine, shows bf16 faster than fp32 with a matching
#: quick-start loss curve (docs/performance.md, "bf16 on the CPU").
AUTO_BF16_ON_CPU = False

#: /proc/cpuinfo flags of CPUs that compute bf16 dot products natively (AVX512-BF16, AMX)
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_fast_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU reports native bf16 matmul instructions (``avx512_bf16`` or ``amx_bf16``)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                cpuinfo = fh.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return any(f in flags for f in CPU_BF16_FLAGS)
    return False


def resolve_dtype(dtype: str, spec: ModelSpec | None = None) -> str:
    """``auto`` → the spec's dtype where the hardware has it, else bf16 where supported, fp16 on older GPUs,
    fp32 on CPU (bf16 on a CPU with native bf16 once :data:`AUTO_BF16_ON_CPU` is on); an explicit ``bf16`` /
    ``fp16`` / ``fp32`` is kept."""
    if dtype != "auto":
        return dtype
    device = accelerator()
    if device == "cpu":
        return "bf16" if AUTO_BF16_ON_CPU and cpu_has_fast_bf16() else "fp32"
    if device == "mps":
        return "fp16"
    import torch

    bf16_ok = torch.cuda.is_bf16_supported()
    if spec is not None and spec.dtype and (spec.dtype != "bf16" or bf16_ok):
        return spec.dtype
    return "bf16" if bf16_ok else "fp16"


def model_options(cfg: RunConfig, spec: ModelSpec, model_dir: str, *, load_model: bool = True,
                  dtype: str | None = None) -> ModelOptions:
    """The ``ModelOptions`` the ``load_model`` hook receives for this run."""
    m = cfg.model
    q = m.quantization
    # only the user's consent runs a model folder's Python code: a spec that requires remote code does not grant it
    # (ModelLoader.check refuses such a spec without it, naming the folder)
    trust = bool(m.trust_remote_code)
    device_map, max_memory = process_devices(m.device_map, m.max_memory)
    return ModelOptions(
        model_dir=model_dir,
        dtype=dtype or resolve_dtype(m.dtype, spec),
        attn=None if m.attn == "auto" else m.attn,
        trust_remote_code=bool(trust),
        load_model=load_model,
        device_map=device_map,
        max_memory=max_memory,
        quantization=q.model_dump() if q.bits else None,
        revision=m.revision or spec.revision,
    )


def load_with(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for ``spec``: its own ``loader`` when it names one, else the ``load_model`` hook
    (a family plugin first, the generic :class:`ModelLoader` last)."""
    if spec.loader is not None:
        try:
            if isinstance(spec.loader, str) or isinstance(spec.loader, type):
                from ftcore.models.loading import loader_class

                return loader_class(spec.loader)(spec, options).load()
            return spec.loader(spec, options)  # a plain function (ms-swift's get_function)
        except FtcoreError:
            raise
        except Exception as exc:
            if not spec.plugin or spec.plugin.startswith("ftcore "):
                raise
            from ftcore.errors import PluginHookError

            # the plugin's loader failed: one line naming it (FTCORE_DEBUG=1 shows the loader's traceback)
            raise PluginHookError(spec.plugin, "load_model", exc) from exc
    from ftcore.plugins import get_plugin_manager

    result = get_plugin_manager().hook.load_model(spec=spec, options=options)
    if result is None:
        raise FtcoreError(f"model {spec.name!r}: no plugin could load it")
    return result


def load(cfg: RunConfig, spec: ModelSpec, model_dir: str, *, load_model: bool = True,
         dtype: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a run's model (see :func:`load_with`); options from :func:`model_options`."""
    return load_with(spec, model_options(cfg, spec, model_dir, load_model=load_model, dtype=dtype))


def get_model_tokenizer(
    name_or_path: str,
    *,
    dtype: str = "auto",
    load_model: bool = True,
    **kw: Any,
) -> tuple[Any, Any]:
    """Load a model and its tokenizer by catalog name, local folder or hub id (``load_model=False``: tokenizer only).

    Extra keywords are ``[model]`` keys of run.toml (``attn``, ``revision``, ``hub``, ``cache_dir``,
    ``trust_remote_code``, ``device_map``, ``quantization`` …).

    >>> model, tokenizer = get_model_tokenizer("ftcore-tiny-qwen2")  # doctest: +SKIP
    """
    from ftcore.config import config_from_dict
    from ftcore.registry import get_catalog

    if name_or_path in get_catalog().models:
        source: dict[str, Any] = {"name": name_or_path}
    elif Path(name_or_path).expanduser().is_dir():
        source = {"path": str(Path(name_or_path).expanduser().resolve())}
    else:
        source = {"repo": name_or_path}
    cfg = config_from_dict({"model": {**source, "dtype": dtype, **kw}}, source="get_model_tokenizer")
    load_run_plugins(cfg)
    spec, model_dir = resolve_model(cfg)
    return load(cfg, spec, model_dir, load_model=load_model)

