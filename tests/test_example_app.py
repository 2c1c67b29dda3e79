"""The Flask example backend, run against the mock Tapti API."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from examples.flask_backend import create_app
from tapti_ext import Platform, Tapti
from tapti_ext.testing import MockTaptiServer


@pytest.fixture
def client(tapti_mock: MockTaptiServer) -> Iterator[FlaskClient]:
    signed_in = {"user": "user_42"}
    with Tapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url, max_retries=0) as tapti:
        app = create_app(tapti, current_user=lambda: signed_in["user"])
        with app.test_client() as test_client:
            test_client.signed_in = signed_in  # type: ignore[attr-defined]
            yield test_client


def test_connect_redirects_303_to_the_portal_with_platform(
    client: FlaskClient, tapti_mock: MockTaptiServer
) -> None:
    response = client.get("/connect/youtube")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}" == "https://oauth.tapti.dev"
    assert query["platform"] == ["youtube"]
    assert query["sdk_token"] == tapti_mock.issued_tokens
    assert query["origin"] == ["https://your-app.com/dashboard/accounts"]
    assert response.headers["Cache-Control"] == "no-store"
    sent = tapti_mock.requests[-1]
    assert sent.user_id == "user_42"
    assert sent.json["user_platforms"] == ["YOUTUBE"]


def test_each_visit_creates_a_fresh_token(client: FlaskClient, tapti_mock: MockTaptiServer) -> None:
    first = client.get("/connect/tiktok").headers["Location"]
    second = client.get("/connect/tiktok").headers["Location"]
    assert first != second
    assert len(set(tapti_mock.issued_tokens)) == 2


def test_token_is_not_in_the_response_body_or_cookies(
    client: FlaskClient, tapti_mock: MockTaptiServer
) -> None:
    response = client.get("/connect/youtube")
    token = tapti_mock.issued_tokens[-1]
    assert token not in response.get_data(as_text=True)
    assert all(token not in value for value in response.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize("name", ["myspace", "t\u0131ktok"], ids=["unknown", "dotless i"])
def test_unknown_platform_is_404_and_sends_nothing(
    client: FlaskClient, tapti_mock: MockTaptiServer, name: str
) -> None:
    """A look-alike too: str.upper() makes TIKTOK of it (probe 28)."""
    assert client.get(f"/connect/{name}").status_code == 404
    assert tapti_mock.requests == []


def test_signed_out_user_is_401(client: FlaskClient, tapti_mock: MockTaptiServer) -> None:
    client.signed_in["user"] = None  # type: ignore[attr-defined]
    response = client.get("/connect/youtube")
    assert response.status_code == 401
    # Said plainly: Werkzeug's own 401 page reads like a wrong Tapti key.
    assert "This example has no sign-in of its own" in response.get_data(as_text=True)
    assert tapti_mock.requests == []


def test_api_failure_is_502(client: FlaskClient, tapti_mock: MockTaptiServer) -> None:
    tapti_mock.fail_next(1, status=500)
    assert client.get("/connect/youtube").status_code == 502


def test_home_links_every_platform_to_its_connect_page(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    for platform in Platform:
        assert f'href="/connect/{platform.value.lower()}"' in page
    assert ">Connect YouTube<" in page


def test_redirect_url_and_the_landing_page_for_the_mock_portal(tapti_mock: MockTaptiServer) -> None:
    with Tapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url, max_retries=0) as tapti:
        app = create_app(
            tapti, lambda: "user_1", redirect_url="http://127.0.0.1:5000/dashboard/accounts"
        )
        with app.test_client() as test_client:
            location = test_client.get("/connect/x").headers["Location"]
            landing = test_client.get("/dashboard/accounts")
    assert parse_qs(urlsplit(location).query)["origin"] == [
        "http://127.0.0.1:5000/dashboard/accounts"
    ]
    assert (
        tapti_mock.requests[-1].json["redirect_url"] == "http://127.0.0.1:5000/dashboard/accounts"
    )
    assert landing.status_code == 200
    assert "Back from the portal" in landing.get_data(as_text=True)
