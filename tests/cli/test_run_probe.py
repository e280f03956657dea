"""The run-folder probe of ``ablate run`` is each process's own: two processes on one
store folder (two machines sharing it) removed each other's probe file, and one of them
stopped with "not writable (No such file or directory)" (seen in CI)."""

from __future__ import annotations

import multiprocessing

from ablate.cli import run_cmd

PROCESSES, ROUNDS = 4, 150


def _probe(folder, barrier, errors) -> None:
    run_cmd.PROBE_BYTES = 16  # the race is in the file's name, not its size
    barrier.wait()
    for _ in range(ROUNDS):
        try:
            run_cmd._writable(folder)
        except Exception as exc:  # reported to the parent
            errors.put(str(exc))
            return


def test_processes_probing_one_folder_at_once_all_find_it_writable(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier, errors = context.Barrier(PROCESSES), context.Queue()
    workers = [
        context.Process(target=_probe, args=(tmp_path, barrier, errors)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    assert errors.empty(), errors.get()
    assert list(tmp_path.iterdir()) == []  # every probe removed
