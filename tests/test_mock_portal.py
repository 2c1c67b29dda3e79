"""The stand-in OAuth Portal of ``MockTaptiServer(portal=True)``, over real HTTP with httpx2.

The browser test (tests/test_browser_portal.py) clicks through the same pages in Chromium; these
tests pin every answer exactly, including the refusals a browser would only show.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlsplit

import httpx2
import pytest

from tapti_ext import Tapti
from tapti_ext.testing import MockTaptiServer

KEY = "portal-test-key"
CALL = {
    "platforms": ["youtube", "tiktok"],
    "scopes": ["profile_read", "content_read"],
    "callback_url": "https://app.example/api/oauth/callback",
    "redirect_url": "https://app.example/dashboard/accounts?tab=social",
}


@pytest.fixture
def server() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=KEY, portal=True) as running:
        yield running


@pytest.fixture
def tapti(server: MockTaptiServer) -> Iterator[Tapti]:
    with Tapti(api_key=KEY, base_url=server.url, max_retries=0) as client:
        yield client


@pytest.fixture
def browser(server: MockTaptiServer) -> Iterator[httpx2.Client]:
    """What a browser does, minus the rendering: no API key, redirects not followed."""
    with httpx2.Client(base_url=server.url, trust_env=False) as http:
        yield http


class _Text(HTMLParser):
    """The text of the elements with an id, and every form field, of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.fields: dict[str, str] = {}
        self.forms: list[dict[str, str]] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "input":
            self.fields[values.get("name", "")] = values.get("value", "")
        if tag == "form":
            self.forms.append(values)
        if "id" in values:
            self._open.append(values["id"])
            self.by_id.setdefault(values["id"], "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ul", "dd", "h1", "span", "p", "button") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element in self._open:
            self.by_id[element] += data


def _read(page: httpx2.Response) -> _Text:
    parsed = _Text()
    parsed.feed(page.text)
    return parsed


