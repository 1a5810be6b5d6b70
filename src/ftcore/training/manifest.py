"""manifest.json: what produced a run — package and plugin versions, dataset fingerprints, git commit."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("ftcore", "torch", "transformers", "peft", "accelerate", "datasets", "deepspeed", "bitsandbytes")


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def git_commit(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git work tree holding ``folder``, or None outside one."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                                capture_output=True, text=True, timeout=10)
        return {"commit": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def build_manifest(*, cfg: Any, model_spec: Any, model_dir: str, fingerprints: dict[str, Any] | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a run (JSON-ready). Never holds a secret (see :mod:`ftcore.redact`)."""
    plugins = []
    try:
        from ftcore.plugins import plugin_infos

        plugins = [
            {"name": i.name, "dist": i.dist, "version": i.version, **({"error": i.error} if i.error else {})}
            for i in plugin_infos(include_builtin=False)
        ]
    except Exception:  # noqa: BLE001 - the manifest is informative; never fail a run over it
        plugins = []
    from ftcore.redact import redact_argv

    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        # secrets (hub.token, *token, *key, *secret, *password) are replaced: the manifest records no secret
        "command": " ".join(redact_argv([Path(sys.argv[0]).name, *sys.argv[1:]])) if sys.argv and sys.argv[0]
        else None,
        "versions": {name: v for name in PACKAGES if (v := _version(name))},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "plugins": plugins,
        "provided_by": providers(cfg, model_spec),
        "model": {"name": model_spec.name, "plugin": model_spec.plugin or None, "dir": model_dir,
                  "revision": cfg.model.revision or model_spec.revision},
        "datasets": fingerprints or {},
        "git": git_commit(cfg.base_dir),
        **(extra or {}),
    }


def _provider(spec: Any) -> dict[str, Any] | None:
    if spec is None or not getattr(spec, "plugin", ""):
        return None
    from ftcore.registry import split_label

    dist, version = split_label(spec.plugin)
    return {"name": spec.name, "plugin": dist, "version": version,
            **({"local": True} if spec.plugin.endswith("(local file)") else {})}


def providers(cfg: Any, model_spec: Any) -> dict[str, Any]:
    """The plugin (distribution and version) that provided the run's model, template, tuner and each named
    dataset: ``ftcore infer`` / ``validate`` name it, with the pip command, when it is no longer installed."""
    try:
        from ftcore.registry import get_catalog

        catalog = get_catalog()
        template = cfg.template.name or getattr(model_spec, "template", None)
        datasets: dict[str, Any] = {}
        for entry in [*cfg.data.datasets, *cfg.data.validation]:
            name = entry if isinstance(entry, str) else getattr(entry, "name", None)
            if name and (found := _provider(catalog.datasets.specs.get(name))):
                datasets[name] = found
        return {
            "model": _provider(model_spec),
            "template": _provider(catalog.templates.specs.get(template)) if template else None,
            "tuner": _provider(catalog.tuners.specs.get(cfg.tuner.method)),
            "datasets": datasets,
        }
    except Exception:  # noqa: BLE001 - the manifest is informative; never fail a run over it
        return {}


def write_manifest(run_dir: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
    from ftcore.redact import redact_mapping

    path = Path(run_dir) / "manifest.json"
    manifest = redact_mapping(manifest)
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path
