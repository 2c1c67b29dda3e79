"""The time a call may still take, and what one attempt has seen on the wire.

httpx2 bounds each network operation, never a whole request: a server trickling one byte per
interval keeps a request alive for ever. A number given as ``timeout=`` is therefore turned into
a deadline for the whole call: the retry loop reads it before every wait (``Call.settle``), and
each attempt carries it to the SDK's own sockets (``Attempt.running``), which bound every read
and write by what is left of it (``_network``).
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import Any, Final

import httpx2

__all__ = ["CONNECT_TIMEOUT", "Attempt", "Deadline", "current_attempt"]

# A dead host is given up on after this long, leaving the rest of the budget for a retry.
CONNECT_TIMEOUT: Final = 5.0
# How much of the heads is followed: httpcore2 lets h11 read a head of up to 100 KiB, so a
# longer interim head counts as lost (``Attempt._lose``), not as skipped.
_HEAD_SCAN_LIMIT: Final = 64 * 1024
# First digits that prove an answer is no 2xx: an interim answer, or a final 3xx to 5xx.
_NOT_2XX: Final = frozenset(b"1345")
_FINAL_NOT_2XX: Final = frozenset(b"345")
_TLS_RECORD_TYPES: Final = frozenset({b"\x14", b"\x15", b"\x16", b"\x17"})


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
        left = self.at - time.monotonic()
        return left if left > 0.0 else 0.0

    def passed(self) -> bool:
        """Whether the call has a deadline and it has come."""
        return self.at is not None and time.monotonic() >= self.at

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
    """What one attempt has seen on the wire, counted by the network layer beneath httpcore2.

    ``may_be_2xx()`` tells whether a failed attempt may have been answered with a 2xx (then the
    token may exist and the call is never retried). ``head_end`` and ``received`` let the
    pipeline check, once the body is read, that the connection holds nothing past this answer
    (``clean_end``): bytes beyond it would be handed to the next caller as their answer.
    ``stream`` is the connection it opened, if any, which the pipeline closes when the attempt
    fails before an answer: httpcore2 leaves one open when a SOCKS proxy refuses it.
    """

    __slots__ = (
        "_chain",
        "_class",
        "_entered",
        "_lost",
        "_pending",
        "_skipped",
        "answered_unread",
        "cut_record",
        "deadline",
        "head_end",
        "length",
        "received",
        "stream",
        "tunnelling",
    )

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        # The last exception out of a socket call, with its cause and suppress flag as raised.
        self._chain: tuple[BaseException, BaseException | None, bool] | None = None
        self._entered: Token[Attempt | None] | None = None  # while running
        self.stream: Any = None  # a network stream (_network's), sync or async
        self.restart()

    def restart(self) -> None:
        """Forget what was read: TLS starts through a proxy tunnel, and what came before it was
        the proxy's answer, not the API's."""
        self.received = 0  # bytes read for this request, heads and body
        self.head_end: int | None = None  # where the final answer's head ended, once it did
        self.tunnelling = False  # a proxy's answer to CONNECT is being read
        self._class: int | None = None  # the first digit of the head being read, once known
        self._pending = b""  # the head being read (interim answers already skipped)
        self._skipped = 0  # bytes of interim answers before it
        self._lost = False  # the heads could not be followed: what came may be a 2xx
        self.answered_unread = False  # an answer waited unread when a write failed
        self.cut_record = False  # the connection ended or stalled inside a TLS record (_tls)
        self.length: int | None = None  # the final answer's body length, by its framing

    def running(self) -> Attempt:
        """``with attempt.running():`` makes this the current attempt, which the network layer
        bounds every read and write by (a context variable: each thread and task sees only its
        own). Once, in one thread or task: an attempt is one exchange. A class's ``__enter__``,
        not ``@contextmanager``: this runs on every call."""
        return self

    def __enter__(self) -> None:
        if self._entered is not None:  # its token would be overwritten, and never reset
            raise RuntimeError("an Attempt runs once at a time")
        self._entered = current_attempt.set(self)

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        chain, entered = self._chain, self._entered
        if exc is not None and chain is not None and chain[0] is exc:
            # The program's own exception, as raised: httpcore2's pool cleared its cause.
            exc.__cause__, exc.__suppress_context__ = chain[1], chain[2]
        # The exception's frames hold this attempt: no cycle outlives it, and the token (which
        # holds the task's or thread's whole context) is not kept past the exchange.
        self._chain = self._entered = None
        if entered is not None:
            current_attempt.reset(entered)

    def note_chain(self, exc: BaseException) -> None:
        """Keep ``exc``'s cause as it left a socket call, for ``running`` to give back."""
        self._chain = (exc, exc.__cause__, exc.__suppress_context__)

    def saw(self, data: bytes) -> None:
        self.received += len(data)
        if self.head_end is None and not self._lost:
            # A blank line may straddle two reads: look again from 3 bytes before the new ones,
            # so that a head trickled byte by byte is scanned once, not once per byte.
            start = max(len(self._pending) - 3, 0)
            self._pending += data
            self._scan(start)
            if self.head_end is None and len(self._pending) > _HEAD_SCAN_LIMIT:
                self._lose()  # a head longer than h11 may ever read whole: not followed

    def _lose(self) -> None:
        """Stop following the heads (one is too long, or an interim one h11 refuses): an
        interim class proves nothing any more, as a 2xx may sit in or after that head."""
        self._lost, self._pending = True, b""
        if self._class == ord("1"):
            self._class = None

    def _scan(self, start: int) -> None:
        """Skip the complete interim heads in ``_pending`` and read the class of the head
        after them; a blank line may begin at ``start`` at the earliest."""
        pending, at = self._pending, 0  # the head being read starts at ``at``
        while True:
            end = _head_end(pending, max(start, at))
            head = pending[at:] if end is None else pending[at:end]  # one copy of each head
            self._class = _status_class(head)
            if end is None:
                self._pending = head
                return
            if self._class != ord("1"):
                self.head_end, self._pending = self._skipped + end - at, b""
                return
            if not _one_interim_head(head):
                self._lose()
                return
            self._skipped += end - at
            at = end

    def body_left(self) -> int:
        """How many bytes of the final answer's body are still to come, by ``length`` (which
        the pipeline sets from the parsed head); 0 when not known."""
        if self.head_end is None or self.length is None:
            return 0
        return max(self.head_end + self.length - self.received, 0)

    def may_be_2xx(self) -> bool:
        """Whether the API may have answered this attempt with a 2xx, so that the token may
        exist: bytes of its final answer arrived, and they prove no other status. A cut, garbled
        or unusual status line counts, however many interim answers came first."""
        if self.tunnelling:
            return False  # nothing from the API yet: a proxy's answer
        if self.answered_unread:
            return True
        if self.cut_record and self._class not in _FINAL_NOT_2XX:
            return True  # part of a record came, maybe of a 2xx: TLS cannot show it until whole
        if self.received <= self._skipped:
            return False  # nothing from the API, or only interim answers
        return self._class not in _NOT_2XX

    def answered_in_tls(self) -> bool:
        """Whether the answer began as a TLS record (a handshake's or an alert's): a server of
        https:// reading this plain request as a broken hello. No HTTP answer begins so, and no
        token was made: this is no 2xx cut short (probe 38). ``_pipeline._failed`` asks it
        before ``may_be_2xx``."""
        head = self._pending  # a record: its type (20-23), then its version's first byte, 3
        return self._skipped == 0 and head[:1] in _TLS_RECORD_TYPES and head[1:2] == b"\x03"

    def saw_waiting(self, data: bytes) -> None:
        """``data`` waited unread when a write failed: a server may answer before it has read
        the whole request. Unless it plainly starts a 3xx to 5xx (TLS records cannot be read
        here), the attempt may have been answered with a 2xx."""
        status_class = _status_class(data)
        self.answered_unread = status_class is None or status_class not in b"345"

    def clean_end(self) -> bool:
        """Whether exactly one answer, of ``length`` body bytes, was read, nothing more. What
        may wait unread beneath is the network layer's to say (``holds_more``)."""
        return (
            self.length is not None
            and self.head_end is not None
            and self.received == self.head_end + self.length
        )


