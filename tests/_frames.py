"""The frames an error reporter walks: an exception's traceback and its whole chain's."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from types import FrameType


def chain_frames(exc: BaseException) -> Iterator[FrameType]:
    """The frames of ``exc``'s traceback and of every exception in its cause and context
    chain, each exception once."""
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield from (frame for frame, _ in traceback.walk_tb(current.__traceback__))
        pending += [current.__cause__, current.__context__]
