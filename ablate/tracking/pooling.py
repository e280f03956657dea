"""Which study keys ``--pool-seeds`` may join: one study run once per seed, and nothing else.

Two keys pool when their study name and every fixed setting agree except the seeds, and
their trials tested the same thing: the same corpus (data fingerprint), classes, split
(the exact test and validation speakers of every fold) and speaker independence, as the
trial runs' tags record them. Their seeds must not overlap (a seed trained twice is not a
second seed). A study name given to ``--pool-seeds`` names every key of that name: they
all pool, or the command fails saying which setting keeps two of them apart.

Keys logged by different versions of ablate (their trials' git commits differ) are
compared on the settings both record: one version logs a setting the other leaves out
(an unused plugin's arguments, a new argument's default), and that is no difference
between the studies; a note names each setting only one of them records.
"""

from __future__ import annotations

import json
from typing import Any

from ablate.errors import AblateError
from ablate.identity import OPERATIONAL_KEYS

#: what a trial run's tags say it tested: names shown when two keys differ in one
PROTOCOL_TAGS = {
    "ablate.fingerprint": "corpus (data fingerprint)",
    "ablate.label_names": "classes",
    "ablate.split": "split (test and validation speakers)",
    "ablate.speaker_independent": "speaker independence",
}
#: the code a trial ran (provenance): keys of different commits may record different settings
COMMIT_TAG = "ablate.git_commit"
#: how many of the settings only some pooled keys record a note names
SHOWN = 6


def read_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {}


def settings(runs: list[Any]) -> dict[str, str]:
    """What a study holds fixed: its trials' config less the swept and operational keys,
    plus its seeds."""
    if not runs:
        return {}
    swept = {k for r in runs for k in read_json(r.data.tags.get("ablate.swept", "{}")) or {}}
    params = runs[0].data.params
    fixed = {k: v for k, v in params.items() if k not in swept and k not in OPERATIONAL_KEYS}
    fixed = {k: v for k, v in fixed.items() if not any(k.startswith(f"{s}.") for s in swept)}
    fixed["seeds"] = runs[0].data.tags.get("ablate.seeds", "")
    return fixed


def _identity(parent: Any, runs: list[Any]) -> dict[str, Any]:
    """Everything two keys must share to pool: name, fixed settings but the seeds, and what
    their trials tested (each tag's set of values over the trials)."""
    fixed = {k: v for k, v in settings(runs).items() if k not in ("seeds", "train.seed")}
    tested = {tag: sorted({r.data.tags.get(tag, "") for r in runs}) for tag in PROTOCOL_TAGS}
    return {"name": parent.data.tags.get("ablate.study", parent.info.run_name), **fixed, **tested}


def _seeds(runs: list[Any]) -> set[int]:
    seeds = read_json(runs[0].data.tags.get("ablate.seeds", "[]")) if runs else []
    return {int(s) for s in seeds} if isinstance(seeds, list) else set()


class _Keys:
    """Each study key's identity, seeds and commits, read once: grouping compares each key
    with every group's first key and members."""

    def __init__(self, parents: dict[str, Any], runs: dict[str, list[Any]]):
        self.identity = {k: _identity(parents[k], runs[k]) for k in parents}
        self.seeds = {k: _seeds(runs[k]) for k in parents}
        self.commits = {k: {r.data.tags.get(COMMIT_TAG, "") for r in runs[k]} for k in parents}

    def across_versions(self, a: str, b: str) -> bool:
        """Whether keys ``a`` and ``b`` were logged by different code (no commit in common)."""
        one, other = self.commits[a], self.commits[b]
        return "" not in one | other and not one & other

    def differ(self, a: str, b: str) -> list[str]:
        """The settings and tested things that keep keys ``a`` and ``b`` apart: any both
        record with different values and, within one version of ablate, any only one
        records."""
        one, other = self.identity[a], self.identity[b]
        names = set(one) & set(other) if self.across_versions(a, b) else set(one) | set(other)
        return [k for k in sorted(names) if one.get(k) != other.get(k)]

    def one_side(self, a: str, b: str) -> list[str]:
        """The settings only one of two pooled keys records (they differ in version)."""
        return sorted(set(self.identity[a]) ^ set(self.identity[b]))

    def why(self, a: str, b: str) -> str:
        differing = self.differ(a, b)
        if not differing:
            shared = sorted(self.seeds[a] & self.seeds[b])
            return f"nothing but their seeds, which overlap ({', '.join(map(str, shared))})"
        return ", ".join(PROTOCOL_TAGS.get(k, k) for k in differing)


def seed_groups(
    parents: dict[str, Any], runs: dict[str, list[Any]], notes: list[str]
) -> dict[str, list[str]]:
    """Study keys grouped under the first of them that they pool with (module docstring);
    a note names each pooled group and any setting only some of its keys record."""
    keys = _Keys(parents, runs)
    groups: dict[str, list[str]] = {}
    for key in parents:
        home = next(
            (
                h
                for h in groups
                if not keys.differ(h, key)
                and not keys.seeds[key] & set().union(*(keys.seeds[m] for m in groups[h]))
            ),
            key,
        )
        groups.setdefault(home, []).append(key)
    for home, members in groups.items():
        if len(members) > 1:
            seeds = [runs[m][0].data.tags.get("ablate.seeds", "?") for m in members]
            notes.append(
                f"{', '.join(members)}: one study run with seeds {', '.join(seeds)}, pooled "
                "(--pool-seeds): seeds averaged within each fold"
            )
        one_side = sorted({k for m in members[1:] for k in keys.one_side(home, m)})
        if one_side:
            shown = ", ".join(one_side[:SHOWN]) + (
                f" and {len(one_side) - SHOWN} more" if len(one_side) > SHOWN else ""
            )
            notes.append(
                f"{', '.join(members)}: logged by different versions of ablate, pooled on the "
                f"settings all record; {len(one_side)} are recorded by some only ({shown})"
            )
    return groups


def check_names(
    named: dict[str, list[str]],
    groups: dict[str, list[str]],
    parents: dict[str, Any],
    runs: dict[str, list[Any]],
) -> None:
    """Every key of each study name given to ``--pool-seeds`` pooled into one group, or a
    one-line error naming the first two keys that did not and why."""
    home_of = {member: home for home, members in groups.items() for member in members}
    for name, keys in named.items():
        homes = list(dict.fromkeys(home_of[key] for key in keys))
        if len(homes) < 2:
            continue
        first, second = homes[0], homes[1]
        why = _Keys({k: parents[k] for k in homes[:2]}, runs).why(first, second)
        raise AblateError(
            f"--pool-seeds '{name}': its {len(keys)} study keys do not pool into one study: "
            f"{first} and {second} differ in {why}; pass the keys to compare them side by side"
        )
