"""``BodyDecoder``: gzip undone in bounded steps, every layer counted; every other coding refused.

Unit tests, no network: 1 to 4 gzip layers; bombs (memory measured with tracemalloc, which sees
zlib's own allocations too); truncated and corrupt data; identity; every chunking of a small
body; codings other than gzip, refused by name.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Iterable, Iterator

import pytest
from _bodies import MIB, bomb, gzipped, token_body

from tapti_ext import _decode
from tapti_ext._decode import (
    ACCEPT_ENCODING,
    MAX_LAYERS,
    BodyDecoder,
    BodyTooLargeError,
    UndecodableBodyError,
)

LIMIT = MIB
BODY = token_body("user_123") * 3


def decode(content_encoding: str | None, chunks: Iterable[bytes], limit: int = LIMIT) -> bytes:
    decoder = BodyDecoder(content_encoding, limit)
    for chunk in chunks:
        decoder.feed(chunk)
    return decoder.finish()


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def header(layers: int) -> str:
    return ", ".join(["gzip"] * layers)


# --- identity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("content_encoding", [None, "", "identity", " Identity ,identity", ","])
def test_identity_returns_the_bytes_as_fed(content_encoding: str | None) -> None:
    assert decode(content_encoding, [BODY[:5], b"", BODY[5:]]) == BODY
    assert decode(content_encoding, []) == b""


def test_identity_single_chunk_is_returned_without_a_copy() -> None:
    assert decode(None, [BODY]) is BODY


@pytest.mark.parametrize("header", [None, "gzip"])
def test_pieces_of_every_size_join_in_order(header: str | None) -> None:
    body = bytes(range(256)) * 400  # 100 KiB, incompressible enough to need several steps
    wire = body if header is None else gzipped(body)
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


# --- one to four layers ----------------------------------------------------------------------


@pytest.mark.parametrize("layers", range(1, MAX_LAYERS + 1))
def test_layers_round_trip(layers: int) -> None:
    wire = gzipped(BODY, layers)
    assert decode(header(layers), [wire]) == BODY
    assert decode(header(layers), pieces(wire, 7)) == BODY


@pytest.mark.parametrize(
    ("content_encoding", "layers"),
    [
        ("GZIP", 1),
        ("x-gzip", 1),
        ("X-GZip", 1),
        ("  gzip  ,   x-gzip ", 2),
        ("gzip,,gzip", 2),
        ("identity, gzip, identity", 1),
    ],
)
def test_header_is_case_and_space_insensitive(content_encoding: str, layers: int) -> None:
    assert decode(content_encoding, [gzipped(BODY, layers)]) == BODY


def test_gzip_members_follow_one_another_and_nul_padding_is_ignored() -> None:
    two = gzip.compress(BODY) + gzip.compress(b"tail")
    assert decode("gzip", [two]) == BODY + b"tail"
    assert decode("gzip", pieces(two, 3)) == BODY + b"tail"
    padded = gzip.compress(BODY) + b"\0" * 100
    assert decode("gzip", pieces(padded, 9)) == BODY
    between = gzip.compress(b"one") + b"\0" * 5 + gzip.compress(b"two") + b"\0"
    assert decode("gzip", pieces(between, 2)) == b"onetwo"


def test_empty_body_decodes_to_nothing_whatever_the_layers() -> None:
    for content_encoding in ("gzip", "gzip, gzip"):
        assert decode(content_encoding, []) == b""
        assert decode(content_encoding, [b""]) == b""


def test_a_body_of_exactly_the_limit_is_accepted() -> None:
    body = b"a" * 1000
    assert decode("gzip, gzip", [gzipped(body, 2)], limit=1000) == body
    with pytest.raises(BodyTooLargeError):
        decode("gzip, gzip", [gzipped(body, 2)], limit=999)


def test_accept_encoding_is_gzip_and_decodes() -> None:
    assert ACCEPT_ENCODING == "gzip"
    assert decode(ACCEPT_ENCODING, [gzipped(BODY)]) == BODY


# --- every chunking of a small body ------------------------------------------------------------


@pytest.mark.parametrize("layers", [1, 3])
def test_every_split_point_and_single_bytes(layers: int) -> None:
    plain = b'{"oauth_portal_url": "https://p.example/?sdk_token=t"}'
    wire = gzipped(plain, layers)
    for cut in range(len(wire) + 1):
        assert decode(header(layers), [wire[:cut], wire[cut:]]) == plain, f"split at {cut}"
    for cut in range(0, len(wire), 5):
        chunks = [wire[:cut], b"", wire[cut : cut + 3], wire[cut + 3 :]]
        assert decode(header(layers), chunks) == plain, f"three-way split at {cut}"
    assert decode(header(layers), pieces(wire, 1)) == plain


def test_output_zlib_holds_back_after_a_full_step_is_not_forgotten() -> None:
    """zlib can fill a step having taken all of its input, with output still inside it (mid
    match): the layer must say more is pending rather than wait for input that may not come."""
    wire, room = gzipped(bytes(512 * 1024)), 64 * 1024
    for cut in range(1, len(wire)):
        probe = zlib.decompressobj(zlib.MAX_WBITS | 16)
        full = len(probe.decompress(wire[:cut], room)) == room and not probe.unconsumed_tail
        if full and probe.decompress(b"", room):
            break
    else:
        pytest.fail("this zlib never holds output back: the case cannot be built")
    layer = _decode._GzipLayer()
    assert len(layer.step(wire[:cut], room)) == room
    assert layer.pending()
    assert layer.step(b"", room)


# --- bombs ---------------------------------------------------------------------------------------


def _peak_while(layers: int, wire: bytes, limit: int = LIMIT, chunk: int = 64 * 1024) -> int:
    """Decode (expecting refusal) and return the peak bytes allocated meanwhile."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with pytest.raises(BodyTooLargeError):
            decode(header(layers), pieces(wire, chunk), limit)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("layers", "mib"), [(1, 1000), (2, 1024), (3, 1024)])
