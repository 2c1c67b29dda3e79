"""``BodyDecoder``: every content coding undone in bounded steps, every layer counted.

Unit tests, no network: 1, 2 and 3 layers; bombs (memory measured with tracemalloc, which sees
zlib's own allocations too); truncated and corrupt data; identity; every chunking of a small
body; codings that cannot be decoded bounded. br and zstd run where a bounded decoder for them
is installed.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Iterable, Iterator

import pytest
from _bodies import MIB, bomb, bounded_brotli, bounded_zstd, encode, raw_deflate, token_body

from tapti_ext import _decode
from tapti_ext._decode import (
    ACCEPT_ENCODING,
    BodyDecoder,
    BodyTooLargeError,
    UndecodableBodyError,
)

LIMIT = MIB
BODY = token_body("user_123") * 3
_needs_br = pytest.mark.skipif(bounded_brotli() is None, reason="no brotli 1.2+ installed")
_needs_zstd = pytest.mark.skipif(bounded_zstd() is None, reason="no bounded zstd installed")


def decode(content_encoding: str | None, chunks: Iterable[bytes], limit: int = LIMIT) -> bytes:
    decoder = BodyDecoder(content_encoding, limit)
    for chunk in chunks:
        decoder.feed(chunk)
    return decoder.finish()


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# --- identity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "identity", " Identity ,identity", ","])
def test_identity_returns_the_bytes_as_fed(header: str | None) -> None:
    assert decode(header, [BODY[:5], b"", BODY[5:]]) == BODY
    assert decode(header, []) == b""


def test_identity_single_chunk_is_returned_without_a_copy() -> None:
    assert decode(None, [BODY]) is BODY


@pytest.mark.parametrize("header", [None, "gzip"])
def test_pieces_of_every_size_join_in_order(header: str | None) -> None:
    body = bytes(range(256)) * 400  # 100 KiB, incompressible enough to need several steps
    wire = body if header is None else encode(body, header)
    sizes = [1, 5000, 3, 3, 70_000, 1, 4096, 4095]
    chunks, start = [], 0
    for size in sizes * 10:
        chunks.append(wire[start : start + size])
        start += size
    chunks.append(wire[start:])
    assert decode(header, chunks) == body


def test_a_body_trickled_byte_by_byte_holds_about_its_own_size() -> None:
    # Kept as a million one-byte objects, 1 MiB would cost ~40 MiB.
    size = 200_000
    tracemalloc.start()
    try:
        decoder = BodyDecoder(None, LIMIT)
        for _ in range(size):
            decoder.feed(b"x")
        held = tracemalloc.get_traced_memory()[0]
        assert decoder.finish() == b"x" * size
    finally:
        tracemalloc.stop()
    assert held < 2 * size, f"{held} bytes held for a {size}-byte body"


def test_identity_over_the_limit_raises_while_feeding() -> None:
    decoder = BodyDecoder(None, 10)
    decoder.feed(b"x" * 6)
    decoder.feed(b"x" * 4)  # exactly the limit: still fine
    with pytest.raises(BodyTooLargeError, match="10 bytes"):
        decoder.feed(b"x")


# --- one, two and three layers -------------------------------------------------------------------

LAYERED = [
    "gzip",
    "deflate",
    "gzip, gzip",
    "deflate, gzip",
    "gzip, deflate",
    "gzip, gzip, gzip",
    "deflate, deflate, gzip",
]


@pytest.mark.parametrize("header", LAYERED)
def test_layers_round_trip(header: str) -> None:
    wire = encode(BODY, header)
    assert decode(header, [wire]) == BODY
    assert decode(header, pieces(wire, 7)) == BODY


@pytest.mark.parametrize(
    ("header", "applied"),
    [
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("X-GZip", "gzip"),
        ("  gzip  ,   gzip ", "gzip, gzip"),
        ("gzip,,gzip", "gzip, gzip"),
        ("identity, gzip, identity", "gzip"),
        ("Deflate", "deflate"),
    ],
)
def test_header_is_case_and_space_insensitive(header: str, applied: str) -> None:
    assert decode(header, [encode(BODY, applied)]) == BODY


def test_deflate_accepts_raw_streams_as_httpx_does() -> None:
    wire = raw_deflate(BODY)
    assert decode("deflate", [wire]) == BODY
    assert decode("deflate", pieces(wire, 1)) == BODY
    assert decode("deflate, gzip", [gzip.compress(raw_deflate(BODY))]) == BODY


def test_gzip_members_follow_one_another_and_nul_padding_is_ignored() -> None:
    two = gzip.compress(BODY) + gzip.compress(b"tail")
    assert decode("gzip", [two]) == BODY + b"tail"
    assert decode("gzip", pieces(two, 3)) == BODY + b"tail"
    padded = gzip.compress(BODY) + b"\0" * 100
    assert decode("gzip", pieces(padded, 9)) == BODY


def test_empty_body_decodes_to_nothing_whatever_the_coding() -> None:
    for header in ("gzip", "deflate", "gzip, gzip"):
        assert decode(header, []) == b""
        assert decode(header, [b""]) == b""


def test_a_body_of_exactly_the_limit_is_accepted() -> None:
    body = b"a" * 1000
    assert decode("gzip, deflate", [encode(body, "gzip, deflate")], limit=1000) == body
    with pytest.raises(BodyTooLargeError):
        decode("gzip, deflate", [encode(body, "gzip, deflate")], limit=999)


# --- every chunking of a small body ------------------------------------------------------------


@pytest.mark.parametrize("header", ["gzip", "deflate", "gzip, deflate", "gzip, gzip, gzip"])
def test_every_split_point_and_single_bytes(header: str) -> None:
    wire = encode(b'{"oauth_portal_url": "https://p.example/?sdk_token=t"}', header)
    expected = decode(header, [wire])
    for cut in range(len(wire) + 1):
        assert decode(header, [wire[:cut], wire[cut:]]) == expected, f"split at {cut}"
    for cut in range(0, len(wire), 5):
        chunks = [wire[:cut], b"", wire[cut : cut + 3], wire[cut + 3 :]]
        assert decode(header, chunks) == expected, f"three-way split at {cut}"
    assert decode(header, pieces(wire, 1)) == expected


def test_raw_deflate_every_split_point() -> None:
    wire = raw_deflate(BODY)
    for cut in range(len(wire) + 1):
        assert decode("deflate", [wire[:cut], wire[cut:]]) == BODY, f"split at {cut}"


# --- bombs ---------------------------------------------------------------------------------------


def _peak_while(header: str, wire: bytes, limit: int = LIMIT, chunk: int = 64 * 1024) -> int:
    """Decode (expecting refusal) and return the peak bytes allocated meanwhile."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with pytest.raises(BodyTooLargeError):
            decode(header, pieces(wire, chunk), limit)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("header", "mib"),
    [
        ("gzip", 1000),
        ("deflate", 1000),
        ("gzip, gzip", 1024),
        ("deflate, gzip", 1024),
        ("gzip, gzip, gzip", 1024),
    ],
)
def test_bombs_are_refused_holding_about_the_limit(header: str, mib: int) -> None:
    wire = bomb(header, mib)
    peak = _peak_while(header, wire)
    # The decoded limit, plus a step and a window per layer, plus the wire chunk in flight.
    assert peak < LIMIT + 1 * MIB, f"{header}: peak {peak / MIB:.1f} MiB"


