"""The device's peak matmul FLOP/s, for model FLOPs utilisation (MFU).

Where the number comes from, first that applies:

1. ``train.peak_flops`` (the caller passes it as ``override``);
2. the cache file ``$FTCORE_CACHE/peak_flops.json`` that ``python bench/peak.py --write`` fills with this
   machine's *measured* matmul peak (fp32 and bf16), keyed by the device's name;
3. a table of known GPU peaks (dense tensor-core figures from the vendors' data sheets) matched on the CUDA
   device name;
4. none: MFU is not reported (tokens/s still is).

Peaks are per device (one GPU, or the CPU cores this process may use), in FLOP/s.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["KNOWN_GPU_PEAKS", "device_name", "peak_cache_path", "peak_flops", "write_peak_cache"]

#: dense peak FLOP/s by CUDA device-name fragment: (bf16/fp16 tensor core, fp32 without TF32). Longest match wins.
KNOWN_GPU_PEAKS: dict[str, tuple[float, float]] = {
    "H200": (989e12, 67e12),
    "H100 PCIe": (756e12, 51e12),
    "H100": (989e12, 67e12),
    "H800": (989e12, 67e12),
    "GH200": (989e12, 67e12),
    "B200": (2250e12, 80e12),
    "A100": (312e12, 19.5e12),
    "A800": (312e12, 19.5e12),
    "A10G": (70e12, 31.2e12),
    "A10": (125e12, 31.2e12),
    "A6000": (155e12, 38.7e12),
    "L40S": (362e12, 91.6e12),
    "L40": (181e12, 90.5e12),
    "L4": (121e12, 30.3e12),
    "RTX 4090": (165e12, 82.6e12),
    "RTX 3090": (71e12, 35.6e12),
    "V100": (125e12, 15.7e12),
    "T4": (65e12, 8.1e12),
}


def device_name() -> str:
    """The name the peak is looked up under: the CUDA device's name, else the CPU model (and usable cores)."""
    import torch

    if torch.cuda.is_available():
        return str(torch.cuda.get_device_name(torch.cuda.current_device()))
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu:{model}:{torch.get_num_threads()}t"


def peak_cache_path() -> Path:
    from ftcore.models.hub import ftcore_cache_dir

    return ftcore_cache_dir() / "peak_flops.json"


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(peak_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_peak_cache(name: str, peaks: dict[str, float]) -> Path:
    """Record measured peaks (``{"fp32": ..., "bf16": ...}`` FLOP/s) for device ``name``; returns the file."""
    path = peak_cache_path()
    data = _read_cache()
    data[name] = {k: float(v) for k, v in peaks.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _precision(dtype: str) -> str:
    return "fp32" if dtype in ("fp32", "float32") else "bf16"  # fp16 runs on the same tensor cores as bf16


def peak_flops(dtype: str, *, override: float | None = None, name: str | None = None) -> tuple[float | None, str]:
    """``(peak FLOP/s of one device for a run in dtype, where it came from)``; ``(None, "unknown")`` when unknown.

    ``dtype``: the run's compute dtype (``fp32``, ``bf16``, ``fp16``)."""
    if override:
        return float(override), "train.peak_flops"
    name = name or device_name()
    precision = _precision(dtype)
    measured = _read_cache().get(name, {})
    if isinstance(measured, dict) and measured.get(precision):
        return float(measured[precision]), f"measured ({peak_cache_path()})"
    if not name.startswith("cpu:"):
        for fragment in sorted(KNOWN_GPU_PEAKS, key=len, reverse=True):
            if fragment.lower() in name.lower():
                half, single = KNOWN_GPU_PEAKS[fragment]
                return (single if precision == "fp32" else half), f"data sheet ({fragment})"
    return None, "unknown"
