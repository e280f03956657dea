"""``ablate compare --across``: the claims table per arm, in the format asked for."""

from __future__ import annotations

import click

from ablate.cli.output import console


def across_command(
    specs: tuple[str, ...],
    tracking_uri: str,
    fmt: str,
    metric: str,
    reference: str | None,
    pool_seeds: bool,
    margin: float | None,
    arms: tuple[str, ...],
) -> None:
    """Compare each arm with ``reference`` in every source, then combine the sources
    (:mod:`ablate.tracking.across`)."""
    from rich.text import Text

    from ablate.cli.output import print_rows
    from ablate.errors import AblateError
    from ablate.tracking import across, tables

    if not reference:
        raise AblateError(
            "--across needs --reference ARM: the arm every source's others are compared with"
        )
    if len(specs) < 2:
        raise AblateError("--across combines two or more sources (STUDY[,STUDY...][@URI])")
    sources, margin = across.load(list(specs), tracking_uri, metric, reference, pool_seeds, margin)
    claims = across.claims(sources, list(arms), margin)
    table = across.rows(claims, margin)
    caption = across.caption(sources, reference, margin, len(claims))
    notes = [f"{s.label}: {n}" for s in sources for n in s.analysis.notes]
    if fmt == "csv":
        for note in notes:
            click.echo(f"note: {note}", err=True)
        click.echo(tables.to_csv(table), nl=False)
        return
    for claim in claims:
        part = [row for row in table if row["claim"] == claim.name]
        title = f"{claim.name} against {reference}, {metric}"
        if fmt == "markdown":
            shown = [{k: v for k, v in row.items() if k != "claim"} for row in part]
            click.echo(f"#### {title}\n\n{tables.markdown(shown)}\n", nl=False)
        else:
            print_rows([_text(row) for row in part], title)
    if fmt == "markdown":
        click.echo(f"*{caption}*\n" + "".join(f"\nNote: {n}\n" for n in notes), nl=False)
        return
    console.print(Text(caption))
    for note in notes:
        console.print(f"note: {note}")


def _text(row: dict) -> dict[str, str]:
    """A claim row in few columns for the terminal."""
    from ablate.tracking.tables import cell

    def joined(*keys: str) -> str:
        return " ".join(v for v in (cell(row.get(k)) for k in keys) if v)

    p = cell(row.get("p"))
    parts = [
        (name, cell(row.get(key))) for name, key in (("tau2", "tau2"), ("I2", "i2"), ("Q", "q"))
    ]
    heterogeneity = ", ".join(f"{name} {value}" for name, value in parts if value)
    if heterogeneity:
        heterogeneity += f" (p {cell(row.get('q_p'))})"
    return {
        "source": str(row["source"]),
        "units": cell(row.get("units")),
        "diff [95% CI]": joined("diff", "diff_ci95"),
        "p (Holm)": f"{p} ({cell(row.get('p_holm'))})" if p else "",
        "verdict": cell(row.get("verdict")),
        "MDE": cell(row.get("mde")),
        "heterogeneity": heterogeneity,
    }
