"""keep_freed_memory (ftcore.training.cpu_memory): glibc's malloc keeps freed blocks mapped for the next step."""

from __future__ import annotations

import platform
import subprocess
import sys


def test_blocks_come_from_and_stay_in_the_heap():
    if platform.libc_ver()[0] != "glibc":  # mallopt is glibc's: elsewhere it does nothing and says so
        from ftcore.training.cpu_memory import keep_freed_memory

        assert keep_freed_memory() is False
        return
    # glibc's own accounting (mallinfo2): a 16 MiB block comes from the heap, not from its own mmap, and stays in
    # the heap once freed; page-fault counts of one process would depend on what the allocator did before
    code = """
import ctypes, torch
from ftcore.training.cpu_memory import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
assert keep_freed_memory() and keep_freed_memory.cache_info().currsize == 1
block = 16 * 1024 * 1024
before = libc.mallinfo2()
x = torch.empty(block // 4)
x.fill_(1.0)
during = libc.mallinfo2()
del x
after = libc.mallinfo2()
assert during.hblkhd == before.hblkhd, ("mmapped", before.hblkhd, during.hblkhd)
assert during.uordblks - before.uordblks >= block
assert after.arena >= during.arena >= block and after.fordblks >= block, (during.arena, after.arena, after.fordblks)
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
