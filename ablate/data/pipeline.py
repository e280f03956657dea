"""From a data config to a :class:`Corpus`: scan, relabel, decode, extract, cache.

Extraction runs in ``data.workers`` processes (one torch thread each) with a rich
progress bar; every feature goes through the on-disk cache, so a second trial or study
over the same audio and settings never recomputes it. Files that cannot be decoded join
the adapter's skipped list; one warning counts them by reason; ``data.strict`` makes any
skip an error instead.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ablate.checks.scans import check_scan
from ablate.contracts import Augment
from ablate.corpus import ScanResult, Utterance, count_reasons
from ablate.data.cache import FeatureCache, cache_root, key_of, stream_hash
from ablate.data.features import AudioError, Extractor, load_audio, open_regular
from ablate.data.inputs import make_extractor, stored_shape
from ablate.errors import AblateError
from ablate.registry import Registry
from ablate.slots import build_chosen, describe, lookup

#: Below this many misses per worker, a process pool costs more than it saves.
MIN_JOBS_PER_WORKER = 8
#: prctl option: the signal a process gets when its parent dies (linux/prctl.h)
PR_SET_PDEATHSIG = 1


@dataclass
class Corpus:
    """Features, labels and speakers of every usable utterance, plus what was skipped."""

    features: torch.Tensor
    labels: torch.Tensor
    label_names: list[str]
    speakers: list[str]
    utterances: list[Utterance]
    skipped: list[tuple[str, str]]
    fingerprint: str
    #: sha256 of each utterance's audio file (keys of the feature and augmentation caches)
    hashes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.utterances)

    def skipped_counts(self) -> dict[str, int]:
        """``{reason: count}`` of the skipped files."""
        return count_reasons(self.skipped)


@dataclass(frozen=True)
class Job:
    """One feature to produce: decode ``path``, apply the wave augments, extract."""

    path: str
    key: str
    augments: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    seed: int = 0


def scan(data: DictConfig, registry: Registry) -> ScanResult:
    """Run the adapter named by ``data.dataset`` on ``data.root``."""
    root = Path(data.root).expanduser() if data.root else None
    (adapter,) = build_chosen("data.dataset", data, root, registry)
    plugin = describe(lookup("data.dataset", data.dataset, registry))
    return check_scan(adapter.scan(), plugin)


def select_labels(utterances: list[Utterance], data: DictConfig) -> list[Utterance]:
    """Apply ``data.label_map`` (rename/merge), then keep only ``data.labels`` if set."""
    mapping = dict(data.label_map or {})
    relabelled = [
        Utterance(u.path, mapping.get(u.label, u.label), u.speaker, u.meta) for u in utterances
    ]
    wanted = list(data.labels or [])
    if not wanted:
        return relabelled
    present = {u.label for u in relabelled}
    missing = [label for label in wanted if label not in present]
    if missing:
        raise AblateError(
            f"data.labels: {', '.join(missing)} not in the corpus; "
            f"its labels (after data.label_map): {', '.join(sorted(present))}"
        )
    return [u for u in relabelled if u.label in wanted]


def load_corpus(data: DictConfig, registry: Registry, progress: bool = True) -> Corpus:
    """Scan, relabel, decode and extract (cached, in parallel) the corpus of ``data``."""
    result = scan(data, registry)
    utterances = select_labels(result.utterances, data)
    skipped = list(result.skipped)
    extractor = make_extractor(data)
    settings = extractor.settings()
    utterances, hashes = _hashed(utterances, skipped)
    jobs = [
        Job(str(u.path), key_of(extractor.kind, h, settings))
        for u, h in zip(utterances, hashes, strict=True)
    ]
    outputs = extract(jobs, data, progress, f"features ({data.dataset})")

    kept, features, kept_hashes = [], [], []
    for utterance, digest, output in zip(utterances, hashes, outputs, strict=True):
        if isinstance(output, str):
            skipped.append((str(utterance.path), output))
        else:
            kept.append(utterance)
            features.append(output)
            kept_hashes.append(digest)
    report_skipped(skipped, data)
    if not kept:
        raise AblateError(f"dataset '{data.dataset}': every file was skipped ({_summary(skipped)})")

    label_names = sorted({u.label for u in kept})
    index = {name: i for i, name in enumerate(label_names)}
    labels = torch.tensor([index[u.label] for u in kept], dtype=torch.int64)
    speakers = [u.speaker for u in kept]
    return Corpus(
        features=torch.stack(features),
        labels=labels,
        label_names=label_names,
        speakers=speakers,
        utterances=kept,
        skipped=skipped,
        fingerprint=key_of(kept_hashes, [u.label for u in kept], speakers, settings),
        hashes=kept_hashes,
    )


def _hashed(
    utterances: list[Utterance], skipped: list[tuple[str, str]]
) -> tuple[list[Utterance], list[str]]:
    """The utterances whose file can be read, with their content hashes; the others are
    added to ``skipped`` with the reason of :func:`open_regular` (``missing-file`` when
    gone since the scan, ``not-a-regular-file`` for a FIFO, ...) or ``unreadable``."""
    kept, hashes = [], []
    for utterance in utterances:
        try:
            with open_regular(utterance.path) as handle:
                hashes.append(stream_hash(handle))
        except AudioError as exc:
            skipped.append((str(utterance.path), exc.reason))
        except OSError:
            skipped.append((str(utterance.path), "unreadable"))
        else:
            kept.append(utterance)
    return kept, hashes


def _summary(skipped: list[tuple[str, str]]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in count_reasons(skipped).items())


def report_skipped(skipped: list[tuple[str, str]], data: DictConfig) -> None:
    """One warning counting the skips by reason, or an error under ``data.strict``."""
    if not skipped:
        return
    path, reason = skipped[0]
    message = f"skipped {len(skipped)} files ({_summary(skipped)}); first: {path} ({reason})"
    if data.strict:
        raise AblateError(f"data.strict: {message}")
    warnings.warn(message, stacklevel=3)


# --- parallel, cached extraction -------------------------------------------------------


class _WorkerState(threading.local):
    """The extractor and augments of this worker: per thread, since the in-process path
    can run in several threads at once (each with its own data config)."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self.items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.items[key] = value

    def clear(self) -> None:
        self.items.clear()


