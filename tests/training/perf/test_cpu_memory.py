"""keep_freed_memory (ftcore.training.cpu_memory): glibc's malloc keeps freed blocks mapped for the next step."""

from __future__ import annotations

import platform
import subprocess
import sys


def test_sets_the_thresholds_once_and_blocks_stop_faulting():
    if platform.libc_ver()[0] != "glibc":  # mallopt is glibc's: elsewhere it does nothing and says so
        from ftcore.training.cpu_memory import keep_freed_memory

        assert keep_freed_memory() is False
        return
    code = """
import resource, torch
from ftcore.training.cpu_memory import keep_freed_memory
def faults(n=20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        x = torch.empty(4 * 1024 * 1024)  # 16 MiB, above glibc's default mmap threshold
        x.fill_(1.0)
        del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
plain = faults()
assert keep_freed_memory() and keep_freed_memory.cache_info().currsize == 1
faults(1)  # the first block maps the memory once
kept = faults()
print(plain, kept)
assert kept * 20 < plain, (plain, kept)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_opt_out(monkeypatch):
    from ftcore.training import cpu_memory

    monkeypatch.setenv("FTCORE_MALLOC", "default")
    cpu_memory.keep_freed_memory.cache_clear()
    try:
        assert cpu_memory.keep_freed_memory() is False
    finally:
        cpu_memory.keep_freed_memory.cache_clear()
