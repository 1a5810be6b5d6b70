"""Finding and loading a trained checkpoint: ``latest:`` / ``best:`` resolution and ``load_checkpoint``.

A checkpoint folder (written by ``ftcore train``) holds the LoRA adapter (``adapter_config.json`` +
``adapter_model.safetensors``) or the full weights (``config.json`` + ``*.safetensors``), the tokenizer, and
``ftcore_run.toml``: the resolved run config, from which the same base model and the same template are rebuilt.

Path resolution imports nothing heavy; ``load_checkpoint`` imports torch / transformers / peft when called.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftcore.errors import FtcoreError

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig

#: the resolved run config a checkpoint carries; ``run.toml`` in the run folder is the fallback
RUN_FILE = "ftcore_run.toml"
RUN_DIR_FILE = "run.toml"
ADAPTER_CONFIG = "adapter_config.json"


def resolve_checkpoint(ckpt: str | os.PathLike[str]) -> Path:
    """The checkpoint folder ``ckpt`` names (the rules are :func:`ftcore.outputs.resolve_checkpoint`'s).

    * ``latest:<dir>`` — the newest run under ``<dir>`` (``output``, ``output/<model>``), its best checkpoint;
      ``latest-last:<dir>`` — its last checkpoint; ``best:<dir>`` is ``latest:<dir>`` spelled for what it gives.
    * ``<run>/checkpoint-best``, ``<run>/checkpoint-last``, or a run folder (its best checkpoint).
    * a checkpoint folder — itself.

    Raises :class:`FtcoreError` (one line) when nothing fits.
    """
    from ftcore.outputs import resolve_checkpoint as resolve

    text = os.fspath(ckpt)
    if text == "best" or text.startswith("best:"):
        text = "latest-best:" + text[len("best:") :]
    elif text in ("latest", "latest-last"):
        text += ":"
    path = Path(resolve(text))
    if not path.is_dir():
        raise FtcoreError(f"checkpoint {os.fspath(ckpt)}: {path} is not a folder")
    return path


def checkpoint_config(ckpt_dir: str | os.PathLike[str]) -> RunConfig:
    """The run config a checkpoint was trained with (``ftcore_run.toml``, else the run folder's ``run.toml``)."""
    from ftcore.config import load_config

    path = Path(ckpt_dir)
    for candidate in (path / RUN_FILE, path.parent / RUN_DIR_FILE):
        if candidate.is_file():
            return load_config(candidate)
    raise FtcoreError(
        f"{path}: no {RUN_FILE} in the checkpoint (nor {RUN_DIR_FILE} in its run folder); "
        "ftcore cannot tell which model and template it was trained with"
    )


def is_adapter(ckpt_dir: str | os.PathLike[str]) -> bool:
    """True for a LoRA / QLoRA adapter checkpoint, False for full weights."""
    return (Path(ckpt_dir) / ADAPTER_CONFIG).is_file()


def _has_weights(path: Path) -> bool:
    return any(path.glob("*.safetensors")) or any(path.glob("*.bin"))


def checkpoint_plugins(cfg: RunConfig, ckpt_dir: str | os.PathLike[str], allow_plugins: bool = False) -> list[str]:
    """Load the local plugin files a checkpoint's run names only when the user allows it (``--allow-plugins``).

    A checkpoint (perhaps downloaded) never runs code on its own: without ``allow_plugins`` its plugin files are
    skipped, with one line on stderr naming them and the flag; returns the skipped files.
    """
    if not cfg.plugins:
        return []
    if allow_plugins:
        from ftcore.models import load_run_plugins

        load_run_plugins(cfg)
        return []
    import sys

    print(f"{os.fspath(ckpt_dir)}: not loading the local plugin files its run names ({', '.join(cfg.plugins)}): "
          "a checkpoint runs no code unless asked; pass --allow-plugins to load them", file=sys.stderr, flush=True)
    return list(cfg.plugins)


def plugin_consent(allow_plugins: bool) -> dict[str, Any]:
    """Keyword arguments passing the user's ``--allow-plugins`` to :func:`load_checkpoint` (none when not given)."""
    return {"allow_plugins": True} if allow_plugins else {}


def load_checkpoint(
    ckpt: str | os.PathLike[str], *, device: str | None = None, allow_plugins: bool = False
) -> tuple[Any, Any, Any, RunConfig]:
    """Load a checkpoint for generation: ``(model, tokenizer, template, cfg)``.

    One pass: read the run's record (:func:`checkpoint_config`) → resolve the base (:func:`base_model`) → load
    it with the spec's :class:`~ftcore.ModelLoader` (so a family plugin's loader applies) → attach the LoRA
    adapter (:func:`attach_adapter`, peft in inference mode) → rebuild the template from the same config
    (:func:`template_for`), so generation prompts are exactly what was trained. ``ckpt`` is anything
    :func:`resolve_checkpoint` accepts. The model is in eval mode, on ``device`` (default: the first GPU if there
    is one and the model was not split over devices, else where it loaded). The local plugin files the run names
    are loaded only with ``allow_plugins`` (:func:`checkpoint_plugins`).
    """
    from ftcore.models import load

    path = resolve_checkpoint(ckpt)
    cfg = checkpoint_config(path)
    adapter = is_adapter(path)
    if not adapter and not _has_weights(path):
        raise FtcoreError(
            f"{path}: no adapter ({ADAPTER_CONFIG}) and no weights (*.safetensors) in the checkpoint"
        )
    spec, model_dir = base_model(cfg, path, allow_plugins=allow_plugins)
    from ftcore.inference.score import is_reward_run, reward_spec, set_pad_token

    if is_reward_run(cfg):  # a reward model: the backbone + its one-output head (docs/alignment.md)
        spec = reward_spec(spec)
    try:
        model, tokenizer = load(cfg, spec, model_dir)
        if is_reward_run(cfg):
            set_pad_token(model, tokenizer)
        if adapter:
            model = attach_adapter(model, path)
    except FtcoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint: one line naming it, not a deep traceback
        what = "adapter" if adapter else "weights"
        reason = " ".join(str(exc).split())[:200]
        raise FtcoreError(f"{path}: the checkpoint's {what} cannot be loaded ({type(exc).__name__}: {reason}); the "
                          "checkpoint is damaged or incomplete: use another one (e.g. the run's previous "
                          "checkpoint)") from exc
    model.eval()
    _place(model, device)
    return model, tokenizer, template_for(cfg, tokenizer, spec), cfg


def base_model(cfg: RunConfig, ckpt_dir: str | os.PathLike[str], *, allow_plugins: bool = False) -> tuple[Any, str]:
    """``(spec, folder)`` a checkpoint's model loads from: the run's base model for an adapter checkpoint
    (fetched if needed), the checkpoint itself for full weights (:func:`full_weights_spec`). Loads the run's local
    plugin files first, with ``allow_plugins`` only (:func:`checkpoint_plugins`)."""
    from ftcore.models import resolve_model
    from ftcore.registry import get_catalog

    checkpoint_plugins(cfg, ckpt_dir, allow_plugins)
    check_plugins(cfg, ckpt_dir, get_catalog())
    if is_adapter(ckpt_dir):
        return resolve_model(cfg, get_catalog())
    return full_weights_spec(cfg, ckpt_dir, get_catalog()), os.fspath(ckpt_dir)


def check_plugins(cfg: RunConfig, ckpt_dir: str | os.PathLike[str], catalog: Any) -> None:
    """An unknown model or template of a checkpoint whose run's ``manifest.json`` names the plugin that provided
    it (no longer installed) is an error saying which plugin and version to pip install."""
    from ftcore.outputs import missing_plugin, read_manifest

    manifest = read_manifest(ckpt_dir)
    for kind, name in (("model", cfg.model.name), ("template", cfg.template.name)):
        table = catalog.table(kind)
        if name and name not in table and name not in table.conflicts and not (kind == "template" and name == "jinja"):
            hint = missing_plugin(kind, name, manifest)
            if hint:
                raise FtcoreError(f"checkpoint {os.fspath(ckpt_dir)}: unknown {kind} {name!r}: {hint}")


def attach_adapter(model: Any, ckpt_dir: str | os.PathLike[str]) -> Any:
    """``model`` with the checkpoint's LoRA / QLoRA adapter attached by peft, for inference (not trainable)."""
    from peft import PeftModel

    from ftcore.models.compat import quiet_peft_deprecations

    with quiet_peft_deprecations():
        return PeftModel.from_pretrained(model, os.fspath(ckpt_dir), is_trainable=False)


def full_weights_spec(cfg: RunConfig, ckpt_dir: str | os.PathLike[str], catalog: Any = None, *,
                      allow_plugins: bool = False) -> Any:
    """The model spec of a full-weights checkpoint, without fetching the base model: the checkpoint holds every
    weight, so only the spec (family loader, default template) is needed — the catalog entry the run named, else an
    ad-hoc spec for the checkpoint folder. ``catalog`` defaults to the current one (the run's local plugin files
    loaded with ``allow_plugins``, see :func:`checkpoint_plugins`)."""
    import dataclasses

    from ftcore.models import catalog_spec_for_repo, spec_slug
    from ftcore.specs import ModelSpec

    if catalog is None:
        from ftcore.registry import get_catalog

        checkpoint_plugins(cfg, ckpt_dir, allow_plugins)
        catalog = get_catalog()
    m = cfg.model
    known = None
    if m.name:
        known = catalog.models.get(m.name)
    elif m.repo:
        known = catalog_spec_for_repo(m.repo, catalog)
    if known is not None:
        return dataclasses.replace(known, path=str(ckpt_dir))
    return ModelSpec(name=spec_slug(m.path or m.repo or str(ckpt_dir)), path=str(ckpt_dir))


def template_for(cfg: RunConfig, tokenizer: Any, spec: Any = None) -> Any:
    """The template a run trained with (``[template]`` of its config), for ``tokenizer``."""
    from ftcore.templates import get_template

    t = cfg.template
    max_length = t.max_length if t.max_length is not None and t.max_length > 0 else None
    return get_template(
        t.name,
        tokenizer,
        model_spec=spec,
        system=t.system,
        max_length=max_length,
        truncation=t.truncation,
        loss_on=t.loss_on,
        train_on_prompt=t.train_on_prompt,
        **({"parse_special_in_content": True} if t.parse_special_in_content else {}),
    )


def _place(model: Any, device: str | None) -> None:
    if getattr(model, "hf_device_map", None) and device is None:
        return  # split over devices by device_map: leave it where it is
    import torch

    if device is None:
        if not torch.cuda.is_available():
            return
        device = "cuda"
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        return  # bitsandbytes models cannot be moved
    model.to(device)
