"""The time a call may still take, and what one attempt has seen on the wire.

httpx2 bounds each network operation, never a whole request: a server trickling one byte per
interval keeps a request alive for ever. A number given as ``timeout=`` is therefore turned into
a deadline for the whole call, which the SDK's own connections read before every read and write
(``_network``) and the retry loop reads before every wait (``Call.settle``).
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from typing import Final

import httpx2

__all__ = ["CONNECT_TIMEOUT", "Attempt", "Deadline", "current_attempt"]

# A dead host is given up on after this long, leaving the rest of the budget for a retry.
CONNECT_TIMEOUT: Final = 5.0
# Enough of an answer's head to find its status line after any interim (1xx) responses.
_HEAD_BYTES: Final = 16 * 1024
# A status line at the start of the answer or after a blank line (an interim response's end).
# (Compiled, and cached by ``re``, on the first failure only.)
_STATUS_LINE: Final = rb"(?:\A|\r?\n\r?\n)HTTP/1\.[01] (\d)\d\d"


class Deadline:
    """The moment a call must have ended, or none (``httpx2.Timeout`` or ``None`` given)."""

    __slots__ = ("at", "budget", "per_operation")

    def __init__(self, timeout: float | httpx2.Timeout | None) -> None:
        if isinstance(timeout, httpx2.Timeout):
            self.budget: float | None = None
            self.per_operation: dict[str, float | None] = timeout.as_dict()
        else:
            self.budget = timeout
            self.per_operation = {}
        self.at = None if self.budget is None else time.monotonic() + self.budget

    def remaining(self) -> float | None:
        """Seconds left, never negative; ``None`` when the call has no overall bound."""
        if self.at is None:
            return None
        return max(self.at - time.monotonic(), 0.0)

    def timeouts(self) -> dict[str, float | None]:
        """The per-operation timeouts for the next attempt: what is left of the budget."""
        left = self.remaining()
        if left is None:
            return self.per_operation or dict.fromkeys(("connect", "read", "write", "pool"))
        connect = min(left, CONNECT_TIMEOUT)
        return {"connect": connect, "read": left, "write": left, "pool": left}

    def allows_wait(self, seconds: float) -> bool:
        """Whether a wait of ``seconds`` would still end before the deadline."""
        left = self.remaining()
        return left is None or seconds < left


class Attempt:
    """One attempt's shared state, read by the network layer beneath httpcore2.

    ``head`` keeps the first bytes received for the request, so that a failure after a 2xx
    status line (the token already issued) is told apart from one before any answer, even when
    interim answers (``100 Continue``, ``103 Early Hints``) came first.
    """

    __slots__ = ("deadline", "head")

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.head = bytearray()

    def saw(self, data: bytes) -> None:
        room = _HEAD_BYTES - len(self.head)
        if room > 0:
            self.head += data[:room]

    def answered_2xx(self) -> bool:
        """Whether the final status line that arrived is a success (``HTTP/1.x 2..``)."""
        classes = re.findall(_STATUS_LINE, self.head)
        return bool(classes) and classes[-1] == b"2"


# Context-local, so each thread and each task sees only its own attempt.
current_attempt: ContextVar[Attempt | None] = ContextVar("tapti_attempt", default=None)
