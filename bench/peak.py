"""The matmul peak of this machine (fp32 and bf16), the denominator of ftcore's MFU.

    python bench/peak.py                 # measure on this process's device (GPU if there is one, else the CPU)
    python bench/peak.py --write         # ... and record it in $FTCORE_CACHE/peak_flops.json, which ftcore reads
    python bench/peak.py --size 256 --seconds 0.2   # a quick check that it runs

A square matmul of ``--size`` (2048 by default; 8192 on a GPU) is repeated for ``--seconds`` after a warm-up; the
best of ``--repeats`` timings counts (2 × size³ FLOPs per product). The result is keyed by the device's name
(``ftcore.models.peak.device_name``: the CUDA device, or the CPU model and the number of threads torch uses), so a
machine measured once gets MFU in every run afterwards; ``train.peak_flops`` overrides it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def measure(dtype_name: str, size: int, seconds: float, repeats: int) -> float:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 figure is true fp32 (what ftcore trains with)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(3):
        a @ b
    sync()
    best = 0.0
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            a @ b
            n += 1
            if n % 4 == 0:
                sync()
                elapsed = time.perf_counter() - t0
                if elapsed >= seconds:
                    break
        best = max(best, 2 * size**3 * n / elapsed)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=None, help="matrix size (default 2048, 8192 on a GPU)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per dtype (the best counts)")
    parser.add_argument("--write", action="store_true", help="record the peaks in ftcore's cache (MFU uses them)")
    args = parser.parse_args(argv)
    import torch

    from ftcore.models.peak import device_name, write_peak_cache

    size = args.size or (8192 if torch.cuda.is_available() else 2048)
    name = device_name()
    peaks = {d: measure(d, size, args.seconds, args.repeats) for d in ("fp32", "bf16")}
    print(f"{name}: matmul {size}²  fp32 {peaks['fp32'] / 1e9:,.1f} GFLOP/s  bf16 {peaks['bf16'] / 1e9:,.1f} GFLOP/s "
          f"(bf16 {peaks['bf16'] / peaks['fp32']:.2f}× fp32)")
    if args.write:
        path = write_peak_cache(name, peaks)
        print(f"written to {path}")
    print("RESULT " + json.dumps({"device": name, "size": size, **peaks}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
