"""MockTaptiServer over real HTTP, driven by plain httpx2 (independent of the Tapti client)."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx2
import pytest

from tapti_ext import AsyncTapti, Tapti
from tapti_ext._call import parse_retry_after
from tapti_ext.testing import MockTaptiServer, RecordedRequest

KEY = "sk_test_9f8e7d6c5b4a"
VALID: dict[str, Any] = {
    "user_platforms": ["YOUTUBE", "TIKTOK"],
    "enabled_scopes": ["PROFILE_READ"],
    "callback_url": "https://your-app.com/api/oauth/callback",
    "redirect_url": "https://your-app.com/dashboard/accounts?tab=social&x=1",
}
PATH = "/users/user_123/sdk-token"


@pytest.fixture
def server() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=KEY) as running:
        yield running


@pytest.fixture
def client(server: MockTaptiServer) -> Iterator[httpx2.Client]:
    # trust_env=False: a proxy from the environment must not sit between the test and 127.0.0.1.
    with httpx2.Client(base_url=server.url, headers={"x-api-key": KEY}, trust_env=False) as http:
        yield http


def _with(**changes: object) -> dict[str, Any]:
    return {**VALID, **changes}


def _without(field: str) -> dict[str, Any]:
    return {name: value for name, value in VALID.items() if name != field}


def _error_fields(response: httpx2.Response) -> list[str]:
    assert response.status_code == 422
    body = response.json()
    assert isinstance(body["message"], str)
    return [error["field"] for error in body["errors"]]


def _raw_exchange(server: MockTaptiServer, request: bytes) -> bytes:
    """Send bytes httpx2 would not produce; return everything the server answers before closing."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# --- the successful call ------------------------------------------------------------------------


