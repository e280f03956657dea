"""Keep freed memory in the process: glibc's malloc tuned so training steps stop page-faulting.

By default glibc serves every block above a (dynamic, at most 32 MiB) threshold with its own
``mmap`` and returns it to the kernel on ``free``, and trims the heap top whenever more than
twice that threshold lies free. A training step allocates and frees the same large
activations every time (the reference CNN's first feature map at batch 32 is 64 MiB), so each
step maps fresh pages and faults every one of them in again: on this project's CPU a quarter
of the CNN's CPU time went to
the kernel. :func:`apply` sets, once per process:

- ``M_MMAP_THRESHOLD`` 1 GiB: blocks up to 1 GiB come from the heap (this also stops the
  threshold from moving);
- ``M_TRIM_THRESHOLD`` -1: the heap is never trimmed, so a step reuses the pages the last
  step faulted in;
- ``M_TOP_PAD`` 64 MiB: the heap grows in 64 MiB strides (untouched pages cost nothing);
- ``M_ARENA_MAX`` 1: every thread allocates from that one heap. A worker thread's own
  arena lives in 64 MiB heaps and maps anything larger on its own: the teacher's
  convolutions (oneDNN's per-thread buffers) still faulted about 16,000 pages a step
  without this. Torch allocates few, large blocks: with one arena the student trains as
  fast as without any of this (``benchmarks/allocator.py``).

The price: a process keeps the memory of its largest step until it exits, and a heap that
is never trimmed holds some fragmentation (about 0.1 GiB more at the peak of a study on
EmoDB, docs/performance.md). ``import ablate`` applies it, so the CLI, ``--workers`` processes
(they run the CLI) and feature-extraction workers (forked, so they inherit it; spawned ones
import ablate) all run with it, and nobody has to remember an environment variable.

It is skipped, leaving the allocator as it was, when ``ABLATE_MALLOC=system``, when the user
already tuned glibc (``MALLOC_*_`` variables or ``glibc.malloc`` in ``GLIBC_TUNABLES``), and
off glibc (macOS, Windows, musl), whose allocators keep their own policies.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

OPT_OUT = "ABLATE_MALLOC"
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -2, -3, -8
#: mallopt parameter -> value (an int, as mallopt takes; -1 disables trimming)
SETTINGS = {M_MMAP_THRESHOLD: 1 << 30, M_TRIM_THRESHOLD: -1, M_TOP_PAD: 64 << 20, M_ARENA_MAX: 1}
_USER_KEYS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
)
_PROBE_BLOCK = 64 << 20
#: what :func:`apply` did in this process (``None`` before it ran)
_applied: str | None = None


@dataclass(frozen=True)
class Probe:
    """How this process's malloc treats a large block, observed rather than assumed."""

    policy: str  # ablate, system (opted out), user (tuned by the user), unsupported, failed
    large_block_mmapped: bool | None  # a 64 MiB malloc got its own mapping
    freed_block_kept: bool | None  # after its free the heap did not shrink

    @property
    def keeps_memory(self) -> bool:
        return self.large_block_mmapped is False and self.freed_block_kept is True


def _glibc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        return libc
    except (AttributeError, OSError, ValueError):
        return None


def _skip_reason() -> str | None:
    if os.environ.get(OPT_OUT, "").strip().lower() == "system":
        return "system"
    if any(key in os.environ for key in _USER_KEYS):
        return "user"
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return "user"
    return None


def apply() -> str:
    """Set the policy once per process; returns ablate, system, user, unsupported or failed."""
    global _applied
    if _applied is None:
        libc = _glibc()
        if (reason := _skip_reason()) is not None:
            _applied = reason
        elif libc is None:
            _applied = "unsupported"
        else:
            results = [libc.mallopt(param, value) for param, value in SETTINGS.items()]
            _applied = "ablate" if all(results) else "failed"
    return _applied


_MALLINFO2 = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2.split(" ")]


def probe() -> Probe:
    """Allocate and free one block larger than the heap's free space; watch glibc's counters.

    The block cannot come from free memory, so it is either mapped on its own (the system
    policy) or grows the heap (ours), and after its ``free`` the heap either shrinks (glibc
    trims) or keeps it. The answer is ``None`` where it cannot tell: off glibc, before glibc
    2.33 (no ``mallinfo2``), or with more than about 1 GiB free in the heap.
    """
    libc = _glibc()
    policy = _applied or "not applied"
    if libc is None or not hasattr(libc, "mallinfo2"):
        return Probe(policy, None, None)
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    before = libc.mallinfo2()
    size = before.fordblks + _PROBE_BLOCK
    if size >= SETTINGS[M_MMAP_THRESHOLD]:
        return Probe(policy, None, None)
    block = libc.malloc(size)  # never written: the counters move without touching a page
    if not block:
        raise MemoryError(f"malloc({size}) failed while probing the allocator")
    during = libc.mallinfo2()
    libc.free(block)
    after = libc.mallinfo2()
    # mapped on its own: the bytes in mmapped blocks grew by the block (another thread's
    # smaller mapping at the same moment does not count)
    mapped = during.hblkhd - before.hblkhd >= size
    return Probe(policy, mapped, after.arena >= during.arena)
