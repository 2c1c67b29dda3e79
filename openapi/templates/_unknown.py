"""Enum values the API sends that this package was not generated with (yet).

An API adds a value to an enum (a new platform) before every client is regenerated. While
``KEEP_UNKNOWN`` is set, which the code parsing the server's answers does, building an enum from
such a value gives a stand-in member that holds it: equal to its string, serialised as it came,
but none of the class's members (``value in Platform.__members__.values()`` is False). Anywhere
else, e.g. a value written in code, an unknown value stays a ``ValueError``.

Copied into the generated package by scripts/generate.py; its enums' ``_missing_`` call
``unknown_member``.
"""

from contextvars import ContextVar
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)

KEEP_UNKNOWN: ContextVar[bool] = ContextVar("tapti_api_client_keep_unknown", default=False)


def unknown_member(enum: type[E], value: object) -> E | None:
    """A stand-in member of ``enum`` for ``value`` while ``KEEP_UNKNOWN`` is set, else ``None``."""
    if not KEEP_UNKNOWN.get() or not isinstance(value, str):
        return None
    member = str.__new__(enum, value)
    member._name_ = value
    member._value_ = value
    return member