def _status_class(head: bytes) -> int | None:
    """The first digit of the status in ``head``'s status line, read leniently (any case,
    version or padding h11 would refuse), or ``None`` when it starts no status line (yet).

    Written out, not a pattern: compiling one costs a cold start 0.1 ms (make bench, figure 1).
    Only the first line is read (``_scan`` hands it one head, or what has come of one).
    """
    line = head.lstrip()
    newline = line.find(b"\n")  # no part of a status line is a newline
    if newline != -1:
        line = line[:newline]
    if line[:5].upper() != b"HTTP/":
        return None
    rest = line[5:]
    version = rest.split(None, 1)[0] if rest[:1].strip() else b""
    after_version = rest[len(version) :]
    status = after_version.lstrip(b" \t")
    if len(status) == len(after_version):
        return None  # no space or tab after the version
    digits = status.lstrip(b"0")
    if digits[:1].isdigit():
        return digits[0]
    return ord("0") if len(digits) < len(status) else None


def _one_interim_head(head: bytes) -> bool:
    """Whether an interim answer's head is one head and nothing else: a bare CR (which h11
    refuses) or a later line starting a status line means a final answer may sit inside it."""
    if b"\r" in head.replace(b"\r\n", b""):
        return False
    return not any(line.lstrip().upper().startswith(b"HTTP/") for line in head.split(b"\n")[1:])


def _head_end(data: bytes, start: int) -> int | None:
    """Where the first blank line found from ``start`` on ends (the end of a head), or
    ``None``. h11 accepts bare LF line ends too, so either line end may lack its CR.

    From line end to line end: a search for the blank line itself would run on through the
    body after the head (64 KiB read with it) whenever the head's ends are not the ones
    searched for."""
    line_end = data.find(b"\n", start)
    while line_end != -1:
        if data[line_end + 1 : line_end + 2] == b"\n":
            return line_end + 2
        if data[line_end + 1 : line_end + 3] == b"\r\n":
            return line_end + 3
        line_end = data.find(b"\n", line_end + 1)
    return None


current_attempt: ContextVar[Attempt | None] = ContextVar("tapti_attempt", default=None)
