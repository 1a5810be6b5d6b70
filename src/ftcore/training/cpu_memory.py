"""Keep freed tensor memory in the process on the CPU (glibc ``mallopt``), so tensors do not page-fault.

PyTorch's CPU allocator is the C library's ``malloc``. glibc serves a large request with a fresh ``mmap`` and
hands it back to the kernel when it is freed; a training step allocates and frees the same few hundred MiB of
activations and gradients every step, so every step pays a page fault (and the kernel's zeroing) for every 4 KiB
of them again — on the development machine a product that writes a fresh output ran at half the speed of one
writing into memory it had touched before. :func:`keep_freed_memory` raises glibc's mmap threshold to its
maximum (32 MiB: larger blocks still come from ``mmap``) and its trim threshold and top pad, so blocks up to
32 MiB come from and go back to the heap, already mapped. It costs resident memory that a training process
would soon use again anyway, changes no result, and does nothing on a C library other than glibc (macOS, musl,
Windows) or when ``FTCORE_MALLOC=default``. ``FtcoreTrainer`` calls it when a run trains on the CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int
TOP_PAD = 256 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Set glibc's malloc thresholds (once per process); whether they were set."""
    if os.environ.get("FTCORE_MALLOC", "").lower() == "default" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = [mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD), mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            mallopt(M_TOP_PAD, TOP_PAD)]
    return all(done)
