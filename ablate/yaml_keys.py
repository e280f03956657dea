"""A YAML loader that refuses a key given twice in one mapping.

PyYAML keeps the last of two equal keys without a word: a second ``train:`` section
dropped the first one's ``lr``, and a second ``model.pos_encoding`` under ``space:``
replaced a two-value choice (one trial instead of two). Otherwise ``yaml.SafeLoader``:
no Python objects are built from tags.
"""

from __future__ import annotations

from typing import Any

import yaml

_MERGE = "tag:yaml.org,2002:merge"


class DuplicateKey(yaml.YAMLError):
    """``key`` appears at line ``first`` and again at line ``second`` (1-based)."""

    def __init__(self, key: Any, first: int, second: int):
        where = f"lines {first} and {second}" if first != second else f"line {first}, twice"
        super().__init__(
            f"duplicate key {key!r} at {where} (YAML would silently keep only the last); "
            "give each key once"
        )
        self.key, self.first, self.second = key, first, second


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` raising :class:`DuplicateKey` for a key given twice."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue  # ``<<: *base``: keys given beside it override it, by design
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise DuplicateKey(key, seen[key], line)
                    seen[key] = line
                except TypeError:
                    continue  # an unhashable key: the constructor reports it
        return super().construct_mapping(node, deep=deep)