def test_issued_portal_urls_point_at_the_mock_portal(server: MockTaptiServer, tapti: Tapti) -> None:
    token = tapti.user("user_42").create_sdk_token(**CALL)
    url = urlsplit(token.oauth_portal_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{server.url}/mock-portal"
    assert server.portal_url == f"{server.url}/mock-portal"
    assert server.portal
    query = parse_qs(url.query)
    assert query["sdk_token"] == server.issued_tokens
    assert query["origin"] == [CALL["redirect_url"]]


def test_the_page_shows_the_user_platforms_and_scopes_and_says_it_is_a_mock(
    tapti: Tapti, browser: httpx2.Client
) -> None:
    token = tapti.user("user_42").create_sdk_token(**CALL)
    page = browser.get(token.oauth_portal_url)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    text = _read(page)
    assert text.by_id["user-id"] == "user_42"
    assert text.by_id["platforms"] == "YOUTUBETIKTOK"
    assert text.by_id["scopes"] == "PROFILE_READCONTENT_READ"
    assert text.by_id["redirect-url"] == CALL["redirect_url"]
    assert text.by_id["callback-url"] == CALL["callback_url"]
    assert "MOCK" in text.by_id["mock-banner"]
    assert "not called by this mock" in page.text
    assert text.fields == {"sdk_token": token.sdk_token}
    assert text.forms == [{"method": "post", "action": "/mock-portal/continue"}]


def test_platform_shows_only_the_chosen_one(tapti: Tapti, browser: httpx2.Client) -> None:
    token = tapti.user("user_42").create_sdk_token(**CALL)
    page = browser.get(token.portal_url(platform="tiktok"))
    assert _read(page).by_id["platforms"] == "TIKTOK"


@pytest.mark.parametrize("platform", ["instagram", "myspace", "", "t\u0131ktok"])
def test_a_platform_the_token_lacks_is_a_400_page(
    tapti: Tapti, browser: httpx2.Client, platform: str
) -> None:
    token = tapti.user("user_42").create_sdk_token(**CALL)
    page = browser.get("/mock-portal", params={"sdk_token": token.sdk_token, "platform": platform})
    assert page.status_code == 400
    assert "youtube, tiktok" in _read(page).by_id["error"] + page.text


def test_the_button_uses_the_token_up_and_redirects_to_redirect_url(
    server: MockTaptiServer, tapti: Tapti, browser: httpx2.Client
) -> None:
    token = tapti.user("user_42").create_sdk_token(**CALL)
    done = browser.post("/mock-portal/continue", data={"sdk_token": token.sdk_token})
    assert done.status_code == 303
    assert done.headers["location"] == CALL["redirect_url"]
    assert done.headers["referrer-policy"] == "no-referrer"
    # Reused: the page and the button both refuse it now.
    again = browser.get(token.oauth_portal_url)
    assert again.status_code == 410
    assert _read(again).by_id["error"] == "SDK token already used"
    assert (
        browser.post("/mock-portal/continue", data={"sdk_token": token.sdk_token}).status_code
        == 410
    )
    assert [r.status for r in server.requests] == [200, 303, 410, 410]


@pytest.mark.parametrize(
    "query",
    [{"sdk_token": "never-issued"}, {}, {"sdk_token": ""}],
    ids=["unknown", "missing", "empty"],
)
def test_an_unknown_or_missing_token_is_a_4xx_page(
    browser: httpx2.Client, query: dict[str, str]
) -> None:
    page = browser.get("/mock-portal", params=query)
    assert page.status_code in (400, 404)
    assert page.headers["content-type"].startswith("text/html")
    assert _read(page).by_id["error"] in ("Unknown SDK token", "No SDK token")
    assert browser.post("/mock-portal/continue", data=query).status_code in (400, 404)


def test_a_token_forgotten_by_clear_is_unknown(
    server: MockTaptiServer, tapti: Tapti, browser: httpx2.Client
) -> None:
    token = tapti.user("user_42").create_sdk_token(**CALL)
    server.clear()
    assert browser.get(token.oauth_portal_url).status_code == 404


def _create_raw(browser: httpx2.Client, user_id: str, redirect_url: str) -> str:
    """A token created with a plain HTTP call: the mock must cope with what any client sends."""
    body = {
        "user_platforms": ["YOUTUBE"],
        "enabled_scopes": ["PROFILE_READ"],
        "callback_url": "https://app.example/cb",
        "redirect_url": redirect_url,
    }
    path = f"/users/{quote(user_id, safe='')}/sdk-token"
    created = browser.post(path, json=body, headers={"x-api-key": KEY})
    assert created.status_code == 200
    (token,) = parse_qs(urlsplit(created.json()["oauth_portal_url"]).query)["sdk_token"]
    return token


def test_every_value_is_escaped(browser: httpx2.Client) -> None:
    hostile = '<script>alert("x")</script>&amp;'
    token = _create_raw(browser, hostile, 'https://app.example/"><img src=x onerror=alert(1)>')
    page = browser.get("/mock-portal", params={"sdk_token": token})
    assert "<script>" not in page.text
    assert "<img" not in page.text
    text = _read(page)
    assert text.by_id["user-id"] == hostile
    assert text.by_id["redirect-url"].startswith('https://app.example/"><img')


def test_pages_forbid_scripts_framing_caching_and_referrers(
    tapti: Tapti, browser: httpx2.Client
) -> None:
    token = tapti.user("user_42").create_sdk_token(**CALL)
    page = browser.get(token.oauth_portal_url)
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "form-action" not in policy  # the button's POST must be able to redirect anywhere
    assert "<script" not in page.text


def test_a_redirect_url_that_is_not_http_is_refused_at_the_button(browser: httpx2.Client) -> None:
    token = _create_raw(browser, "u1", "javascript:alert(1)")
    done = browser.post("/mock-portal/continue", data={"sdk_token": token})
    assert done.status_code == 400
    assert "location" not in done.headers
    # Not used up: nothing happened.
    assert browser.get("/mock-portal", params={"sdk_token": token}).status_code == 200


def test_a_redirect_url_with_spaces_and_line_breaks_cannot_inject_headers(
    browser: httpx2.Client,
) -> None:
    token = _create_raw(browser, "u1", "https://app.example/caf\u00e9 done\r\nSet-Cookie: x=1")
    done = browser.post("/mock-portal/continue", data={"sdk_token": token})
    assert done.status_code == 303
    assert done.headers["location"] == "https://app.example/caf%C3%A9%20done%0D%0ASet-Cookie:%20x=1"
    assert "set-cookie" not in done.headers


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/mock-portal", "GET, HEAD"),
        ("QUERY", "/mock-portal", "GET, HEAD"),
        ("GET", "/mock-portal/continue", "POST"),
    ],
)
def test_wrong_methods_on_portal_pages_are_405(
    browser: httpx2.Client, method: str, path: str, allow: str
) -> None:
    page = browser.request(method, path)
    assert page.status_code == 405
    assert page.headers["allow"] == allow


