"""Errors say what failed in the caller's terms (issue 21): where the call went, how often, where
the base URL and the key came from (never the key), and a bad base URL repeated."""

from __future__ import annotations

import codecs
import contextlib
import json
import pickle
import socket
import threading
import warnings
from typing import Any

import httpx2
import pytest

from tapti_ext import (
    APIConnectionError,
    AuthenticationError,
    InternalServerError,
    InvalidInputError,
    Tapti,
    TaptiError,
    _errors,
)
from tapti_ext._errors import decoded, masked_url
from tapti_ext.testing import MockTaptiServer

CALL: dict[str, Any] = {
    "platforms": "youtube",
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
KEY = "sk_live_caller_terms_0123"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("from_environment", [True, False])
def test_a_connection_error_names_the_origin_the_attempts_and_the_source(
    from_environment: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    if from_environment:
        monkeypatch.setenv("TAPTI_BASE_URL", url)
    with (
        Tapti(api_key=KEY, base_url=None if from_environment else url, max_retries=1) as tapti,
        pytest.raises(APIConnectionError) as info,
    ):
        tapti.user("user_secret_id").create_sdk_token(**CALL)
    message = str(info.value)
    assert f"{url}, 2 attempts" in message
    source = "TAPTI_BASE_URL" if from_environment else "the base_url argument"
    assert f"base URL from {source}" in message
    assert "user_secret_id" not in message
    assert KEY not in message


def test_a_timeout_names_the_origin_too() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with (
            Tapti(api_key=KEY, base_url=url, max_retries=0) as tapti,
            pytest.raises(APIConnectionError, match=rf"{url}, 1 attempt; base URL"),
        ):
            tapti.user("u").create_sdk_token(**CALL, timeout=0.3)


@pytest.mark.parametrize(("retries", "said"), [(2, "; after 3 attempts"), (0, "")])
def test_a_status_error_says_how_many_attempts_ended_in_it(
    retries: int, said: str, tapti_mock: MockTaptiServer
) -> None:
    tapti_mock.fail_next(3, status=503)
    with (
        Tapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url, max_retries=retries) as tapti,
        pytest.raises(InternalServerError) as info,
    ):
        tapti.user("u").create_sdk_token(**CALL)
    assert str(info.value).startswith("503 ")
    assert str(info.value).endswith(f"(request id {info.value.request_id}){said}")
    assert len(tapti_mock.requests) == retries + 1


@pytest.mark.parametrize("from_environment", [True, False])
def test_a_401_says_where_the_key_came_from_never_the_key(
    from_environment: bool, tapti_mock: MockTaptiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    if from_environment:
        monkeypatch.setenv("TAPTI_API_KEY", KEY)
    with (
        Tapti(api_key=None if from_environment else KEY, base_url=tapti_mock.url) as tapti,
        pytest.raises(AuthenticationError) as info,
    ):
        tapti.user("u").create_sdk_token(**CALL)
    source = "TAPTI_API_KEY" if from_environment else "the api_key argument"
    assert str(info.value).endswith(f"the API key came from {source}")
    assert KEY not in str(info.value)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_an_echoed_key_is_masked_in_the_body_too(content_type: str) -> None:
    def echo(request: httpx2.Request) -> httpx2.Response:
        said = f"key {request.headers['x-api-key']} is revoked"
        if content_type == "text/plain":
            return httpx2.Response(401, text=said)
        return httpx2.Response(401, json={"message": said, "details": [{"key": KEY}]})

    with httpx2.Client(transport=httpx2.MockTransport(echo)) as http:
        tapti = Tapti(api_key=KEY, http_client=http)
        with pytest.raises(AuthenticationError) as info:
            tapti.user("u").create_sdk_token(**CALL)
    assert KEY not in json.dumps(info.value.body)
    assert "***" in json.dumps(info.value.body)
    assert KEY not in str(info.value)


def _refused(body: bytes, content_type: bytes) -> AuthenticationError:
    """The error of a call answered ``401`` with ``body``, by a server of its own."""
    listener, url = _status_server(b"401 Unauthorized", body, content_type)
    with (
        listener,
        Tapti(api_key=KEY, base_url=url, max_retries=0) as tapti,
        pytest.raises(AuthenticationError) as info,
    ):
        tapti.user("u").create_sdk_token(**CALL)
    return info.value


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/json", "utf-16"),
        ("application/json", "utf-16-be"),
        ("application/json", "utf-32"),
        ("text/plain; charset=utf-16", "utf-16"),
        ("text/plain; charset=cp500", "cp500"),
        # Stateful: an escape back to ASCII inside the key hides it from a byte search.
        ("text/plain; charset=iso-2022-jp", "iso-2022-jp"),
        ("text/plain; charset=unicode_escape", "unicode_escape"),
    ],
)
def test_an_echoed_key_is_masked_in_the_kept_response_in_any_encoding(
    content_type: str, encoding: str
) -> None:
    """Masking the body as Latin-1 bytes missed a key written in UTF-16, UTF-32 or EBCDIC:
    ``exc.body`` was masked, ``exc.response.text`` and ``.json()`` were not."""
    said = f"key {KEY} is revoked"
    text = json.dumps({"message": said}) if "json" in content_type else said
    body = text.encode(encoding)
    if encoding == "iso-2022-jp":  # a redundant switch to ASCII after the key's first letter
        body = body.replace(KEY[:1].encode(), KEY[:1].encode() + b"\x1b(B", 1)
    elif encoding == "unicode_escape":  # the key's letters written as escapes
        body = body.replace(KEY.encode(), "".join(f"\\x{ord(c):02x}" for c in KEY).encode())
    error = _refused(body, content_type.encode())
    response = error.response
    # Read as a user reads it, masked, the rest as the server wrote it.
    if "json" in content_type:
        assert response.json() == {"message": "key *** is revoked"}
    else:
        assert response.text == "key *** is revoked"
    if encoding not in {"iso-2022-jp", "unicode_escape"}:  # those hide it by escapes
        spelled = KEY.encode({"utf-16": "utf-16-le", "utf-32": "utf-32-le"}.get(encoding, encoding))
        assert spelled not in pickle.dumps(error)


