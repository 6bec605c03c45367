"""Fast CPU allocation for training, applied by the ``essl`` command.

With glibc's default malloc every large activation (> 128 KiB, i.e. nearly all of them) is
``mmap``-ed and ``munmap``-ed each step: millions of page faults per step and a 2-3x slower
CPU training step (measured in ``benchmarks/train_step.py``). Raising glibc's
``mmap_threshold`` and ``trim_threshold`` keeps freed blocks in the heap for reuse.

The tunables are read by glibc at process start, so :func:`ensure_fast_allocator` re-executes
the command once with ``GLIBC_TUNABLES`` set. Opt out with ``ESSL_ALLOCATOR=system``; a
user-provided ``LD_PRELOAD`` (e.g. tcmalloc or jemalloc) is respected and left alone.
"""

from __future__ import annotations

import os
import sys

TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296"
_MARK = "ESSL_ALLOCATOR_SET"


def fast_allocator_env(env: dict[str, str]) -> dict[str, str] | None:
    """The environment to re-exec with, or None when nothing needs changing."""
    if not sys.platform.startswith("linux") or env.get("ESSL_ALLOCATOR") == "system":
        return None
    if (
        env.get(_MARK)
        or "malloc" in env.get("LD_PRELOAD", "")
        or "mmap_threshold" in env.get("GLIBC_TUNABLES", "")
    ):
        return None
    new = dict(env)
    old = env.get("GLIBC_TUNABLES")
    new["GLIBC_TUNABLES"] = f"{old}:{TUNABLES}" if old else TUNABLES
    new[_MARK] = "1"
    return new


def ensure_fast_allocator() -> None:
    """Re-exec the current command with the fast allocator settings, once."""
    env = fast_allocator_env(dict(os.environ))
    if env is None:
        return
    os.execve(sys.executable, [sys.executable, "-m", "essl", *sys.argv[1:]], env)