def test_portal_pages_use_up_no_scripted_failure_or_delay(
    server: MockTaptiServer, tapti: Tapti, browser: httpx2.Client
) -> None:
    token = tapti.user("user_42").create_sdk_token(**CALL)
    server.fail_next(1, status=500)
    server.delay_next(0.5)
    started = time.monotonic()
    assert browser.get(token.oauth_portal_url).status_code == 200
    assert browser.get("/favicon.ico").status_code == 404
    assert time.monotonic() - started < 0.5
    assert browser.get("/users/x/sdk-token").status_code == 500  # the API's turn
    assert time.monotonic() - started >= 0.5


def test_the_token_is_masked_in_records_and_logs(
    server: MockTaptiServer,
    tapti: Tapti,
    browser: httpx2.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="tapti_ext.testing"):
        token = tapti.user("user_42").create_sdk_token(**CALL)
        browser.get(token.portal_url(platform="youtube"))
    secret = str(token.sdk_token)
    page_request = server.requests[-1]
    assert re.fullmatch(
        r"/mock-portal\?sdk_token=\*\*\*&origin=.*&platform=youtube", page_request.path
    )
    assert secret not in repr(server.requests)
    assert secret not in caplog.text
    assert "/mock-portal" in caplog.text


@pytest.mark.parametrize("name", ["sdk%5Ftoken", "sdk%5ftoken", "%73dk_token", "sdk_token"])
def test_the_token_is_masked_whatever_the_parameter_names_encoding(
    server: MockTaptiServer,
    tapti: Tapti,
    browser: httpx2.Client,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    token = tapti.user("user_42").create_sdk_token(**CALL)
    with caplog.at_level(logging.DEBUG, logger="tapti_ext.testing"):
        page = browser.get(f"/mock-portal?{name}={quote(token.sdk_token)}")
    assert page.status_code == 200  # the page read the token under that name
    assert server.requests[-1].path == "/mock-portal?sdk_token=***"
    assert token.sdk_token not in repr(server.requests)
    assert token.sdk_token not in caplog.text


def test_a_refused_request_line_is_logged_without_its_token(
    server: MockTaptiServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="tapti_ext.testing"):
        with socket.create_connection(("127.0.0.1", server.port)) as connection:
            connection.sendall(b"GET /mock-portal?sdk_token=TOKEN-9 x HTTP/1.1\r\n\r\n")
            assert connection.recv(65536).startswith(b"HTTP/1.")
        server.stop()  # every log line of that connection is written
    assert "Bad request syntax" in caplog.text
    assert "TOKEN-9" not in caplog.text


def test_without_portal_the_pages_are_not_served(browser: httpx2.Client) -> None:
    with MockTaptiServer(api_key=KEY) as plain, httpx2.Client(trust_env=False) as http:
        assert not plain.portal
        assert plain.portal_url == "https://oauth.tapti.dev"
        assert http.get(f"{plain.url}/mock-portal").status_code == 404


def test_portal_and_portal_url_together_are_refused() -> None:
    with pytest.raises(ValueError, match="portal"):
        MockTaptiServer(portal=True, portal_url="https://p.example")
    with pytest.raises(ValueError, match="portal"):
        MockTaptiServer(portal=1)  # type: ignore[arg-type]


def test_portal_url_of_a_stopped_portal_server_needs_it_running() -> None:
    server = MockTaptiServer(portal=True)
    with pytest.raises(RuntimeError):
        _ = server.portal_url
