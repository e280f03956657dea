"""Idle OpenMP threads spin briefly, then sleep: training stays fast when others share the CPU.

torch and MKL run their parallel loops on GNU OpenMP, whose idle threads spin for up to
300,000 iterations (milliseconds) before they sleep. On a machine of their own that costs
nothing; on a shared one the spinning threads take the cores away from the thread with
work and from everyone else. On this project's shared 2-core machine (load 3.3 - 3.8 from
other processes) the student trained at 14.6 samples/s on two threads with the default
spin and 27.9 with ``GOMP_SPINCOUNT=10000``, the CNN at 26.6 and 36.9 (``python
benchmarks/allocator.py --arms student cnn --policies omp-default ablate``). 10,000
iterations are about 0.2 ms: longer than the gaps between a step's operations, so the
threads stay awake through a step.

:func:`apply` sets ``GOMP_SPINCOUNT`` in the environment unless the user set it or
``OMP_WAIT_POLICY``. GNU OpenMP reads it when it is loaded, which ``import torch`` does:
``import ablate`` comes first in every ablate process, and processes started from one
inherit the environment. A program that imported torch before ablate keeps its setting.
"""

from __future__ import annotations

import os

SPIN_COUNT = "10000"


def apply() -> str:
    """``ablate`` (ours is in effect, set here or inherited) or ``user`` (theirs is)."""
    if "OMP_WAIT_POLICY" in os.environ:
        return "user"
    spin = os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
    return "ablate" if spin == SPIN_COUNT else "user"