def test_bombs_are_refused_holding_about_the_limit(layers: int, mib: int) -> None:
    peak = _peak_while(layers, bomb(layers, mib))
    # The decoded limit, plus a step and a window per layer, plus the wire chunk in flight.
    assert peak < LIMIT + 1 * MIB, f"{header(layers)}: peak {peak / MIB:.1f} MiB"


def test_a_small_limit_bounds_memory_too() -> None:
    peak = _peak_while(2, bomb(2, 1024), limit=10_000)
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


def test_the_wire_counts_too() -> None:
    """Empty members straight on the wire decode to nothing at every layer: the bytes fed are
    what passes the limit, so a server cannot keep the decoder busy until the timeout."""
    empty_member = gzip.compress(b"", mtime=0)
    wire = empty_member * (LIMIT // len(empty_member) + 1)
    with pytest.raises(BodyTooLargeError, match=str(LIMIT)):
        decode("gzip", pieces(wire, 64 * 1024))
    assert decode("gzip", [empty_member * (LIMIT // len(empty_member))]) == b""


def test_bomb_is_refused_during_feed_not_only_at_finish() -> None:
    decoder = BodyDecoder("gzip, gzip", LIMIT)
    with pytest.raises(BodyTooLargeError, match=str(LIMIT)):
        decoder.feed(bomb(2, 1024))


# --- truncated and corrupt ----------------------------------------------------------------------


@pytest.mark.parametrize("layers", [1, 2])
def test_truncated_data_is_refused_at_finish(layers: int) -> None:
    wire = gzipped(BODY, layers)
    for cut in (1, len(wire) // 2, len(wire) - 1):
        with pytest.raises(UndecodableBodyError, match=r"gzip data is truncated|corrupt gzip"):
            decode(header(layers), [wire[:cut]])


def test_a_partial_second_member_is_truncated() -> None:
    with pytest.raises(UndecodableBodyError, match="truncated"):
        decode("gzip", [gzip.compress(BODY) + b"\x1f\x8b"])


@pytest.mark.parametrize(
    ("content_encoding", "wire"),
    [
        ("gzip", b"this is not gzip at all"),
        ("gzip", gzip.compress(BODY)[:-8] + b"\0\0\0\0" + gzip.compress(BODY)[-4:]),  # bad CRC
        ("gzip", gzip.compress(BODY) + b"trailing garbage"),
        ("gzip", b"\0" * 8),
        ("gzip", zlib.compress(BODY)),  # zlib-wrapped deflate labelled gzip
        ("gzip, gzip", gzip.compress(b"inner is not gzip")),
    ],
)
def test_corrupt_data_is_refused_naming_the_coding(content_encoding: str, wire: bytes) -> None:
    with pytest.raises(UndecodableBodyError, match="corrupt gzip data") as info:
        decode(content_encoding, pieces(wire, 4))
    assert info.value.__cause__ is None


# --- codings other than gzip ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_encoding",
    ["br", "zstd", "deflate", "compress", "x-compress", "gzip, br", "deflate, gzip", "aes128gcm"],
)
def test_other_codings_are_refused_at_construction_naming_them(content_encoding: str) -> None:
    other = next(c.strip() for c in content_encoding.split(",") if c.strip() != "gzip")
    with pytest.raises(UndecodableBodyError, match=rf"'{other}' \(the SDK asks for gzip only\)"):
        BodyDecoder(content_encoding, LIMIT)


def test_a_long_unknown_coding_is_quoted_short() -> None:
    with pytest.raises(UndecodableBodyError) as info:
        BodyDecoder("z" * 10_000, LIMIT)
    assert len(str(info.value)) < 200


def test_too_many_layers_are_refused() -> None:
    with pytest.raises(UndecodableBodyError, match=f"{MAX_LAYERS + 1} codings"):
        BodyDecoder(header(MAX_LAYERS + 1), LIMIT)
    assert decode(header(MAX_LAYERS), [gzipped(BODY, MAX_LAYERS)]) == BODY
