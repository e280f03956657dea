"""Put on PYTHONPATH by tests/test_allocator.py: every Python process started with it writes
what ``ablate.allocator.probe`` observes when it exits, and its OpenMP spin setting, to
``$ABLATE_PROBE_DIR/<pid>.json``."""

import atexit
import json
import os
import sys


def _write() -> None:
    if "ablate" not in sys.modules:  # a helper process that never ran ablate
        return
    from ablate import allocator

    probe = allocator.probe()
    record = {"argv": sys.argv, "keeps_memory": probe.keeps_memory, **probe.__dict__}
    record["GOMP_SPINCOUNT"] = os.environ.get("GOMP_SPINCOUNT")  # ablate/threads.py
    path = os.path.join(os.environ["ABLATE_PROBE_DIR"], f"{os.getpid()}.json")
    with open(path, "w") as f:
        json.dump(record, f)


atexit.register(_write)
