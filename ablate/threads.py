"""Idle OpenMP threads spin briefly, then sleep: training stays fast when others share the CPU.

torch and MKL run their parallel loops on GNU OpenMP, whose idle threads spin for up to
300,000 iterations (milliseconds) before they sleep. On a machine of their own that costs
nothing; on a shared one the spinning threads take the cores away from the thread with
work and from everyone else. On this project's shared 2-core machine (load 4 to 7 from
other processes) a two-thread student step took 1.9 to 7.1 s with the default spin and
1.15 to 1.8 s with ``GOMP_SPINCOUNT=10000`` (about 0.2 ms of spinning: still longer than
the gaps between the operations of a step, so the threads stay awake through a step).

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
