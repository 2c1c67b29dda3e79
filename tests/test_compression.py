"""The 1 MiB body cap holds while decoding, for every content coding and every layering.

Over real HTTP: a loopback server sends crafted bodies (bombs of ~1 GiB of zeros, ~1 KB to
~1 MB on the wire) with ``Content-Encoding`` gzip, deflate, two and three layers, and br/zstd
when a bounded decoder for them is installed. Each bomb call runs in a fresh interpreter that
reports its peak-RSS growth and CPU time (``tests/_bodies.py``), so neither the test
process nor an earlier case pollutes the numbers. Run with ``-s`` to see the table, or
``scripts/compression_rss.py`` to print it alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _bodies import (
    API_KEY,
    CALL,
    MIB,
    Reply,
    bomb,
    bounded_brotli,
    bounded_zstd,
    crafted_server,
    encode,
    measure,
    raw_deflate,
    row,
    token_body,
    url_of,
)

from tapti_ext import APIResponseValidationError, AsyncTapti, Tapti
from tapti_ext._decode import ACCEPT_ENCODING

MAX_RSS_GROWTH = 32 * MIB
MAX_CPU_SECONDS = 1.0
BODY_CAP = MIB

_needs_br = pytest.mark.skipif(bounded_brotli() is None, reason="no brotli 1.2+ installed")
_needs_zstd = pytest.mark.skipif(bounded_zstd() is None, reason="no bounded zstd installed")

# name, Content-Encoding, MiB of zeros. One layer stays under 1 MiB on the wire (1000 MiB of
# zeros is ~1.0 MB), so a cap on the wire bytes alone lets it through.
BOMBS: list[Any] = [
    pytest.param("gzip", "gzip", 1000, id="gzip"),
    pytest.param("deflate", "deflate", 1000, id="deflate"),
    pytest.param("gzip2", "gzip, gzip", 1024, id="gzip,gzip"),
    pytest.param("mixed2", "deflate, gzip", 1024, id="deflate,gzip"),
    pytest.param("gzip3", "gzip, gzip, gzip", 1024, id="gzip,gzip,gzip"),
    pytest.param("br", "br", 1024, id="br", marks=_needs_br),
    pytest.param("br2", "br, gzip", 1024, id="br,gzip", marks=_needs_br),
    pytest.param("zstd", "zstd", 1024, id="zstd", marks=_needs_zstd),
    pytest.param("zstd2", "zstd, gzip", 1024, id="zstd,gzip", marks=_needs_zstd),
]


def _replies() -> dict[str, Reply]:
    replies: dict[str, Reply] = {"warmup": (200, None, token_body("warmup"))}
    for param in BOMBS:
        name, coding, mib = param.values
        if any(mark.args and mark.args[0] for mark in param.marks):
            continue  # skipped: its module is not installed
        body = bomb(coding, mib)
        replies[name] = (200, coding, body)
        replies[f"{name}-400"] = (400, coding, body)
    return replies


@pytest.fixture(scope="module")
def bomb_url() -> Iterator[str]:
    with crafted_server(_replies()) as server:
        yield url_of(server)


def _check_bounded(result: dict[str, Any]) -> None:
    assert result.get("error") != "MemoryError", result
    assert "rss_growth" in result, f"the child failed: {result}"
    assert result["rss_growth"] < MAX_RSS_GROWTH, (
        f"peak RSS grew {result['rss_growth'] / MIB:.0f} MiB (limit 32 MiB): {result}"
    )
    assert result["cpu_seconds"] < MAX_CPU_SECONDS, f"the call took too much CPU: {result}"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("name", "coding", "mib"), BOMBS)
def test_bomb_in_a_200_is_refused_with_bounded_memory(
    bomb_url: str, name: str, coding: str, mib: int, mode: str
) -> None:
    wire = len(bomb(coding, mib))
    result = measure(bomb_url, name, mode)
    print(row(f"{name} ({wire} B)", coding, 200, mode, result))
    _check_bounded(result)
    assert result["error"] == "APIResponseValidationError", result


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("name", "coding", "mib"), [p for p in BOMBS if p.id in ("gzip", "gzip,gzip", "deflate,gzip")]
)
def test_bomb_in_an_error_status_raises_the_status_error_bounded(
    bomb_url: str, name: str, coding: str, mib: int, mode: str
) -> None:
    result = measure(bomb_url, f"{name}-400", mode)
    print(row(name, coding, 400, mode, result))
    _check_bounded(result)
    assert result["error"] == "BadRequestError", result
    assert result["has_body"], result
    # The body is dropped (None) or cut at the cap; never the decoded gigabyte.
    assert result["body_size"] is None or result["body_size"] <= BODY_CAP, result


# --- valid compressed bodies still parse -----------------------------------------------------

VALID: list[Any] = [
    pytest.param("gzip", None, id="gzip"),
    pytest.param("x-gzip", "gzip", id="x-gzip"),
    pytest.param("GZip", "gzip", id="GZip-any-case"),
    pytest.param("deflate", None, id="deflate-zlib"),
    pytest.param("deflate", "raw", id="deflate-raw"),
    pytest.param("gzip, gzip", None, id="gzip,gzip"),
    pytest.param("deflate,gzip ,  gzip", None, id="three-layers"),
    pytest.param("identity", "", id="identity"),
    pytest.param("identity, gzip", "gzip", id="identity,gzip"),
    pytest.param("br", None, id="br", marks=_needs_br),
    pytest.param("gzip, br", None, id="gzip,br", marks=_needs_br),
    pytest.param("zstd", None, id="zstd", marks=_needs_zstd),
    pytest.param("zstd, deflate", None, id="zstd,deflate", marks=_needs_zstd),
]


def _valid_body(user_id: str, header: str, applied: str | None) -> bytes:
    plain = token_body(user_id)
    if applied == "raw":
        return raw_deflate(plain)
    if applied is None:
        applied = ",".join(c.strip().lower() for c in header.split(","))
    return encode(plain, applied) if applied else plain


@pytest.mark.parametrize(("header", "applied"), VALID)
def test_valid_compressed_200_parses_sync_and_async(header: str, applied: str | None) -> None:
    replies = {
        "user-sync": (200, header, _valid_body("user-sync", header, applied)),
        "user-async": (200, header, _valid_body("user-async", header, applied)),
    }
    with crafted_server(replies) as server:
        url = url_of(server)
        with Tapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti:
            token = tapti.user("user-sync").create_sdk_token(**CALL)
        assert token.sdk_token == "tok-for-user-sync"

        async def call() -> str:
            async with AsyncTapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti:
                token = await tapti.user("user-async").create_sdk_token(**CALL)
                return token.sdk_token

        import anyio  # noqa: PLC0415

        assert anyio.run(call) == "tok-for-user-async"
        assert server.accept_encodings == [ACCEPT_ENCODING, ACCEPT_ENCODING], (
            "the SDK must offer exactly the codings it decodes with bounded memory"
        )


@pytest.mark.parametrize("coding", [None, "gzip"])
def test_the_raw_response_describes_the_decoded_body(coding: str | None) -> None:
    plain = token_body("u")
    wire = plain if coding is None else encode(plain, coding)
    with (
        crafted_server({"u": (200, coding, wire)}) as server,
        Tapti(api_key=API_KEY, base_url=url_of(server), max_retries=0) as tapti,
    ):
        response = tapti.with_raw_response.user("u").create_sdk_token(**CALL).http_response
    assert response.content == plain
    assert response.headers["content-length"] == str(len(plain))
    assert "content-encoding" not in response.headers
    assert response.headers.get_list("content-length") == [str(len(plain))]


def test_unsupported_coding_is_a_validation_error_not_garbage() -> None:
    """A coding the SDK cannot decode (here LZW ``compress``) is refused, not parsed raw."""
    replies = {"u": (200, "compress", token_body("u"))}
    with (
        crafted_server(replies) as server,
        Tapti(api_key=API_KEY, base_url=url_of(server), max_retries=0) as tapti,
        pytest.raises(APIResponseValidationError, match="compress"),
    ):
        tapti.user("u").create_sdk_token(**CALL)


def test_truncated_gzip_200_is_a_validation_error() -> None:
    body = encode(token_body("u"), "gzip")[:-6]
    replies = {"u": (200, "gzip", body)}
    with (
        crafted_server(replies) as server,
        Tapti(api_key=API_KEY, base_url=url_of(server), max_retries=0) as tapti,
        pytest.raises(APIResponseValidationError, match="gzip"),
    ):
        tapti.user("u").create_sdk_token(**CALL)