def _big_endian_json_hiding_a_swapped_key() -> bytes:
    """UTF-16 with a big-endian BOM, echoing the key, and beside it the key's byte pairs
    swapped: no reader shows those as the key, unless masking re-encodes little-endian."""
    padded = KEY.encode() + b" " * (len(KEY) % 2)
    swapped = b"".join(padded[i : i + 2][::-1] for i in range(0, len(padded), 2))
    said = f'{{"message": "key {KEY} is revoked", "x": "'.encode("utf-16-be")
    return codecs.BOM_UTF16_BE + said + swapped + '"}'.encode("utf-16-be")


def _utf16_key_a_utf8_rewrite_would_align() -> bytes:
    """A UTF-16-LE copy of the key at an odd offset, unseen by ``.text``; before it, a copy
    only a case-insensitive search finds (a Kelvin sign) and a cut UTF-8 sequence, which
    masking as UTF-8 replaces with 3 bytes for 2, shifting the copy into line."""
    body = b"ab " + KEY.replace("k", "\u212a", 1).encode() + b" \xe2\x84 "
    body += b" " * (len(body) % 2 == 0)
    return body + KEY.encode("utf-16-le") + b"\x00"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (_big_endian_json_hiding_a_swapped_key(), b"application/json"),
        (_utf16_key_a_utf8_rewrite_would_align(), b"text/plain; charset=utf-16-le"),
        # No charset, and JSON's detection reads UTF-8: a terminal hides the NULs.
        (f"\u4e2d key {KEY} is revoked".encode("utf-16-le"), b"text/plain"),
        # Not a charset: not decoded (punycode takes quadratic time); its ASCII is masked.
        (f"key {KEY} is revoked".encode(), b"text/plain; charset=punycode"),
    ],
    ids=["big-endian-bom", "utf8-rewrite-shift", "undeclared-utf16", "punycode"],
)
def test_masking_a_kept_body_hands_no_reader_the_key(body: bytes, content_type: bytes) -> None:
    error = _refused(body, content_type)
    response = error.response
    readings = [response.content.replace(b"\x00", b"").decode("latin-1"), str(error.body)]
    with contextlib.suppress(Exception):  # a reader that cannot decode it sees nothing
        readings.append(response.text)
    with contextlib.suppress(Exception):
        readings.append(json.dumps(response.json()))
    assert not [reading for reading in readings if KEY.lower() in reading.lower()]
    assert KEY.encode() not in pickle.dumps(error).replace(b"\x00", b"")


