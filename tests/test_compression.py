"""The 1 MiB body cap holds while decoding gzip, one to three layers; other codings are refused.

Over real HTTP: a loopback server sends crafted bodies (bombs of ~1 GiB of zeros, 230 bytes to
~1 MB on the wire) with ``Content-Encoding: gzip``, two and three layers. Each bomb call runs in a
fresh interpreter that reports its peak-RSS growth and CPU time (``tests/_bodies.py``), so
neither the test process nor an earlier case pollutes the numbers. Run with ``-s`` to see the
table, or ``scripts/compression_rss.py`` to print it alone.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from _bodies import (
    API_KEY,
    CALL,
    MIB,
    Reply,
    bomb,
    crafted_server,
    gzipped,
    measure,
    row,
    token_body,
    url_of,
)

from tapti_ext import APIResponseValidationError, AsyncTapti, BadRequestError, Tapti

MAX_RSS_GROWTH = 32 * MIB
MAX_CPU_SECONDS = 1.0
BODY_CAP = MIB

# name, gzip layers, MiB of zeros. One layer stays under 1 MiB on the wire (1000 MiB of zeros
# is ~1.0 MB), so a cap on the wire bytes alone lets it through.
BOMBS: list[Any] = [
    pytest.param("gzip", 1, 1000, id="gzip"),
    pytest.param("gzip2", 2, 1024, id="gzip,gzip"),
    pytest.param("gzip3", 3, 1024, id="gzip,gzip,gzip"),
]


def _header(layers: int) -> str:
    return ", ".join(["gzip"] * layers)


def _replies() -> dict[str, Reply]:
    replies: dict[str, Reply] = {"warmup": (200, None, token_body("warmup"))}
    for param in BOMBS:
        name, layers, mib = param.values
        body = bomb(layers, mib)
        replies[name] = (200, _header(layers), body)
        replies[f"{name}-400"] = (400, _header(layers), body)
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
@pytest.mark.parametrize(("name", "layers", "mib"), BOMBS)
def test_bomb_in_a_200_is_refused_with_bounded_memory(
    bomb_url: str, name: str, layers: int, mib: int, mode: str
) -> None:
    result = measure(bomb_url, name, mode)
    print(row(f"{name} ({len(bomb(layers, mib))} B)", _header(layers), 200, mode, result))
    _check_bounded(result)
    assert result["error"] == "APIResponseValidationError", result


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("name", "layers", "mib"), BOMBS[:2])
def test_bomb_in_an_error_status_raises_the_status_error_bounded(
    bomb_url: str, name: str, layers: int, mib: int, mode: str
) -> None:
    result = measure(bomb_url, f"{name}-400", mode)
    print(row(name, _header(layers), 400, mode, result))
    _check_bounded(result)
    assert result["error"] == "BadRequestError", result
    assert result["has_body"], result
    # The body is dropped (None) or cut at the cap; never the decoded gigabyte.
    assert result["body_size"] is None or result["body_size"] <= BODY_CAP, result


# --- valid gzipped bodies parse; the SDK asks for gzip only ------------------------------------

VALID: list[Any] = [
    pytest.param("gzip", 1, id="gzip"),
    pytest.param("x-gzip", 1, id="x-gzip"),
    pytest.param("GZip", 1, id="GZip-any-case"),
    pytest.param("gzip, gzip", 2, id="gzip,gzip"),
    pytest.param("gzip,x-gzip ,  gzip", 3, id="three-layers"),
    pytest.param("identity", 0, id="identity"),
    pytest.param("identity, gzip", 1, id="identity,gzip"),
]


def _token_both_ways(url: str) -> tuple[str, str]:
    """The ``sdk_token`` that ``Tapti`` and ``AsyncTapti`` get for users ``sync`` and ``async``."""
    with Tapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti:
        sync_token = tapti.user("sync").create_sdk_token(**CALL).sdk_token

    async def call() -> str:
        async with AsyncTapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti:
            return (await tapti.user("async").create_sdk_token(**CALL)).sdk_token

    return sync_token, anyio.run(call)


@pytest.mark.parametrize(("header", "layers"), VALID)
def test_valid_gzipped_200_parses_sync_and_async(header: str, layers: int) -> None:
    replies: dict[str, Reply] = {
        user: (200, header, gzipped(token_body(user), layers)) for user in ("sync", "async")
    }
    with crafted_server(replies) as server:
        assert _token_both_ways(url_of(server)) == ("tok-for-sync", "tok-for-async")
        assert server.accept_encodings == ["gzip", "gzip"], "the SDK asks for gzip only"


# A server that ignores Accept-Encoding. The body is plain JSON under a label (or, for deflate,
# real zlib data): an SDK that skipped the coding, or still decoded deflate, would return a token.
IGNORED: list[Any] = [
    pytest.param("br", token_body, id="br"),
    pytest.param("zstd", token_body, id="zstd"),
    pytest.param("deflate", lambda user: zlib.compress(token_body(user)), id="deflate"),
    pytest.param("compress", token_body, id="compress"),
    pytest.param("gzip, br", lambda user: gzipped(token_body(user)), id="gzip,br"),
]


@pytest.mark.parametrize(("coding", "make_body"), IGNORED)
def test_a_coding_other_than_gzip_is_a_validation_error_naming_it(
    coding: str, make_body: Any
) -> None:
    replies: dict[str, Reply] = {user: (200, coding, make_body(user)) for user in ("sync", "async")}
    named = coding.rsplit(",", maxsplit=1)[-1].strip()
    with crafted_server(replies) as server:
        url = url_of(server)
        with (
            Tapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti,
            pytest.raises(APIResponseValidationError, match=f"'{named}'") as info,
        ):
            tapti.user("sync").create_sdk_token(**CALL)
        assert info.value.status_code == 200

        async def call() -> None:
            async with AsyncTapti(api_key=API_KEY, base_url=url, max_retries=0) as tapti:
                await tapti.user("async").create_sdk_token(**CALL)

        with pytest.raises(APIResponseValidationError, match=f"'{named}'"):
            anyio.run(call)


def test_a_coding_other_than_gzip_on_an_error_status_keeps_the_status_error() -> None:
    replies: dict[str, Reply] = {"u": (400, "br", b'{"message": "bad"}')}
    with (
        crafted_server(replies) as server,
        Tapti(api_key=API_KEY, base_url=url_of(server), max_retries=0) as tapti,
        pytest.raises(BadRequestError) as info,
    ):
        tapti.user("u").create_sdk_token(**CALL)
    assert info.value.status_code == 400
    assert info.value.body is None  # not the undecoded bytes taken for JSON


def test_truncated_gzip_200_is_a_validation_error() -> None:
    body = gzipped(token_body("u"))[:-6]
    replies: dict[str, Reply] = {"u": (200, "gzip", body)}
    with (
        crafted_server(replies) as server,
        Tapti(api_key=API_KEY, base_url=url_of(server), max_retries=0) as tapti,
        pytest.raises(APIResponseValidationError, match="gzip"),
    ):
        tapti.user("u").create_sdk_token(**CALL)


@pytest.mark.parametrize("layers", [0, 1])
def test_the_raw_response_describes_the_decoded_body(layers: int) -> None:
    plain = token_body("u")
    wire = gzipped(plain, layers) if layers else plain
    with (
        crafted_server({"u": (200, "gzip" if layers else None, wire)}) as server,
        Tapti(api_key=API_KEY, base_url=url_of(server), max_retries=0) as tapti,
    ):
        response = tapti.with_raw_response.user("u").create_sdk_token(**CALL).http_response
    assert response.content == plain
    assert response.headers.get_list("content-length") == [str(len(plain))]
    assert "content-encoding" not in response.headers