_worker = _WorkerState()


def _die_with(parent: int) -> None:
    """Have the kernel SIGKILL this pool worker when its parent dies (Linux), so a
    ``kill -9`` of ablate leaves no orphaned 500 MB workers behind."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _init_worker(data: dict, augments: Sequence[Augment], parent: int | None = None) -> None:
    """Build the extractor once per process, which then uses one torch thread.

    A pool worker (``parent`` given) dies with its parent and ignores Ctrl-C: the terminal
    sends SIGINT to the whole process group, and the parent alone stops the pool (each
    worker used to print a KeyboardInterrupt traceback).
    """
    if parent is not None:
        _die_with(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    _worker.clear()
    _worker["data"] = OmegaConf.create(data)
    _worker["extractor"] = make_extractor(_worker["data"])
    _worker["augments"] = augments


def _run(job: Job) -> torch.Tensor | str:
    """The feature of one job, or the skip reason of its file."""
    extractor: Extractor = _worker["extractor"]
    try:
        wave, rate = load_audio(job.path, _worker["data"].get("max_seconds"))
        if not job.augments:
            return extractor(wave, rate)
        # augment the prepared (resampled, trimmed) wave: a time shift's silence stays
        wave = extractor.prepare(wave, rate)
        generator = torch.Generator().manual_seed(job.seed)
        for augment in _worker["augments"]:
            wave = augment(wave, extractor.sample_rate, generator)
        return extractor.features(wave)
    except AudioError as exc:
        return exc.reason


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not (enabled and sys.stdout.isatty()),
        transient=True,
    )


def extract(
    jobs: Sequence[Job],
    data: DictConfig,
    progress: bool = True,
    description: str = "features",
    augments: Sequence[Augment] = (),
) -> list[torch.Tensor | str]:
    """Run ``jobs`` through the cache and the worker pool; a feature or a skip reason each.
    Jobs that name wave augments (all the same ones) run ``augments`` on the wave."""
    shape = stored_shape(data)
    cache = FeatureCache(cache_root(data), enabled=bool(data.cache), shape=shape)
    outputs: list[torch.Tensor | str | None] = [cache.get(job.key) for job in jobs]
    missing = [i for i, output in enumerate(outputs) if output is None]
    container = OmegaConf.to_container(data, resolve=True)
    # never more processes than cores: each holds a torch runtime (~0.5 GB)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = max(1, min(int(data.workers), cores or 1, len(missing) // MIN_JOBS_PER_WORKER))
    with _progress(progress) as bar:
        task = bar.add_task(description, total=len(jobs), completed=len(jobs) - len(missing))
        todo = [jobs[i] for i in missing]
        threads = torch.get_num_threads()
        if workers == 1:
            # One thread beats torch's intra-op pool for these small transforms (5x when
            # the machine is busy), so the in-process path runs single-threaded too.
            _init_worker(container, augments)
            results = map(_run, todo)
        else:
            pool = ProcessPoolExecutor(
                workers,
                _context(),
                initializer=_init_worker,
                initargs=(container, augments, os.getpid()),
            )
            results = pool.map(_run, todo, chunksize=4)
        try:
            for i, output in zip(missing, results, strict=True):
                if not isinstance(output, str):
                    cache.put(jobs[i].key, output)
                outputs[i] = output
                bar.advance(task)
        finally:
            torch.set_num_threads(threads)
            if workers > 1:
                pool.shutdown(cancel_futures=True)
    return outputs


def _context() -> multiprocessing.context.BaseContext:
    """fork where available (cheap start; workers use one thread, as torch's DataLoader)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")