def test_valid_request_returns_a_portal_url_with_a_fresh_token(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    tokens = []
    for _ in range(3):
        response = client.post(PATH, json=VALID)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"].startswith("req_")
        body = response.json()
        assert set(body) == {"oauth_portal_url"}
        url = urlsplit(body["oauth_portal_url"])
        assert (url.scheme, url.netloc, url.path) == ("https", "oauth.tapti.dev", "")
        query = parse_qs(url.query, strict_parsing=True)
        assert set(query) == {"sdk_token", "origin"}
        assert query["origin"] == [VALID["redirect_url"]]
        (token,) = query["sdk_token"]
        assert len(token) >= 40
        tokens.append(token)
    assert len(set(tokens)) == 3
    assert server.issued_tokens == tokens


def test_user_of_names_the_user_each_token_was_issued_for(server: MockTaptiServer) -> None:
    tokens: dict[str, str] = {}

    def call(tapti: Tapti, user: str) -> None:
        tokens[user] = (
            tapti.user(user)
            .create_sdk_token(
                platforms="youtube",
                scopes="profile_read",
                callback_url="https://app.example/cb",
                redirect_url="https://app.example/done",
            )
            .sdk_token
        )

    users = ("alice", "bob", "carol")
    with Tapti(api_key=KEY, base_url=server.url) as tapti:
        threads = [threading.Thread(target=call, args=(tapti, user)) for user in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [server.user_of(tokens[user]) for user in users] == list(users)
    assert server.user_of("not-a-token") is None
    server.clear()
    assert server.user_of(tokens["alice"]) is None


def test_portal_url_keeps_the_configured_base_and_its_query() -> None:
    with (
        MockTaptiServer(api_key=KEY, portal_url="http://portal.test/connect?brand=acme") as srv,
        httpx2.Client(trust_env=False) as http,
    ):
        response = http.post(f"{srv.url}{PATH}", json=VALID, headers={"x-api-key": KEY})
    url = urlsplit(response.json()["oauth_portal_url"])
    assert (url.scheme, url.netloc, url.path) == ("http", "portal.test", "/connect")
    query = parse_qs(url.query)
    assert query["brand"] == ["acme"]
    assert query["origin"] == [VALID["redirect_url"]]


def test_extra_properties_and_empty_arrays_are_accepted(client: httpx2.Client) -> None:
    body = _with(user_platforms=[], enabled_scopes=[], unknown_property={"nested": True})
    assert client.post(PATH, json=body).status_code == 200


def test_every_platform_and_scope_of_the_spec_is_accepted(client: httpx2.Client) -> None:
    body = _with(
        user_platforms=["YOUTUBE", "TIKTOK", "INSTAGRAM", "INSTAPRO", "FACEBOOK", "X", "LINKEDIN"],
        enabled_scopes=[
            "PROFILE_READ",
            "PROFILE_WRITE",
            "CONTENT_READ",
            "CONTENT_WRITE",
            "ANALYTICS_READ",
            "COMMENTS_READ",
            "COMMENTS_WRITE",
        ],
    )
    assert client.post(PATH, json=body).status_code == 200


def test_user_id_with_reserved_characters_is_one_decoded_segment(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    user_id = "a/b c?%"
    raw_path = f"/users/{quote(user_id, safe='')}/sdk-token"
    assert raw_path == "/users/a%2Fb%20c%3F%25/sdk-token"
    assert client.post(raw_path, json=VALID).status_code == 200
    (recorded,) = server.requests
    assert recorded.path == raw_path
    assert recorded.user_id == user_id


# --- bad requests, one class at a time ----------------------------------------------------------


def test_missing_api_key_is_401(server: MockTaptiServer) -> None:
    with httpx2.Client(base_url=server.url, trust_env=False) as http:
        response = http.post(PATH, json=VALID)
    assert response.status_code == 401
    assert response.json() == {"message": "invalid or missing API key"}


@pytest.mark.parametrize("spaced", [f"{KEY} ", f"\t{KEY}", f"  {KEY}\t "])
def test_a_key_with_surrounding_whitespace_is_the_key(server: MockTaptiServer, spaced: str) -> None:
    # RFC 9110, 5.5: a field value's leading and trailing spaces and tabs are not part of it.
    body = json.dumps(VALID).encode()
    head = f"POST {PATH} HTTP/1.1\r\nHost: x\r\nx-api-key: {spaced}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    answer = _raw_exchange(server, (head + "Connection: close\r\n\r\n").encode() + body)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


@pytest.mark.parametrize("hosts", [0, 2])
def test_an_http11_request_without_exactly_one_host_is_400_and_issues_nothing(
    server: MockTaptiServer, hosts: int
) -> None:
    """RFC 9112 3.2: answered 400. The mock issued a token for it, which the API would not."""
    body = json.dumps(VALID).encode()
    head = f"POST {PATH} HTTP/1.1\r\n" + "Host: x\r\n" * hosts + f"x-api-key: {KEY}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    answer = _raw_exchange(server, head.encode() + body)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"exactly one valid Host header" in answer
    assert server.issued_tokens == []


def _request(fields: list[bytes], version: bytes = b"HTTP/1.1") -> bytes:
    body = json.dumps(VALID).encode()
    fields = [*fields, b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
    return (
        b"POST %s %s\r\n%s\r\n" % (PATH.encode(), version, b"".join(f + b"\r\n" for f in fields))
        + body
    )


def test_a_header_line_http_server_would_misread_cannot_smuggle_a_request(
    server: MockTaptiServer,
) -> None:
    """A space before the colon made http.server drop every later header (Content-Length among
    them) and serve the body as a second request: a token for a user no front end saw (probe
    28)."""
    key = f"x-api-key: {KEY}".encode()
    hidden = _request([b"Host: x", key]).replace(PATH.encode(), b"/users/hidden/sdk-token")
    head = b"POST %s HTTP/1.1\r\nHost: x\r\n%s\r\nX-Note : hi\r\n" % (PATH.encode(), key)
    head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(hidden)
    answer = _raw_exchange(server, head + hidden)
    assert answer.count(b"HTTP/1.1 ") == 1, answer[:400]
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"malformed header line" in answer
    assert server.issued_tokens == []


@pytest.mark.parametrize(
    ("fields", "version", "said"),
    [
        ([b"Host: x", b"X-Foo: a\rx-api-key: " + KEY.encode()], b"HTTP/1.1", b"malformed header"),
        ([b"Host: x", b"X-Nul: a\x00b"], b"HTTP/1.1", b"malformed header"),
        ([b"Host: x", b"X-Name With-Space: 1"], b"HTTP/1.1", b"malformed header"),
        ([b"Host: x", b"X-Folded: a", b" b"], b"HTTP/1.1", b"malformed header"),
        ([b"Host: x"], b"HTTP/1.01", b"invalid HTTP version"),
        ([b"Host: x"], b"HTTP/01.1", b"invalid HTTP version"),
        ([], b"HTTP/1.2", b"exactly one valid Host header"),
        ([b"Host: a b"], b"HTTP/1.1", b"exactly one valid Host header"),
        ([b"Host: user@evil.example"], b"HTTP/1.1", b"exactly one valid Host header"),
    ],
    ids=[
        "bare CR",
        "NUL",
        "space in a name",
        "obs-fold",
        "version 1.01",
        "version 01.1",
        "1.2 without Host",
        "Host with a space",
        "Host with userinfo",
    ],
)
def test_a_head_the_rfcs_refuse_is_400_and_issues_nothing(
    server: MockTaptiServer, fields: list[bytes], version: bytes, said: bytes
) -> None:
    """RFC 9112 2.2, 2.3, 3.2 and 5.1 (and 9110 5.5): each got a 200 and a token (probe 28)."""
    key = f"x-api-key: {KEY}".encode()
    answer = _raw_exchange(server, _request([*fields, key], version))
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert said in answer
    assert server.issued_tokens == []


@pytest.mark.parametrize(
    ("fields", "version"),
    [
        ([b"Host: [::1]:8080", b"X-Latin: caf\xe9", b"Connection: close"], b"HTTP/1.1"),
        ([], b"HTTP/1.0"),
    ],
    ids=["IPv6 host and obs-text", "HTTP/1.0 without Host"],
)
def test_a_head_the_rfcs_accept_still_gets_a_token(
    server: MockTaptiServer, fields: list[bytes], version: bytes
) -> None:
    answer = _raw_exchange(server, _request([*fields, f"x-api-key: {KEY}".encode()], version))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert len(server.issued_tokens) == 1


@pytest.mark.parametrize(
    ("target", "path", "tokens"),
    [
        (f"http://127.0.0.1{PATH}", PATH, 1),
        (f"HTTPS://api.example:443{PATH}?x=1", f"{PATH}?x=1", 1),
        ("http://127.0.0.1", "/", 0),
        ("http://127.0.0.1?x=1", "/?x=1", 0),
    ],
    ids=["http", "https with a port and a query", "no path", "a query only"],
)
def test_an_absolute_form_target_is_served_as_its_path(
    server: MockTaptiServer, target: str, path: str, tokens: int
) -> None:
    """RFC 9112 3.2.2: a server must accept the absolute-form, which clients send to proxies;
    the mock answered 404 to every one (probe 28)."""
    request = _request([b"Host: x", b"Connection: close", f"x-api-key: {KEY}".encode()])
    answer = _raw_exchange(server, request.replace(PATH.encode(), target.encode(), 1))
    assert answer.startswith(b"HTTP/1.1 200 " if tokens else b"HTTP/1.1 404 "), answer[:200]
    assert [request.path for request in server.requests] == [path]
    assert len(server.issued_tokens) == tokens


def test_a_content_length_of_thousands_of_digits_is_413_not_a_dropped_connection(
    server: MockTaptiServer,
) -> None:
    """int() refuses more than 4,300 digits: the connection was dropped with no answer."""
    head = f"POST {PATH} HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\n"
    head += "Content-Type: application/json\r\nContent-Length: " + "9" * 5000 + "\r\n\r\n"
    answer = _raw_exchange(server, head.encode() + b"{}")
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


@pytest.mark.parametrize(
    "request_line", [b"POST /users/u1/sdk-token HTTP/1.x", b"PRI * HTTP/2.0", b"GET / HTTP/3"]
)
def test_a_request_line_of_another_http_version_gets_a_status_line_and_a_request_id(
    server: MockTaptiServer, request_line: bytes
) -> None:
    """http.server writes no status line or headers while it takes the request for HTTP/0.9
    (its default, until the version is read): the answer was a bare JSON body."""
    answer = _raw_exchange(server, request_line + b"\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert re.match(rb"HTTP/1\.1 (400|505) ", head), answer[:200]
    assert b"\r\nx-request-id: " in head.lower()
    assert isinstance(json.loads(body)["message"], str)


def test_wrong_api_key_is_401_and_not_echoed(client: httpx2.Client) -> None:
    response = client.post(PATH, json=VALID, headers={"x-api-key": "sk_wrong_key_123"})
    assert response.status_code == 401
    assert response.json() == {"message": "invalid or missing API key"}
    assert "sk_wrong_key_123" not in response.text


def test_non_ascii_api_key_is_401_not_500(client: httpx2.Client) -> None:
    response = client.post(PATH, json=VALID, headers={b"x-api-key": "clé".encode()})
    assert response.status_code == 401


def test_key_is_checked_before_the_body(client: httpx2.Client) -> None:
    response = client.post(PATH, content=b"not json", headers={"x-api-key": "wrong"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"not json", "application/json"),
        (b'{"user_platforms": [', "application/json"),
        (b"", "application/json"),
        (b"NaN", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (json.dumps(VALID).encode("utf-16"), "application/json"),
        (json.dumps(VALID).encode("utf-32-le"), "application/json; charset=utf-32le"),
        (b"\xef\xbb\xbf" + json.dumps(VALID).encode(), "application/json"),
        (json.dumps(VALID).encode(), "text/plain"),
        (json.dumps(VALID).encode(), None),
    ],
    ids=[
        "text",
        "truncated",
        "empty",
        "nan",
        "not-utf8",
        "utf-16",  # json.loads reads it from bytes; RFC 8259 has systems exchange UTF-8 only
        "utf-32",
        "byte-order-mark",
        "text-plain",
        "no-content-type",
    ],
)
def test_body_that_is_not_json_is_400(
    client: httpx2.Client, content: bytes, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post(PATH, content=content, headers=headers)
    assert response.status_code == 400
    assert isinstance(response.json()["message"], str)


@pytest.mark.parametrize("field", ["redirect_url", "callback_url"])
def test_a_lone_surrogate_in_a_url_is_400_and_issues_nothing(
    server: MockTaptiServer, client: httpx2.Client, field: str
) -> None:
    """JSON may escape a lone surrogate (\\ud800), which no UTF-8 text holds: the mock recorded
    a token, then failed building the portal URL and answered 500, "a bug in the mock"."""
    content = json.dumps(_with(**{field: "https://app.example/\ud800"})).encode()
    response = client.post(PATH, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "surrogate" in response.json()["message"]
    assert server.issued_tokens == []


def test_json_content_type_with_charset_is_accepted(client: httpx2.Client) -> None:
    response = client.post(
        PATH,
        content=json.dumps(VALID).encode(),
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("body", ["[]", '["YOUTUBE"]', '"text"', "1", "null", "true"])
def test_json_that_is_not_an_object_is_422(client: httpx2.Client, body: str) -> None:
    response = client.post(PATH, content=body, headers={"content-type": "application/json"})
    assert _error_fields(response) == ["body"]


@pytest.mark.parametrize("field", list(VALID))
def test_each_missing_field_is_422(client: httpx2.Client, field: str) -> None:
    response = client.post(PATH, json=_without(field))
    assert _error_fields(response) == [field]
    assert response.json()["errors"][0]["message"] == "is required"


def test_all_problems_are_reported_together(client: httpx2.Client) -> None:
    response = client.post(PATH, json={"user_platforms": ["MYSPACE"], "callback_url": 3})
    assert _error_fields(response) == [
        "user_platforms[0]",
        "enabled_scopes",
        "callback_url",
        "redirect_url",
    ]


def test_unknown_platform_is_422(client: httpx2.Client) -> None:
    response = client.post(PATH, json=_with(user_platforms=["YOUTUBE", "youtube", "MYSPACE"]))
    assert _error_fields(response) == ["user_platforms[1]", "user_platforms[2]"]
    assert "YOUTUBE" in response.json()["errors"][0]["message"]


def test_unknown_scope_is_422(client: httpx2.Client) -> None:
    response = client.post(PATH, json=_with(enabled_scopes=["PROFILE_READ", "EVERYTHING"]))
    assert _error_fields(response) == ["enabled_scopes[1]"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"user_platforms": "YOUTUBE"}, "user_platforms"),
        ({"user_platforms": {"0": "YOUTUBE"}}, "user_platforms"),
        ({"user_platforms": None}, "user_platforms"),
        ({"user_platforms": [1]}, "user_platforms[0]"),
        ({"user_platforms": [["YOUTUBE"]]}, "user_platforms[0]"),
        ({"enabled_scopes": "PROFILE_READ"}, "enabled_scopes"),
        ({"enabled_scopes": [None]}, "enabled_scopes[0]"),
        ({"callback_url": 1}, "callback_url"),
        ({"callback_url": ["https://a.example"]}, "callback_url"),
        ({"redirect_url": None}, "redirect_url"),
        ({"redirect_url": {"url": "https://a.example"}}, "redirect_url"),
    ],
)
def test_wrong_types_are_422(client: httpx2.Client, changes: dict[str, Any], field: str) -> None:
    response = client.post(PATH, json=_with(**changes))
    assert _error_fields(response) == [field]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/users/u1",
        "/users/u1/sdk-tokens",
        "/users//sdk-token",
        "/users/a/b/sdk-token",
        "/v1/users/u1/sdk-token",
        "/users/sdk-token",
        # Ids the SDK refuses to send, decoded as a server would (probe 20: each got a token).
        "/users/%2e%2e/sdk-token",
        "/users/%2E/sdk-token",
        "/users/a%00b/sdk-token",
        "/users/%ff/sdk-token",
        "/users/%20/sdk-token",
    ],
)
def test_unknown_path_is_404(server: MockTaptiServer, client: httpx2.Client, path: str) -> None:
    response = client.post(path, json=VALID)
    assert response.status_code == 404
    assert server.requests[-1].user_id is None
    assert isinstance(response.json()["message"], str)


def test_query_string_does_not_change_the_route(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    assert client.post(f"{PATH}?debug=1", json=VALID).status_code == 200
    assert server.requests[0].user_id == "user_123"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_method_on_the_endpoint_is_405_with_allow(client: httpx2.Client, method: str) -> None:
    response = client.request(method, PATH)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert isinstance(response.json()["message"], str)


def test_head_gets_405_without_a_body(client: httpx2.Client) -> None:
    response = client.head(PATH)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.content == b""


def test_body_over_one_mebibyte_is_413(server: MockTaptiServer, client: httpx2.Client) -> None:
    huge = _with(callback_url="https://a.example/" + "x" * (1024 * 1024))
    response = client.post(PATH, json=huge)
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    # The server is still fine, and the client simply reconnects.
    assert client.post(PATH, json=VALID).status_code == 200
    assert [r.status for r in server.requests] == [413, 200]


def test_chunked_body_is_411(client: httpx2.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield json.dumps(VALID).encode()

    response = client.post(PATH, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 411


def test_missing_content_length_is_an_empty_body(server: MockTaptiServer) -> None:
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = _raw_exchange(server, request)
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_protocol_errors_get_a_json_body(server: MockTaptiServer) -> None:
    headers = b"".join(b"h%d: v\r\n" % i for i in range(101))
    answer = _raw_exchange(server, b"POST " + PATH.encode() + b" HTTP/1.1\r\n" + headers + b"\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert b"x-request-id: req_" in head
    assert isinstance(json.loads(body)["message"], str)


def test_expect_100_continue_is_answered_before_the_body(server: MockTaptiServer) -> None:
    body = json.dumps(VALID).encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\nExpect: 100-continue\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 ")  # not held back in a buffer
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")


# --- recording ----------------------------------------------------------------------------------


def test_requests_are_recorded_with_the_key_masked(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    client.post(PATH, json=VALID)
    client.post("/users/u2/sdk-token", json=_without("redirect_url"), headers={"x-api-key": "nope"})
    client.get(PATH)
    client.post("/elsewhere", content=b"plain", headers={"authorization": f"Bearer {KEY}"})

    first, second, third, fourth = server.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.user_id, first.status) == (
        "POST",
        PATH,
        "user_123",
        200,
    )
    assert first.json == VALID
    assert first.headers["x-api-key"] == "***"
    assert first.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in first.headers)
    assert first.request_id.startswith("req_")
    assert (second.user_id, second.status, second.json) == ("u2", 401, _without("redirect_url"))
    assert second.headers["x-api-key"] == "***"
    assert (third.method, third.status, third.json) == ("GET", 405, None)
    assert (fourth.user_id, fourth.status, fourth.json) == (None, 404, None)
    assert fourth.headers["authorization"] == "***"

    assert KEY not in repr(server.requests)
    assert KEY not in repr(server)


def test_request_id_header_matches_the_record(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    ids = [client.post(PATH, json=VALID).headers["x-request-id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert [r.request_id for r in server.requests] == ids


def test_recorded_requests_are_read_only(server: MockTaptiServer, client: httpx2.Client) -> None:
    client.post(PATH, json=VALID)
    recorded = server.requests[0]
    with pytest.raises(AttributeError):
        recorded.status = 500  # type: ignore[misc]
    with pytest.raises(TypeError):
        recorded.headers["x-api-key"] = KEY  # type: ignore[index]
    server.requests.clear()  # a copy
    assert len(server.requests) == 1


def test_clear_forgets_requests_tokens_and_pending_failures(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    client.post(PATH, json=VALID)
    server.fail_next(5)
    server.clear()
    assert server.requests == []
    assert server.issued_tokens == []
    assert client.post(PATH, json=VALID).status_code == 200


# --- scripted failures --------------------------------------------------------------------------


def test_fail_next_fails_exactly_that_many_then_succeeds(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    server.fail_next(2, status=503, retry_after=0)
    first, second, third = (client.post(PATH, json=VALID) for _ in range(3))
    for failed in (first, second):
        assert failed.status_code == 503
        assert failed.headers["retry-after"] == "0"
        assert failed.json() == {"message": "injected failure"}
        assert failed.headers["x-request-id"].startswith("req_")
    assert third.status_code == 200
    assert "retry-after" not in third.headers
    assert [r.status for r in server.requests] == [503, 503, 200]
    assert len(server.issued_tokens) == 1


def test_fail_next_counts_any_request_that_reaches_routing(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    server.fail_next(2, status=500)
    assert client.get("/nowhere").status_code == 500
    assert client.post(PATH, json=VALID, headers={"x-api-key": "wrong"}).status_code == 500
    assert client.get("/nowhere").status_code == 404


def test_fail_next_queues_and_takes_custom_bodies(
    client: httpx2.Client, server: MockTaptiServer
) -> None:
    server.fail_next(1, status=429, retry_after=1.5, body={"error": "slow down"})
    server.fail_next(1, status=502, body=b"<html>Bad Gateway</html>")
    server.fail_next(1, status=504, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")

    limited, gateway, timeout, ok = (client.post(PATH, json=VALID) for _ in range(4))
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "1.5")
    assert limited.json() == {"error": "slow down"}
    assert gateway.status_code == 502
    assert gateway.content == b"<html>Bad Gateway</html>"
    assert gateway.headers["content-type"].startswith("text/plain")
    assert timeout.headers["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert ok.status_code == 200


def test_a_small_retry_after_is_written_as_the_sdk_reads_it(
    client: httpx2.Client, server: MockTaptiServer
) -> None:
    """repr() wrote 1e-07, which no reader of delta-seconds takes: the wait was ignored."""
    server.fail_next(1, status=503, retry_after=1e-7)
    answer = client.post(PATH, json=VALID)
    assert answer.headers["retry-after"] == "0.0000001"
    assert parse_retry_after(answer.headers) == 1e-7


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": -1},
        {"count": 1, "status": 99},
        {"count": 1, "status": 600},
        {"count": 1, "status": 204},
        {"count": 1, "retry_after": -1},
        {"count": 1, "retry_after": float("nan")},
        {"count": 1, "retry_after": "1\r\nSet-Cookie: x=1"},
        {"count": 1, "body": object()},
    ],
)
def test_fail_next_rejects_bad_arguments(server: MockTaptiServer, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        server.fail_next(**kwargs)


def test_fail_next_is_consumed_exactly_under_concurrency(server: MockTaptiServer) -> None:
    server.fail_next(25, status=503)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx2.Client(base_url=server.url, headers={"x-api-key": KEY}, trust_env=False) as h:
            for _ in range(10):
                status = h.post(PATH, json=VALID).status_code
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses).count(503) == 25
    assert statuses.count(200) == 55
    assert len(set(server.issued_tokens)) == 55


def test_a_bug_in_the_handler_is_a_500_and_the_server_survives(
    server: MockTaptiServer, client: httpx2.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(server, "_issue", broken)
    logging.getLogger("tapti_ext.testing").disabled = True  # the traceback is expected here
    try:
        response = client.post(PATH, json=VALID)
    finally:
        logging.getLogger("tapti_ext.testing").disabled = False
    assert response.status_code == 500
    assert isinstance(response.json()["message"], str)
    assert server.requests[-1].status == 500
    monkeypatch.undo()
    assert client.post(PATH, json=VALID).status_code == 200


# --- lifecycle ----------------------------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_stop_closes_keep_alive_connections() -> None:
    threads_before = threading.active_count()
    fds_before = _open_fds()
    server = MockTaptiServer(api_key=KEY).start()
    http = httpx2.Client(base_url=server.url, headers={"x-api-key": KEY}, trust_env=False)
    try:
        first = http.post(PATH, json=VALID)
        second = http.post(PATH, json=VALID)
        assert (first.status_code, second.status_code) == (200, 200)
        assert threading.active_count() == threads_before + 2  # serving + one connection

        started = time.monotonic()
        server.stop()
        # An idle keep-alive connection must not hold stop() until its 30 s timeout.
        assert time.monotonic() - started < 2
        assert threading.active_count() == threads_before
        with pytest.raises(httpx2.TransportError):
            http.post(PATH, json=VALID)
    finally:
        http.close()
        server.stop()
    assert _open_fds() == fds_before


def test_lifecycle_is_idempotent_and_url_needs_a_running_server() -> None:
    server = MockTaptiServer(api_key=KEY)
    assert not server.running
    with pytest.raises(RuntimeError):
        _ = server.url
    with pytest.raises(RuntimeError):
        _ = server.port
    server.stop()  # not started: nothing to do
    server.start()
    try:
        url = server.url
        server.start()  # already running: same server
        assert server.url == url
        assert url == f"http://127.0.0.1:{server.port}"
        assert repr(server) == f"<MockTaptiServer {url}>"
    finally:
        server.stop()
        server.stop()
    assert not server.running
    assert KEY not in repr(server)


def test_server_can_be_restarted() -> None:
    server = MockTaptiServer(api_key=KEY)
    for _ in range(2):
        with server, httpx2.Client(trust_env=False) as http:
            response = http.post(f"{server.url}{PATH}", json=VALID, headers={"x-api-key": KEY})
            assert response.status_code == 200
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": ""},
        {"api_key": "test\\key"},  # the SDK refuses it: the mock's key must be one it can send
        {"portal_url": "oauth.tapti.dev"},
        {"portal_url": "ftp://oauth.tapti.dev"},
    ],
)
def test_bad_constructor_arguments_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MockTaptiServer(**kwargs)


def test_api_key_is_available_but_not_in_repr() -> None:
    server = MockTaptiServer(api_key=KEY)
    assert server.api_key == KEY
    assert KEY not in repr(server)


def test_nothing_is_printed_and_logs_hold_no_key(
    server: MockTaptiServer,
    client: httpx2.Client,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="tapti_ext.testing"):
        client.post(PATH, json=VALID)
        client.post(PATH, json=VALID, headers={"x-api-key": "wrong-key-value"})
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert any(PATH in record.getMessage() for record in caplog.records)
    assert KEY not in caplog.text
    assert "wrong-key-value" not in caplog.text


# --- the pytest plugin --------------------------------------------------------------------------


def test_plugin_module_imports_no_server_code() -> None:
    # pytest imports the plugin in every run of an environment with the package installed.
    code = (
        "import sys, tapti_ext.testing._pytest_plugin, tapti_ext.testing;"
        "print('tapti_ext.testing._server' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_tapti_mock_fixture_serves_a_started_server(tapti_mock: MockTaptiServer) -> None:
    assert tapti_mock.running
    assert tapti_mock.api_key == "test-key"
    with httpx2.Client(base_url=tapti_mock.url, trust_env=False) as http:
        response = http.post(PATH, json=VALID, headers={"x-api-key": tapti_mock.api_key})
    assert response.status_code == 200
    assert tapti_mock.requests[0].status == 200


@pytest.mark.parametrize("port", [-1, 70000, True])
def test_port_out_of_range_is_refused_up_front(port: int) -> None:
    with pytest.raises(ValueError, match="port"):
        MockTaptiServer(port=port)


# --- every method name on a path of the spec ----------------------------------------------------


@pytest.mark.parametrize(
    "method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY", "FOO", "PROPFIND"]
)
def test_any_method_name_on_the_endpoint_is_405_never_501(
    server: MockTaptiServer, client: httpx2.Client, method: str
) -> None:
    response = client.request(method, PATH, json=VALID)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert isinstance(response.json()["message"], str)
    assert server.requests[-1].method == method
    # The body was read, so the kept-alive connection still serves the next request.
    assert client.post(PATH, json=VALID).status_code == 200


@pytest.mark.parametrize("method", [b"QUERY", b"M-SEARCH", b"post", b"X_CUSTOM"])
def test_methods_http_server_does_not_know_get_405_over_a_raw_socket(
    server: MockTaptiServer, method: bytes
) -> None:
    answer = _raw_exchange(
        server, method + b" " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405 ")
    assert b"\r\nAllow: POST\r\n" in head + b"\r\n"
    assert isinstance(json.loads(body)["message"], str)


def test_an_unknown_method_on_an_unknown_path_is_404(client: httpx2.Client) -> None:
    assert client.request("QUERY", "/elsewhere").status_code == 404


# --- delay_next ---------------------------------------------------------------------------------


def test_delay_next_holds_exactly_that_many_answers(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    server.delay_next(0.4, count=2)
    durations = []
    for _ in range(3):
        started = time.monotonic()
        assert client.post(PATH, json=VALID).status_code == 200
        durations.append(time.monotonic() - started)
    assert durations[0] >= 0.4
    assert durations[1] >= 0.4
    assert durations[2] < 0.4
    assert len(server.requests) == 3


def test_a_delay_beyond_the_client_timeout_is_a_hang_and_the_request_is_recorded(
    server: MockTaptiServer,
) -> None:
    server.delay_next(30)
    with (
        httpx2.Client(base_url=server.url, headers={"x-api-key": KEY}, trust_env=False) as http,
        pytest.raises(httpx2.ReadTimeout),
    ):
        http.post(PATH, json=VALID, timeout=0.3)
    (recorded,) = server.requests
    assert recorded.status == 200


def test_delay_next_combines_with_fail_next_into_a_slow_failure(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    server.delay_next(0.3)
    server.fail_next(1, status=503, retry_after=2)
    started = time.monotonic()
    slow = client.post(PATH, json=VALID)
    elapsed = time.monotonic() - started
    assert (slow.status_code, slow.headers["retry-after"]) == (503, "2")
    assert elapsed >= 0.3
    started = time.monotonic()
    assert client.post(PATH, json=VALID).status_code == 200
    assert time.monotonic() - started < 0.3


def test_delays_queue_in_order_and_clear_cancels_them(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    server.delay_next(0.3)
    server.delay_next(0.0, count=1)
    server.delay_next(60)
    started = time.monotonic()
    client.post(PATH, json=VALID)
    client.post(PATH, json=VALID)
    assert 0.3 <= time.monotonic() - started < 10
    server.clear()  # the 60 s delay is cancelled
    started = time.monotonic()
    assert client.post(PATH, json=VALID).status_code == 200
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seconds": -1},
        {"seconds": float("nan")},
        {"seconds": float("inf")},
        {"seconds": True},
        {"seconds": "1"},
        {"seconds": 1, "count": -1},
        {"seconds": 1, "count": 1.5},
    ],
)
def test_delay_next_rejects_bad_arguments(server: MockTaptiServer, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        server.delay_next(**kwargs)


def test_stop_does_not_wait_for_a_held_answer() -> None:
    server = MockTaptiServer(api_key=KEY).start()
    server.delay_next(60)
    outcome: list[BaseException | int] = []

    def call() -> None:
        with httpx2.Client(trust_env=False, timeout=30) as http:
            try:
                answer = http.post(f"{server.url}{PATH}", json=VALID, headers={"x-api-key": KEY})
                outcome.append(answer.status_code)
            except httpx2.TransportError as exc:
                outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    try:
        deadline = time.monotonic() + 10
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.requests, "the request never arrived"
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
    finally:
        server.stop()
        caller.join(timeout=30)
    assert not caller.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx2.TransportError)  # dropped, never answered


# --- the pytest plugin's async fixture ------------------------------------------------------


@pytest.mark.anyio
async def test_tapti_async_client_fixture_calls_the_running_mock(
    tapti_async_client: AsyncTapti, tapti_mock: MockTaptiServer
) -> None:
    assert isinstance(tapti_async_client, AsyncTapti)
    assert tapti_async_client.max_retries == 0
    tapti_mock.fail_next(1, status=503)
    with pytest.raises(Exception, match="503"):
        await tapti_async_client.user("u1").create_sdk_token(**_CALL)
    token = await tapti_async_client.user("u1").create_sdk_token(**_CALL)
    assert token.sdk_token == tapti_mock.issued_tokens[-1]
    assert [r.status for r in tapti_mock.requests] == [503, 200]


def test_tapti_client_fixture_has_no_retries(
    tapti_client: Tapti, tapti_mock: MockTaptiServer
) -> None:
    assert tapti_client.max_retries == 0
    assert tapti_client.base_url.rstrip("/") == tapti_mock.url


_CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}


def _deeply_nested(depth: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(depth):
        nested = [nested]
    return nested


@pytest.mark.parametrize(
    "make",
    [
        lambda: MockTaptiServer(portal_url=True),  # type: ignore[arg-type]
        lambda: MockTaptiServer(portal_url=8080),  # type: ignore[arg-type]
        lambda: MockTaptiServer().delay_next(10**400),
        lambda: MockTaptiServer().fail_next(1, retry_after=10**400),
        lambda: MockTaptiServer().fail_next(1, retry_after=[1]),  # type: ignore[arg-type]
        # Longer than a thread can wait: the answer was dropped, not held.
        lambda: MockTaptiServer().delay_next(1e10),
        lambda: MockTaptiServer().fail_next(1, body=float("nan")),  # no JSON has it
        lambda: MockTaptiServer().fail_next(1, body=_deeply_nested(100_000)),
        # Portal URLs the SDK would refuse in every answer the mock then gave.
        lambda: MockTaptiServer(portal_url="https://a b"),
        lambda: MockTaptiServer(portal_url="https://\ud800"),
        lambda: MockTaptiServer(portal_url="https://x:99999"),
        lambda: MockTaptiServer(portal_url="https://u:p@x"),
        lambda: MockTaptiServer(portal_url="https://x/?sdk_token=abc"),
        lambda: MockTaptiServer(host=5),  # type: ignore[arg-type]
        lambda: MockTaptiServer(host="not a host").start(),
        # An empty host binds every interface, where anyone reaching this machine gets tokens.
        lambda: MockTaptiServer(host=""),
        lambda: MockTaptiServer(host="127.0.0.1\x00"),
        lambda: MockTaptiServer(host="\udcff"),
        lambda: MockTaptiServer(host="0").start(),  # bound every interface too
    ],
    ids=[
        "portal_url-bool",
        "portal_url-int",
        "huge-delay",
        "huge-retry-after",
        "retry-after-list",
        "delay-past-a-thread's-wait",
        "nan-body",
        "deep-body",
        "portal_url-space",
        "portal_url-surrogate",
        "portal_url-port",
        "portal_url-credentials",
        "portal_url-own-token",
        "host-int",
        "host-unknown",
        "host-empty",
        "host-nul",
        "host-surrogate",
        "host-zero",
    ],
)
def test_the_kits_bad_arguments_are_value_or_type_errors(make: Any) -> None:
    with pytest.raises((ValueError, TypeError)) as caught:
        make()
    assert type(caught.value) in {ValueError, TypeError}, repr(caught.value)


def test_a_recorded_request_survives_copy_deepcopy_and_pickle(
    server: MockTaptiServer, client: httpx2.Client
) -> None:
    import copy  # noqa: PLC0415
    import pickle  # noqa: PLC0415

    client.post("/users/u1/sdk-token", json={"user_platforms": ["YOUTUBE"]})
    recorded = server.requests[-1]
    for duplicate in (
        copy.copy(recorded),
        copy.deepcopy(recorded),
        pickle.loads(pickle.dumps(recorded)),
    ):
        assert duplicate == recorded
        assert duplicate.headers["x-api-key"] == "***"
        with pytest.raises(TypeError):  # still read-only
            duplicate.headers["x-api-key"] = "k"  # type: ignore[index]
