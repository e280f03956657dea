"""A corpus adapter's scan: it must return a :class:`ablate.corpus.ScanResult` of
:class:`ablate.corpus.Utterance` s."""

from __future__ import annotations

from typing import Any

from ablate.corpus import ScanResult, Utterance
from ablate.errors import AblateError


def check_scan(result: Any, plugin: str) -> ScanResult:
    """``result`` if it is a scan result; ``plugin`` names the adapter in the error."""
    if not isinstance(result, ScanResult):
        raise AblateError(
            f"data.dataset: {plugin} scan() returned {type(result).__name__}, not a ScanResult"
        )
    wrong = next((u for u in result.utterances if not isinstance(u, Utterance)), None)
    if wrong is not None:
        raise AblateError(
            f"data.dataset: {plugin} scan() listed a {type(wrong).__name__}, not an Utterance"
        )
    return result