def test_masking_reads_json_as_json_loads_does_through_its_detect_encoding() -> None:
    """Pins ``json.detect_encoding``, a name outside json's ``__all__`` and documentation."""
    assert _errors._json_encoding is json.detect_encoding
    assert json.detect_encoding("{}".encode("utf-16-be")) == "utf-16-be"


def test_without_json_detect_encoding_a_utf16_key_is_still_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Were the name gone, UTF-8 is assumed, and the NUL pass masks a UTF-16 key."""
    monkeypatch.setattr(_errors, "_json_encoding", lambda _: "utf-8")
    body = json.dumps({"message": f"key {KEY} is revoked"}).encode("utf-16")
    kept = _errors.redacted_content(body, KEY, "utf-8")
    assert KEY not in kept.decode("utf-16")
    assert "is revoked" in kept.decode("utf-16")


def test_host_name_codecs_are_not_read_as_a_charset() -> None:
    """punycode decodes in quadratic time (a 1 MiB body took two minutes, with the GIL held):
    neither masking nor ``exc.body`` decodes with it; its ASCII, the key's, is masked as bytes."""
    assert decoded(b"abc", "punycode") is None
    assert decoded(b"abc", "IDNA") is None
    assert decoded(b"abc", "utf-8") == "abc"


def test_a_charset_whose_decoding_warns_still_gives_the_status_error() -> None:
    """Masking decodes as ``.text`` would; ``unicode_escape`` warns of an invalid escape, and
    under ``-W error`` (this suite's setting) that warning came out of the call, not the 401."""
    body = f"bad escape \\] and key {KEY}".encode()
    listener, url = _status_server(b"401 Unauthorized", body, b"text/plain; charset=unicode_escape")
    with (
        warnings.catch_warnings(),
        listener,
        Tapti(api_key=KEY, base_url=url, max_retries=0) as tapti,
    ):
        warnings.simplefilter("error")
        with pytest.raises(AuthenticationError):
            tapti.user("u").create_sdk_token(**CALL)


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (
            "token https://oauth.tapti.dev?sdk_token=tok_9 is expired; create a new one",
            "token https://oauth.tapti.dev?sdk_token=*** is expired; create a new one",
        ),
        (
            "see https://p.example/?%73dk%5Ftoken=tok_9&x=1\tand retry",
            "see https://p.example/?sdk_token=***&x=1\\tand retry",  # the tab shown escaped
        ),
        ('{"sdk_token": "tok_9", "hint": "create a new one"}', "create a new one"),
    ],
)
def test_a_token_in_the_servers_message_is_masked_and_the_rest_kept(said: str, shown: str) -> None:
    """A message was taken apart as one URL: all of it after the token went into the masked
    value, the words after it with it."""
    answer = httpx2.Response(400, json={"message": said})
    with httpx2.Client(transport=httpx2.MockTransport(lambda _: answer)) as http:
        tapti = Tapti(api_key=KEY, http_client=http, max_retries=0)
        with pytest.raises(TaptiError) as info:
            tapti.user("u").create_sdk_token(**CALL)
    assert shown in str(info.value)
    assert "tok_9" not in str(info.value)


