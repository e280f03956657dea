"""``ablate data``: summarise a corpus as its adapter sees it (after decoding)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import click
import soundfile as sf
from rich.table import Table

from ablate.cli.output import console, print_json
from ablate.config import make_config
from ablate.data.cache import clear_cache as remove_cache
from ablate.ranges import check_ranges

#: values listed per metadata key; the rest are counted as one "other values" entry
SHOWN_VALUES = 24
OTHER = "(other values)"


def metadata_counts(utterances) -> dict[str, dict[str, int]]:
    """Each metadata key's values with their utterance counts, most frequent first (the
    first :data:`SHOWN_VALUES`; the others summed under ``(other values)``)."""
    counts: dict[str, Counter] = {}
    for utterance in utterances:
        for key, value in utterance.meta.items():
            counts.setdefault(key, Counter())[str(value)] += 1
    out = {}
    for key, counter in counts.items():
        ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        shown = dict(ranked[:SHOWN_VALUES])
        rest = sum(n for _, n in ranked[SHOWN_VALUES:])
        out[key] = shown | ({OTHER: rest} if rest else {})
    return out


def summarise(dataset: str, root: str | None, overrides: tuple[str, ...]) -> dict:
    """Utterances, speakers, labels (overall and per speaker), durations, rates, skips."""
    from ablate.data.pipeline import load_corpus
    from ablate.plugins import get_registry

    dotlist = [f"data.dataset={dataset}", *([f"data.root={root}"] if root else []), *overrides]
    config = make_config(dotlist=dotlist)
    check_ranges(config)
    corpus = load_corpus(config.data, get_registry())
    infos = [sf.info(os.fsencode(u.path)) for u in corpus.utterances]
    durations = [info.frames / info.samplerate for info in infos]
    per_speaker: dict[str, Counter] = {}
    for utterance in corpus.utterances:
        per_speaker.setdefault(utterance.speaker, Counter())[utterance.label] += 1
    return {
        "dataset": dataset,
        "root": root,
        "utterances": len(corpus),
        "speakers": sorted(per_speaker),
        "labels": dict(sorted(Counter(u.label for u in corpus.utterances).items())),
        "labels_per_speaker": {s: dict(sorted(c.items())) for s, c in sorted(per_speaker.items())},
        "durations": {
            "min": min(durations),
            "mean": sum(durations) / len(durations),
            "max": max(durations),
            "total": sum(durations),
        },
        "sample_rates": dict(sorted(Counter(info.samplerate for info in infos).items())),
        "metadata": metadata_counts(corpus.utterances),
        "skipped": corpus.skipped_counts(),
        "skipped_files": [list(item) for item in corpus.skipped],
        "fingerprint": corpus.fingerprint,
    }


def _render(info: dict) -> None:
    where = f" at {info['root']}" if info["root"] else ""
    durations = info["durations"]
    console.print(
        f"[bold]{info['dataset']}[/]{where}: {info['utterances']} utterances, "
        f"{len(info['speakers'])} speakers, {len(info['labels'])} labels; "
        f"duration {durations['min']:.2f}-{durations['max']:.2f} s "
        f"(mean {durations['mean']:.2f}, total {durations['total'] / 60:.1f} min); "
        f"sample rates {', '.join(f'{r} Hz ({n})' for r, n in info['sample_rates'].items())}",
        soft_wrap=True,  # the corpus path stays one line
    )
    for table in label_tables(info, console.width):
        console.print(table)
    if info["metadata"]:
        meta = Table(title="metadata (utterances per value)")
        meta.add_column("key")
        meta.add_column("values")
        for key, values in info["metadata"].items():
            meta.add_row(key, ", ".join(f"{value} ({n})" for value, n in values.items()))
        console.print(meta)
    if info["skipped"]:
        skipped = Table(title="skipped files")
        skipped.add_column("reason")
        skipped.add_column("files", justify="right")
        for reason, count in info["skipped"].items():
            skipped.add_row(reason, str(count))
        console.print(skipped)


def _label_table(info: dict, labels: list[str], title: str) -> Table:
    table = Table(title=title)
    table.add_column("speaker", no_wrap=True)
    for label in labels:
        table.add_column(label, justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    for speaker, counts in info["labels_per_speaker"].items():
        cells = [str(counts.get(label, 0)) for label in labels]
        table.add_row(speaker, *cells, str(sum(counts.values())))
    totals = [str(info["labels"][label]) for label in labels]
    table.add_row("total", *totals, str(info["utterances"]))
    return table


def label_tables(info: dict, width: int) -> list[Table]:
    """Utterances per speaker and label: one table when it fits ``width`` columns, else
    the labels split over several (each with the speakers and totals), so no label is
    cut (at 80 columns, labels were cut into look-alikes: ``bored…``, ``happi…``)."""
    from rich.measure import Measurement

    def natural(labels: list[str]) -> int:
        table = _label_table(info, labels, "")
        return Measurement.get(console, console.options.update(max_width=10**6), table).maximum

    groups: list[list[str]] = [[]]
    for label in info["labels"]:
        if groups[-1] and natural([*groups[-1], label]) > width:
            groups.append([])
        groups[-1].append(label)
    title = "utterances per speaker and label"
    if len(groups) == 1:
        return [_label_table(info, groups[0], title)]
    n = len(groups)
    return [_label_table(info, g, f"{title} ({i} of {n})") for i, g in enumerate(groups, 1)]


def split_root(args: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """The optional ROOT (first argument unless it is a KEY=VALUE override) and the rest."""
    if args and ("=" not in args[0] or Path(args[0]).exists()):
        return args[0], args[1:]
    return None, args


@click.command(
    epilog="Examples: ablate data synthetic | ablate data emodb ../shared/data/emodb --json"
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--clear-cache", is_flag=True, help="Delete the feature cache before loading.")
@click.argument("dataset")
@click.argument("args", nargs=-1)
def data(dataset: str, args: tuple[str, ...], as_json: bool, clear_cache: bool) -> None:
    """Summarise DATASET [ROOT] [KEY=VALUE ...] as its adapter sees it."""
    root, overrides = split_root(args)
    if clear_cache:
        removed = remove_cache(make_config(dotlist=overrides).data)
        if not as_json:
            console.print(f"cleared cache {removed}", soft_wrap=True)
    info = summarise(dataset, root, overrides)
    if as_json:
        print_json(info)
    else:
        _render(info)
