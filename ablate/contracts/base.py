"""What every contract shares: the attributes the engine reads and their check."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

#: In ``Contract.reads``: the attribute has no default; the plugin must set it.
REQUIRED = object()


class Contract:
    """What the engine reads of a built component: ``reads`` maps each attribute to its
    default (``REQUIRED`` when there is none); ``counts`` maps the ones that are sizes to
    their least value; ``module`` asks for a ``torch.nn.Module``."""

    reads: ClassVar[dict[str, Any]] = {}
    counts: ClassVar[dict[str, int]] = {}
    module: ClassVar[bool] = False
    #: what a factory of this kind receives as its first argument (for messages and docs)
    context: ClassVar[str] = "None"

    @classmethod
    def problem(cls, obj: Any) -> str | None:
        """Why ``obj`` breaks the contract, or None; missing optional attributes are set."""
        if cls.module and not isinstance(obj, nn.Module):
            return f"returned {type(obj).__name__}, not a torch.nn.Module (subclass {cls.__name__})"
        needed = [name for name, default in cls.reads.items() if default is REQUIRED]
        missing = [name for name in needed if not hasattr(obj, name)]
        if missing:
            return f"has no attribute {', '.join(missing)} (see ablate.contracts.{cls.__name__})"
        for name, default in cls.reads.items():
            if not hasattr(obj, name):
                setattr(obj, name, default)
        for name, least in cls.counts.items():
            value = getattr(obj, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                return f"declares {name} = {value!r}; expected an int >= {least}"
        return None
