"""The frames an error reporter walks: an exception's traceback and its whole chain's."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import tapti_ext

_SDK = Path(tapti_ext.__file__).parent


def chain_frames(exc: BaseException) -> Iterator[FrameType]:
    """The frames of ``exc``'s traceback and of every exception in its cause and context
    chain, each exception once, and the SDK's callers each traceback's first frame still links
    to (``f_back``: a frame kept past its return keeps its caller's, probe 20b)."""
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield from (frame for frame, _ in traceback.walk_tb(current.__traceback__))
        caller = current.__traceback__.tb_frame.f_back if current.__traceback__ else None
        while caller is not None and Path(caller.f_code.co_filename).is_relative_to(_SDK):
            yield caller  # the SDK's own: past them, the caller's frames, still running
            caller = caller.f_back
        pending += [current.__cause__, current.__context__]
