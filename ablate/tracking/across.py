"""One question asked of several corpora (or studies): ``ablate compare --across``.

Each source (``STUDY[,STUDY...][@TRACKING_URI]``: a study, or studies pooled with
``--pool-seeds``, in its own store) is compared on its own, every arm against the arm
``--reference`` names in it, paired over that source's test units as ``ablate compare``
pairs them. An arm is one claim: the arms ``--arm`` names (a part of each source's arm
name, so arms match across stores whose study keys or plugin parameters differ), or else
every arm name found in two or more sources. Per claim: each source's difference with
its interval, p, verdict and minimum detectable effect, then the sources combined
(:mod:`.meta`): random effects (a corpus like these) and common effect (these corpora),
each with its verdict. Verdicts are Holm-corrected over the claims: within each source,
and over the combined rows of each kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ablate.errors import AblateError
from ablate.tracking.compare import Analysis, Verdict, analyse, declared_margin
from ablate.tracking.meta import Combined, common_effect, random_effects
from ablate.tracking.mlflow_store import STUDY_KEY_TAG, Store
from ablate.tracking.stats import Paired
from ablate.tracking.tables import PValue
from ablate.tracking.verdicts import Comparison, cells, judge

RANDOM, COMMON = "combined: random effects", "combined: common effect"


@dataclass
class Source:
    """A corpus or study the question is asked of: its label and its analysis."""

    label: str
    analysis: Analysis


@dataclass
class Claim:
    """One arm against the reference on every source, and combined."""

    name: str
    by_source: dict[str, Comparison]
    combined: dict[str, tuple[Combined, Comparison]]


def parse(spec: str, default_uri: str) -> tuple[list[str], str]:
    """``STUDY[,STUDY...][@URI]`` -> the studies and the tracking URI."""
    studies, _, uri = spec.partition("@")
    names = [s for s in studies.split(",") if s]
    if not names:
        raise AblateError(f"'{spec}': expected STUDY[,STUDY...][@TRACKING_URI]")
    return names, uri or default_uri


def load(
    specs: list[str],
    default_uri: str,
    metric: str,
    reference: str,
    pool_seeds: bool,
    margin: float | None,
) -> tuple[list[Source], float | None]:
    """Each source's analysis against ``reference``, and the margin they share."""
    analyses, stores = [], []
    for spec in specs:
        studies, uri = parse(spec, default_uri)
        store = Store(uri, create=False)
        analyses.append(analyse(store, studies, metric, reference, pool_seeds, margin))
        stores.append(uri.rstrip("/").rsplit("/", 1)[-1])
    if margin is None:
        margin = declared_margin([p for a in analyses for p in a.parents])
    labels = [_label(a) for a in analyses]
    labels = [
        f"{text} [{store}]" if labels.count(text) > 1 else text
        for text, store in zip(labels, stores, strict=True)
    ]
    labels = [
        f"{text} ({i + 1})" if labels.count(text) > 1 else text for i, text in enumerate(labels)
    ]
    _check_independent(analyses, labels)
    return [Source(text, a) for text, a in zip(labels, analyses, strict=True)], margin


def _check_independent(analyses: list[Analysis], labels: list[str]) -> None:
    """Sources must not share a test fold (a speaker-independent fold is its corpus,
    classes and test speakers): one corpus given twice is one measurement, not two."""
    seen: dict[str, tuple[str, str]] = {}
    for analysis, label in zip(analyses, labels, strict=True):
        folds = {i: name for v in analysis.verdicts for i, name in v.arm.folds.items()}
        for fold, name in folds.items():
            other = seen.get(fold)
            if other is not None and other[0] != label:
                raise AblateError(
                    f"{other[0]} and {label} share a test fold ({name}) of one corpus: --across "
                    "combines independent sources (other corpora, or other speakers)"
                )
            seen.setdefault(fold, (label, name))


def _label(analysis: Analysis) -> str:
    """``emodb: patch_shape``: the corpus the studies ran on, and the studies."""
    parents = analysis.parents
    corpora = sorted({p.data.params.get("data.dataset", "") for p in parents} - {""})
    names = sorted({p.data.tags.get("ablate.study", p.data.tags[STUDY_KEY_TAG]) for p in parents})
    return f"{'+'.join(corpora) or 'corpus?'}: {'+'.join(names)}"