@pytest.mark.parametrize(
    ("base_url", "shown"),
    [
        ("ftp://api.example", "'ftp://api.example'"),
        ("https://user:pass@a..b/v1", "'a..b'"),
        ("https://api.example/v1?x=1", "query or fragment"),
    ],
)
def test_a_bad_base_url_is_repeated_without_credentials(base_url: str, shown: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Tapti(api_key=KEY, base_url=base_url)
    assert shown in str(info.value)
    assert "pass" not in str(info.value).replace("pass allow", "")


# --- what a server says is quoted printable and bounded ------------------------------------------


def _status_server(
    status_line: bytes, body: bytes, content_type: bytes = b"application/json"
) -> tuple[socket.socket, str]:
    """A server giving every connection one answer: ``status_line`` and ``body``."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\n" % (status_line, content_type)
                connection.sendall(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize(
    ("status_line", "said"),
    [
        (b"400 Bad Request", "\x1b[2J\x1b]0;owned\x07\n2026-12-02 INFO payment ok \u202etxt"),
        (b"401 " + b"R" * 15_000, ""),
        (b"401 bad key " + KEY.encode() + b"\x1b[31m", ""),
        # Unicode tags spelling hidden words, a bidi mark, zero-width characters.
        (b"400 Bad Request", "\U000e0049\U000e0047 \u061c\ufeff\u2060 2026-12-02 INFO payment ok"),
    ],
    ids=["escapes-in-message", "huge-reason", "key-and-escape-in-reason", "format-characters"],
)
def test_server_text_in_messages_is_printable_bounded_and_redacted(
    status_line: bytes, said: str
) -> None:
    listener, url = _status_server(status_line, json.dumps({"message": said}).encode())
    with (
        listener,
        Tapti(api_key=KEY, base_url=url, max_retries=0) as tapti,
        pytest.raises(TaptiError) as info,
    ):
        tapti.user("alice").create_sdk_token(**CALL)
    message = str(info.value)
    assert message.isprintable(), repr(message)  # no escape, bell, line break or bidi control
    assert len(message) <= 600
    assert KEY not in message
    if said:  # the server's words are still there, escaped
        assert "2026-12-02 INFO payment ok" in message
        first = said.split(" ", 1)[0]  # the first word, as the message must show it
        assert ascii(first)[1:-1] in message, message


def test_the_spaces_of_server_text_stay_as_they_came() -> None:
    """French and Japanese text space with no-break and ideographic spaces: not escaped, as
    line and paragraph separators are (review 21)."""
    said = "Champ requis\u00a0: callback_url\u202f; \u3000\u2028fin"
    listener, url = _status_server(b"400 Bad Request", json.dumps({"message": said}).encode())
    with (
        listener,
        Tapti(api_key=KEY, base_url=url, max_retries=0) as tapti,
        pytest.raises(TaptiError) as info,
    ):
        tapti.user("alice").create_sdk_token(**CALL)
    assert "Champ requis\u00a0: callback_url\u202f; \u3000\\u2028fin" in str(info.value)


def test_a_connection_error_brackets_an_ipv6_host() -> None:
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = int(probe.getsockname()[1])
    tapti = Tapti(api_key=KEY, base_url=f"http://[::1]:{port}", max_retries=0)
    with tapti, pytest.raises(APIConnectionError) as caught:
        tapti.user("u1").create_sdk_token(**CALL)
    assert f"http://[::1]:{port}, 1 attempt" in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("TAPTI_PORTAL_URL", "https://portal example", "TAPTI_PORTAL_URL must not contain"),
        ("TAPTI_PORTAL_URL", "ftp://portal.example", "TAPTI_PORTAL_URL must be"),
        ("TAPTI_API_KEY", "key with spaces", "TAPTI_API_KEY must be printable ASCII"),
    ],
)
def test_a_bad_environment_variable_is_named_not_the_argument(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    monkeypatch.setenv("TAPTI_API_KEY", KEY)
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInputError) as caught:
        Tapti()
    assert str(caught.value).startswith(said), str(caught.value)
    if variable == "TAPTI_PORTAL_URL":  # read by the bare function too
        from tapti_ext import oauth_portal_url  # noqa: PLC0415

        with pytest.raises(InvalidInputError, match=f"^{said}"):
            oauth_portal_url("tok")


@pytest.mark.parametrize(
    ("extras", "said"),
    [
        ({"extra_body": {"ttl": float("nan")}}, "extra_body cannot be sent as JSON"),
        ({"extra_body": {"ttl": float("inf")}}, "extra_body cannot be sent as JSON"),
        ({"extra_body": {"note": "\ud800"}}, "extra_body cannot be sent as JSON"),
        ({"extra_body": {"when": {1, 2}}}, "extra_body cannot be sent as JSON"),
        ({"extra_query": {"q": "\ud800"}}, "extra_query cannot be sent in a URL"),
        # httpx2 would send their str(): "b'\\xff'", an object's repr.
        ({"extra_query": {"q": b"\xff"}}, "extra_query must map str names to str, int"),
        ({"extra_query": {"q": [1, object()]}}, "extra_query must map str names to str, int"),
        ({"extra_query": {1: "x"}}, "extra_query must map str names to str, int"),
    ],
    ids=["nan", "inf", "surrogate", "set", "query-surrogate", "bytes", "object", "int-name"],
)
def test_a_request_that_cannot_be_built_names_the_argument(
    extras: dict[str, Any], said: str
) -> None:
    with MockTaptiServer(api_key=KEY) as server, Tapti(api_key=KEY, base_url=server.url) as tapti:
        with pytest.raises(InvalidInputError) as caught:
            tapti.user("u1").create_sdk_token(**CALL, **extras)
        assert server.requests == []  # refused before anything was sent
    assert str(caught.value).startswith(said), str(caught.value)
    assert "\ud800" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example@evil.example/done",
        "https://app.example\\@evil.example/done",
    ],
    ids=["user-name", "backslash"],
)
@pytest.mark.parametrize("argument", ["callback_url", "redirect_url"])
def test_a_url_a_browser_reads_as_another_host_is_refused_as_a_call_argument(
    argument: str, url: str
) -> None:
    with MockTaptiServer(api_key=KEY) as server, Tapti(api_key=KEY, base_url=server.url) as tapti:
        with pytest.raises(InvalidInputError, match=f"^{argument} (holds|has a host)"):
            tapti.user("u1").create_sdk_token(**{**CALL, argument: url})
        with pytest.raises(InvalidInputError, match=f"^{argument} (holds|has a host)"):
            Tapti(api_key=KEY, base_url=server.url, **{argument: url})
        assert server.requests == []


def test_an_internationalised_host_is_judged_in_its_idna_form_but_a_portal_is_written_so() -> None:
    url = "https://b\u00fccher.example/api/oauth/callback"
    with MockTaptiServer(api_key=KEY) as server, Tapti(api_key=KEY, base_url=server.url) as tapti:
        tapti.user("u1").create_sdk_token(**{**CALL, "callback_url": url, "redirect_url": url})
        [request] = server.requests
        assert request.json["callback_url"] == url  # sent as given
        with pytest.raises(InvalidInputError, match="portal_url has a host a browser"):
            Tapti(api_key=KEY, base_url=server.url, portal_url="https://b\u00fccher.example")


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_port_0_is_refused_not_sent_to_the_default_port(scheme: str) -> None:
    # httpcore2 reads port 0 as none given: the key went to port 80 or 443 of that host.
    with pytest.raises(InvalidInputError, match=r"^base_url is not a valid URL \(port 0\)"):
        Tapti(api_key=KEY, base_url=f"{scheme}://127.0.0.1:0")
    with pytest.raises(InvalidInputError, match=r"^callback_url is not a valid URL \(port 0\)"):
        Tapti(api_key=KEY, callback_url=f"{scheme}://app.example:0/cb")


def test_a_header_value_h11_would_quote_is_refused_without_quoting_it() -> None:
    credential = "Bearer partner-secret-0123456789"
    with MockTaptiServer(api_key=KEY) as server, Tapti(api_key=KEY, base_url=server.url) as tapti:
        for value in (f"{credential} ", f"\t{credential}"):
            with pytest.raises(InvalidInputError, match="must not begin or end") as caught:
                tapti.user("u1").create_sdk_token(**CALL, extra_headers={"authorization": value})
            assert "partner-secret" not in str(caught.value)
        assert server.requests == []


KEY_AS_URL = {
    "TAPTI_PORTAL_URL": lambda: Tapti(api_key=KEY),
    "portal_url": lambda: Tapti(api_key=KEY, portal_url=KEY),
    "redirect_url default": lambda: Tapti(api_key=KEY, redirect_url=f"https://a:{KEY}/"),
    "callback_url of a call": lambda: (
        Tapti(api_key=KEY, base_url="http://127.0.0.1:9")
        .user("u1")
        .create_sdk_token(**{**CALL, "callback_url": KEY})
    ),
}


@pytest.mark.parametrize("where", KEY_AS_URL)
def test_a_key_pasted_as_a_url_is_masked_where_the_url_is_quoted(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A portal URL holding the key is refused without being quoted (it is looked for first);
    the other URLs are quoted with the key masked."""
    if where == "TAPTI_PORTAL_URL":
        monkeypatch.setenv("TAPTI_PORTAL_URL", KEY)
    else:
        monkeypatch.delenv("TAPTI_PORTAL_URL", raising=False)
    monkeypatch.delenv("TAPTI_BASE_URL", raising=False)
    with pytest.raises(InvalidInputError) as caught:
        KEY_AS_URL[where]()
    assert KEY not in str(caught.value)
    said = "holds the API key" if "portal" in where.lower() else "***"
    assert said in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "said"), [("TAPTI_PORTAL_URL", "holds the API key"), ("TAPTI_BASE_URL", "'***'")]
)
def test_the_cli_never_quotes_the_environments_key_in_a_refused_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, said: str
) -> None:
    from tapti_ext._cli import main  # noqa: PLC0415

    monkeypatch.setenv("TAPTI_API_KEY", KEY)
    monkeypatch.setenv(variable, KEY)
    creating = ["sdk-token", "create", "u1", "--platform", "youtube", "--scope", "profile_read"]
    creating += ["--callback-url", "https://a.example/cb", "--redirect-url", "https://a.example/r"]
    command = ["portal-url", "tok"] if "PORTAL" in variable else creating
    assert main([*command, "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "invalid_input_error"
    assert KEY not in error["message"]
    assert said in error["message"]


@pytest.mark.parametrize(
    "text",
    [
        "https://p.example/?app=My App&%73dk_token=tok_9 more",  # a space before an encoded name
        "https://p.example/?sdk_token=tok_\n9 more",  # a token wrapped onto the next line
        "https://p.example/?sdk_token=tok_\t9 more",
        "https://p.example/?SDK%5fTOKEN=tok_9 more",
    ],
)
def test_a_token_is_masked_however_the_text_around_it_is_cut(text: str) -> None:
    """Taking a message apart word by word (to keep the words after a token) must not let a
    token through that parsing the whole text as one URL masked."""
    shown = masked_url(text)
    assert "tok_" not in shown
    assert "9" not in shown
    assert shown.endswith(" more")
