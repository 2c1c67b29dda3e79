"""Undo a response body's gzip ``Content-Encoding`` without ever holding more than the body cap.

The API's answers are about 200 bytes, so compression saves nothing; the SDK asks for ``gzip``
only (servers commonly send it anyway) and refuses every other coding with
``UndecodableBodyError`` rather than carry a decoder for each.

httpx2 decodes each chunk whole, so a body gzipped twice expands to gigabytes before a cap
counted after it could refuse it. Here each gzip layer decodes at most 64 KiB per step (zlib's
``max_length``) and each layer's output is counted against the limit as it is produced, so a
call holds about ``limit`` bytes plus a small constant per layer, whatever arrives on the wire.
"""

from __future__ import annotations

import zlib
from typing import Final

__all__ = ["ACCEPT_ENCODING", "BodyDecoder", "BodyTooLargeError", "UndecodableBodyError"]

ACCEPT_ENCODING: Final = "gzip"
# Decoded pieces smaller than this are gathered into one buffer (``BodyDecoder._keep``).
_GATHER: Final = 4 * 1024
# Real servers apply one coding, rarely two; each layer costs a 32 KiB window, so a header
# listing dozens must not allocate dozens.
MAX_LAYERS: Final = 4
# The most output the layers' steps may produce together, shared out between them: small enough
# to bound memory, large enough that a legitimate body decodes in few steps (64 KiB steps made
# a 900 KiB gzip body cost ~4% more CPU than httpx2's decoding, make bench).
_STEPS: Final = 256 * 1024
_GZIP: Final = zlib.MAX_WBITS | 16  # zlib's wbits for a gzip header and trailer
_GZIP_NAMES: Final = ("gzip", "x-gzip")
_QUOTED_CODING_CHARS: Final = 40


class BodyTooLargeError(Exception):
    """The body, on the wire or decoded at any layer, would pass the limit."""


class UndecodableBodyError(Exception):
    """The body is corrupt or truncated, or uses a coding other than gzip."""


class _GzipLayer:
    """One gzip layer being undone, member after member, NUL padding ignored (as gzip(1)).
    ``step`` returns at most ``room`` bytes; while ``pending()``, ``step(b"", room)`` has more
    output without new input."""

    __slots__ = ("_d", "_ended", "_full", "_spare", "fed", "produced")

    def __init__(self) -> None:
        self.produced = 0  # decoded bytes so far, counted against the limit
        self.fed = False  # whether any input arrived (an empty body decodes to nothing)
        self._d = zlib.decompressobj(_GZIP)
        self._full = False  # the last step filled its room: zlib may hold more output
        self._ended = False  # the current member is complete
        self._spare = b""  # input that followed its end, not yet looked at

    def step(self, data: bytes, room: int) -> bytes:
        if self._ended:  # what follows a member: NUL padding, or the next member
            data, self._spare = (self._spare + data).lstrip(b"\0"), b""
            if not data:
                return b""
            self._d, self._ended = zlib.decompressobj(_GZIP), False
        d = self._d
        try:
            out: bytes = d.decompress(data or d.unconsumed_tail, room)
        except zlib.error as exc:
            raise UndecodableBodyError(f"corrupt gzip data ({exc})") from None
        self._full = len(out) >= room
        if d.eof:  # zlib reports the end only once all of the member's output is out
            self._ended, self._spare = True, d.unused_data
        return out

    def pending(self) -> bool:
        if self._ended:
            return bool(self._spare)
        return self._full or bool(self._d.unconsumed_tail)

    def truncated(self) -> bool:
        return self.fed and not self._ended


def _parse(content_encoding: str) -> list[_GzipLayer]:
    """One layer per ``gzip`` listed (``identity`` is none); any other coding is refused."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in _GZIP_NAMES:
            quoted = repr(coding[:_QUOTED_CODING_CHARS])
            raise UndecodableBodyError(
                f"unsupported Content-Encoding {quoted} (the SDK asks for gzip only)"
            )
    if len(codings) > MAX_LAYERS:
        raise UndecodableBodyError(
            f"Content-Encoding lists {len(codings)} codings; at most {MAX_LAYERS} are decoded"
        )
    return [_GzipLayer() for _ in codings]


class BodyDecoder:
    """Feed the raw wire bytes in any chunking; ``finish()`` returns the decoded body.

    Raises ``BodyTooLargeError`` as soon as the wire bytes or any layer's decoded output pass
    ``limit``, and ``UndecodableBodyError`` for a coding other than gzip (at construction),
    corrupt data, or a stream cut short (at ``finish()``). An empty body decodes to ``b""``.
    """

    __slots__ = ("_layers", "_limit", "_parts", "_size", "_step", "_wire")

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        self._limit = limit
        self._size = 0  # bytes in _parts: the decoded body so far
        self._wire = 0  # bytes fed: empty gzip members decode to nothing, yet cost work
        # The pieces, joined once by finish(): a growing buffer copied again at the end cost
        # a 900 KiB body 1.4 ms more than httpx2's join (make bench). The first piece is kept
        # as it came (most bodies are one, returned without a copy); small pieces after it
        # are gathered in a bytearray, as a million 1-byte entries would cost ~40 bytes each.
        self._parts: list[bytes | bytearray] = []
        # Empty for identity: feed() then only counts and keeps, the hot path.
        self._layers = _parse(content_encoding) if content_encoding else []
        self._step = _STEPS // max(len(self._layers), 1)

    def feed(self, data: bytes) -> None:
        if not self._layers:
            self._keep(data)
        elif data:
            self._wire = self._count(self._wire, data)
            self._push(0, data)

    def finish(self) -> bytes:
        if any(layer.truncated() for layer in self._layers):
            raise UndecodableBodyError("the gzip data is truncated")
        parts = self._parts
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        return b"".join(parts)

    def _count(self, so_far: int, data: bytes) -> int:
        so_far += len(data)
        if so_far > self._limit:
            raise BodyTooLargeError(f"the body is larger than {self._limit} bytes")
        return so_far

    def _keep(self, data: bytes) -> None:
        self._size = self._count(self._size, data)
        parts = self._parts
        if not parts or len(data) >= _GATHER:
            if data:
                parts.append(data)
        elif isinstance(parts[-1], bytearray):
            parts[-1] += data
        else:
            parts.append(bytearray(data))

    def _push(self, index: int, data: bytes) -> None:
        """Decode ``data`` through layer ``index`` and hand each bounded step inward."""
        layer = self._layers[index]
        layer.fed = True
        inner = index + 1 < len(self._layers)
        while True:
            out = layer.step(data, min(self._step, self._limit - layer.produced + 1))
            data = b""
            if out:
                layer.produced = self._count(layer.produced, out)
                if inner:
                    self._push(index + 1, out)
                else:
                    self._keep(out)
            if not layer.pending():
                return