def claims(sources: list[Source], arms: list[str], margin: float | None) -> list[Claim]:
    """Per claim, each source's comparison and the combined estimates (module docstring).
    The sources must be independent: other corpora, or other speakers; one corpus in two
    stores is one corpus measured twice, not two."""
    matched: dict[str, dict[str, Verdict]] = {}
    for source in sources:
        others = [v for v in source.analysis.verdicts if v is not source.analysis.reference]
        for name, verdict in _matched(others, arms, source.label).items():
            matched.setdefault(name, {})[source.label] = verdict
    matched = {name: found for name, found in matched.items() if len(found) >= 2 or arms}
    if not matched:
        raise AblateError(
            "--across: no arm is in two or more sources; name the arms to combine with --arm"
        )
    per_source = {
        s.label: judge(
            {n: f[s.label].comparison.paired for n, f in matched.items() if s.label in f}, margin
        )[0]
        for s in sources
    }
    combined = {kind: _combine(matched, kind) for kind in (RANDOM, COMMON)}
    judged = {kind: judge({n: _as_paired(c) for n, c in combined[kind].items()}, margin)[0]
              for kind in combined}  # fmt: skip
    return [
        Claim(
            name,
            {label: per_source[label][name] for label in found},
            {kind: (combined[kind][name], judged[kind][name]) for kind in combined},
        )
        for name, found in matched.items()
    ]


def _matched(verdicts: list[Verdict], arms: list[str], where: str) -> dict[str, Verdict]:
    """The arms of one source by claim name: each ``--arm`` pattern's one arm, or every
    arm under its own name."""
    if not arms:
        return {v.arm.name: v for v in verdicts}
    out = {}
    for pattern in arms:
        found = [v for v in verdicts if v.arm.name == pattern] or [
            v for v in verdicts if pattern in v.arm.name
        ]
        if len(found) > 1:
            names = "; ".join(v.arm.name for v in found)
            raise AblateError(f"--arm '{pattern}' matches several arms of {where}: {names}")
        if found:
            out[pattern] = found[0]
    return out


def _combine(matched: dict[str, dict[str, Verdict]], kind: str) -> dict[str, Combined]:
    out = {}
    for name, found in matched.items():
        pairs = [v.comparison.paired for v in found.values()]
        usable = [c for c in pairs if c.se > 0]
        effects, variances = [c.diff for c in usable], [c.se**2 for c in usable]
        out[name] = (
            random_effects(effects, variances)
            if kind == RANDOM
            else common_effect(effects, variances, [c.df for c in usable])
        )
    return out


def _as_paired(c: Combined) -> Paired:
    return Paired(c.estimate, c.low, c.high, c.p, c.k, c.se, c.df)


def rows(claims_: list[Claim], margin: float | None) -> list[dict[str, Any]]:
    """One row per claim and source, then the claim's combined rows."""
    out = []
    for claim in claims_:
        for label, compared in claim.by_source.items():
            out.append(
                {"claim": claim.name, "source": label}
                | {"units": compared.paired.n}
                | cells(compared, margin, counts=_df)
            )
        for kind, (combined, compared) in claim.combined.items():
            heterogeneity = {
                "tau2": combined.tau2,
                "i2": combined.i2,
                "q": combined.q,
                "q_p": PValue(combined.q_p),
            }
            out.append(
                {"claim": claim.name, "source": f"{kind} ({combined.k})"}
                | {"units": compared.paired.n}
                | cells(compared, margin, counts=_df)
                | heterogeneity
            )
    return out


def _df(c: Paired) -> dict[str, Any]:
    return {"df": c.df}


def caption(sources: list[Source], reference: str, margin: float | None, claims_: int) -> str:
    units = sorted({s.analysis.unit for s in sources})
    equivalence = (
        f"equivalent = within ±{margin:g} (two one-sided tests)"
        if margin
        else ("equivalent: not tested, no margin declared")
    )
    return (
        f"diff = arm - the arm matching '{reference}', paired over each source's test "
        f"{'/'.join(units)}s (units), seeds averaged first, with its 95% t-interval on df "
        "degrees of freedom. Combined over the sources: random effects (REML tau2, "
        "modified Hartung-Knapp interval on k - 1 df: a corpus like these) and common "
        "effect (inverse-variance weighted, Welch-Satterthwaite df: these corpora); "
        "heterogeneity: tau2, I2 and Cochran's Q with its p (q_p). verdict: better / worse "
        f"= Holm-adjusted p <= 0.05 over the {claims_} claim(s) (within each source, and "
        f"over each kind of combined row); {equivalence}; inconclusive = neither. mde = the "
        "difference found with 80% power at Holm's first-step level."
    )
