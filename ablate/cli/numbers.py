"""Number options that refuse NaN: ``click.FloatRange`` lets it through, as every
comparison with NaN is false."""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteRange(click.FloatRange):
    """A ``click.FloatRange`` that also refuses NaN (and infinities, where unbounded)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number.", param, ctx)
        return number
