"""Feature extraction under faults, with real processes: `ablate data` killed with
SIGKILL, or interrupted with Ctrl-C, while its worker pool extracts a fresh corpus."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

ENTRY = "from ablate.cli.main import main; main()"


def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pool(proc: subprocess.Popen) -> set[int]:
    """The two pool workers, once they are up (extraction of 408 misses has begun)."""
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while len(workers) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "no worker pool"
        workers = _children(proc.pid)
        time.sleep(0.05)
    return workers


def test_kill_9_during_extraction_leaves_no_worker_alive(emodb_root, tmp_path):
    argv = [sys.executable, "-c", ENTRY, "data", "emodb", str(emodb_root), "--json",
            "data.workers=2", f"data.cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers = _pool(proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [w for w in workers if _alive(w)]
    finally:
        proc.kill()
        proc.wait()
    for pid in survivors:  # leave nothing behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert survivors == [], "pool workers outlived their parent"


def test_ctrl_c_during_extraction_is_one_line_and_stops_the_workers(emodb_root, tmp_path):
    """Ctrl-C on a terminal signals the whole process group, pool workers included."""
    argv = [sys.executable, "-c", ENTRY, "data", "emodb", str(emodb_root),
            "data.workers=2", f"data.cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        workers = _pool(proc)
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert err.strip() == "aborted" and "Traceback" not in err
    assert not [w for w in workers if _alive(w)]


def test_data_workers_beyond_the_cores_starts_no_more_processes_than_cores(emodb_root, tmp_path):
    """`data.workers=64` used to fork 51 processes (408 misses / 8) of ~0.5 GB each."""
    cores = len(os.sched_getaffinity(0))
    argv = [sys.executable, "-c", ENTRY, "data", "emodb", str(emodb_root), "--json",
            "data.workers=64", f"data.cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    most = 0
    try:
        while proc.poll() is None:
            most = max(most, len(_children(proc.pid)))
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    pool = min(cores, 408 // 8)
    assert most == (pool if pool > 1 else 0)  # one core: extracted in the process itself
