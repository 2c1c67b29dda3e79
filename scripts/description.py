"""The API description read as openapi-python-client reads it, for every tool that compares or
copies it: YAML 1.2 (ruamel.yaml, the generator's loader), merge keys applied.

PyYAML reads YAML 1.1, where an unquoted ``on``, ``yes`` or ``off`` is a bool: an enum value the
generator keeps as text became ``True`` in what the gate and the mock's copy saw. Timestamps stay
the text they were written as (JSON and OpenAPI have no dates): an unquoted example such as
2026-01-01T00:00:00Z reaches the mock exactly as written.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor


class _TextTimestamps(SafeConstructor):
    """The safe constructor (no arbitrary objects), a timestamp kept as its text."""


_TextTimestamps.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


def load_description(text: str) -> Any:
    """``text`` as the generator reads it."""
    reader = YAML(typ="safe", pure=True)
    reader.Constructor = _TextTimestamps
    return reader.load(text)