def test_a_small_limit_bounds_memory_too() -> None:
    peak = _peak_while("gzip, gzip", bomb("gzip, gzip", 1024), limit=10_000)
    assert peak < 1 * MIB, f"peak {peak / MIB:.2f} MiB"


def test_every_layer_counts_even_when_the_final_output_is_small() -> None:
    """An inner stream of empty gzip members decodes to nothing, but each member is work: the
    intermediate layer's output passes the limit, which must stop it."""
    empty_member = gzip.compress(b"", mtime=0)
    inner = gzip.compress(b"ok") + empty_member * (2 * LIMIT // len(empty_member))
    wire = gzip.compress(inner, mtime=0)
    assert len(wire) < 64 * 1024
    with pytest.raises(BodyTooLargeError):
        decode("gzip, gzip", [wire])


def test_bomb_is_refused_during_feed_not_only_at_finish() -> None:
    decoder = BodyDecoder("gzip, gzip", LIMIT)
    with pytest.raises(BodyTooLargeError, match=str(LIMIT)):
        decoder.feed(bomb("gzip, gzip", 1024))


# --- truncated and corrupt ----------------------------------------------------------------------


@pytest.mark.parametrize("header", ["gzip", "deflate", "gzip, gzip", "deflate, gzip"])
def test_truncated_data_is_refused_at_finish(header: str) -> None:
    wire = encode(BODY, header)
    for cut in (1, len(wire) // 2, len(wire) - 1):
        with pytest.raises(UndecodableBodyError, match=r"truncated|corrupt"):
            decode(header, [wire[:cut]])


def test_truncated_raw_deflate_is_refused() -> None:
    wire = raw_deflate(BODY)
    with pytest.raises(UndecodableBodyError, match="deflate"):
        decode("deflate", [wire[: len(wire) // 2]])


@pytest.mark.parametrize(
    ("header", "wire"),
    [
        ("gzip", b"this is not gzip at all"),
        ("gzip", gzip.compress(BODY)[:-8] + b"\0\0\0\0" + gzip.compress(BODY)[-4:]),  # bad CRC
        ("gzip", gzip.compress(BODY) + b"trailing garbage"),
        ("deflate", zlib.compress(BODY) + b"trailing"),
        ("deflate", b"\xff" * 40),
        ("gzip, gzip", gzip.compress(b"inner is not gzip")),
    ],
)
def test_corrupt_data_is_refused_naming_the_coding(header: str, wire: bytes) -> None:
    with pytest.raises(UndecodableBodyError, match=r"gzip|deflate") as info:
        decode(header, pieces(wire, 4))
    assert info.value.__cause__ is None or not isinstance(info.value.__cause__, MemoryError)


# --- codings that cannot be decoded bounded -----------------------------------------------------


@pytest.mark.parametrize("header", ["compress", "x-compress", "gzip, snappy", "aes128gcm"])
def test_unknown_coding_is_refused_at_construction_naming_it(header: str) -> None:
    unknown = header.rsplit(",", maxsplit=1)[-1].strip()
    with pytest.raises(UndecodableBodyError, match=unknown):
        BodyDecoder(header, LIMIT)


def test_a_long_unknown_coding_is_quoted_short() -> None:
    with pytest.raises(UndecodableBodyError) as info:
        BodyDecoder("z" * 10_000, LIMIT)
    assert len(str(info.value)) < 200


def test_too_many_layers_are_refused() -> None:
    header = ", ".join(["gzip"] * (_decode.MAX_LAYERS + 1))
    with pytest.raises(UndecodableBodyError, match="codings"):
        BodyDecoder(header, LIMIT)
    allowed = ", ".join(["gzip"] * _decode.MAX_LAYERS)
    assert decode(allowed, [encode(BODY, allowed)]) == BODY


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_br_and_zstd_without_a_bounded_decoder_are_refused(
    coding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_decode, "_brotli", None)
    monkeypatch.setattr(_decode, "_zstd", None)
    with pytest.raises(UndecodableBodyError, match=coding):
        BodyDecoder(coding, LIMIT)
    with pytest.raises(UndecodableBodyError, match=coding):
        BodyDecoder(f"gzip, {coding}", LIMIT)


def test_accept_encoding_lists_exactly_what_decodes() -> None:
    offered = [c.strip() for c in ACCEPT_ENCODING.split(",")]
    assert offered[:2] == ["gzip", "deflate"]
    assert ("br" in offered) == (bounded_brotli() is not None)
    assert ("zstd" in offered) == (bounded_zstd() is not None)
    for coding in offered:
        BodyDecoder(coding, LIMIT)  # each one offered is accepted


def test_an_old_brotli_without_an_output_limit_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """brotli < 1.2 (and brotlipy) decode each chunk whole: the SDK must not use them."""

    class OldDecompressor:
        def process(self, data: bytes) -> bytes:
            raise AssertionError("an unbounded brotli must never be called")

    class OldBrotli:
        Decompressor = OldDecompressor
        error = Exception

    monkeypatch.setattr(_decode.importlib, "import_module", lambda name: OldBrotli)
    assert _decode._load_brotli() is None


# --- br and zstd, where installed ----------------------------------------------------------------


@_needs_br
@pytest.mark.parametrize("header", ["br", "gzip, br", "br, gzip"])
def test_brotli_round_trip_bombs_and_truncation(header: str) -> None:
    wire = encode(BODY, header)
    assert decode(header, pieces(wire, 1)) == BODY
    with pytest.raises(UndecodableBodyError, match=r"br|gzip"):
        decode(header, [wire[:-3]])
    assert _peak_while(header, bomb(header, 1024)) < LIMIT + 1 * MIB


@_needs_zstd
@pytest.mark.parametrize("header", ["zstd", "gzip, zstd", "zstd, deflate"])
def test_zstd_round_trip_bombs_and_truncation(header: str) -> None:
    wire = encode(BODY, header)
    assert decode(header, pieces(wire, 1)) == BODY
    with pytest.raises(UndecodableBodyError, match=r"zstd|deflate"):
        decode(header, [wire[:-3]])
    assert _peak_while(header, bomb(header, 1024)) < LIMIT + 1 * MIB


@_needs_zstd
def test_zstd_frames_follow_one_another_and_huge_windows_are_refused() -> None:
    zstd = bounded_zstd()
    two = zstd.compress(b"one") + zstd.compress(b"two")
    assert decode("zstd", pieces(two, 2)) == b"onetwo"
    maker = zstd.ZstdCompressor(options={zstd.CompressionParameter.window_log: 27})
    huge_window = maker.compress(b"x" * 1000) + maker.flush()
    with pytest.raises(UndecodableBodyError, match="zstd"):
        decode("zstd", [huge_window])
