"""The FastAPI example backend, against the mock Tapti API: through ``httpx2.ASGITransport`` with
its lifespan run as a server would run it, and as the program ``--mock`` starts, over real HTTP."""

from __future__ import annotations

import html
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from fastapi import Request

from examples.fastapi_backend import create_app
from tapti_ext import AsyncTapti, Platform, TaptiError
from tapti_ext.testing import MockTaptiServer

ROOT = Path(__file__).resolve().parent.parent
USER = "user_42"
pytestmark = pytest.mark.anyio


@pytest.fixture
def signed_in() -> dict[str, str | None]:
    return {"user": USER}


@pytest.fixture
async def app_client(
    tapti_mock: MockTaptiServer, signed_in: dict[str, str | None]
) -> AsyncIterator[httpx2.AsyncClient]:
    made: list[AsyncTapti] = []

    def new_client() -> AsyncTapti:
        made.append(AsyncTapti(api_key=tapti_mock.api_key, base_url=tapti_mock.url, max_retries=0))
        return made[-1]

    def user(request: Request) -> str | None:
        return signed_in["user"]

    app = create_app(new_client, user)
    # ASGITransport sends requests only; the lifespan is run here, as a server would run it.
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://app") as http,
    ):
        yield http
    assert len(made) == 1  # one client for the app's life, not one per request
    with pytest.raises(TaptiError, match="closed"):  # and the lifespan closed it
        await made[0].user("u").create_sdk_token(
            platforms="youtube", scopes="profile_read", callback_url="https://a.example/c",
            redirect_url="https://a.example/r",
        )  # fmt: skip


async def test_connect_answers_303_to_the_portal_uncached_without_referrer(
    app_client: httpx2.AsyncClient, tapti_mock: MockTaptiServer
) -> None:
    response = await app_client.get(f"/connect/{USER}", params={"platform": "youtube"})
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}" == "https://oauth.tapti.dev"
    assert query["platform"] == ["youtube"]
    assert query["sdk_token"] == tapti_mock.issued_tokens
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert tapti_mock.issued_tokens[-1] not in response.text
    sent = tapti_mock.requests[-1]
    assert (sent.user_id, sent.json["user_platforms"]) == (USER, ["YOUTUBE"])


async def test_without_platform_the_token_covers_all_and_the_picker_shows(
    app_client: httpx2.AsyncClient, tapti_mock: MockTaptiServer
) -> None:
    response = await app_client.get(f"/connect/{USER}")
    assert response.status_code == 303
    assert "platform" not in parse_qs(urlsplit(response.headers["location"]).query)
    assert tapti_mock.requests[-1].json["user_platforms"] == [p.value for p in Platform]


async def test_each_visit_creates_a_fresh_token(
    app_client: httpx2.AsyncClient, tapti_mock: MockTaptiServer
) -> None:
    first = (await app_client.get(f"/connect/{USER}")).headers["location"]
    second = (await app_client.get(f"/connect/{USER}")).headers["location"]
    assert first != second
    assert len(set(tapti_mock.issued_tokens)) == 2


@pytest.mark.parametrize(
    ("user", "path", "status"),
    [
        (None, f"/connect/{USER}", 401),
        (USER, "/connect/someone_else", 403),
        (USER, f"/connect/{USER}?platform=myspace", 404),
        (USER, f"/connect/{USER}?platform=t%C4%B1ktok", 404),  # a look-alike (probe 28)
    ],
)
async def test_refusals_send_nothing(
    app_client: httpx2.AsyncClient,
    tapti_mock: MockTaptiServer,
    signed_in: dict[str, str | None],
    user: str | None,
    path: str,
    status: int,
) -> None:
    signed_in["user"] = user
    assert (await app_client.get(path)).status_code == status
    assert tapti_mock.requests == []


async def test_an_api_failure_is_502(
    app_client: httpx2.AsyncClient, tapti_mock: MockTaptiServer
) -> None:
    tapti_mock.fail_next(1, status=503)
    assert (await app_client.get(f"/connect/{USER}")).status_code == 502


async def test_home_links_to_the_connect_route(app_client: httpx2.AsyncClient) -> None:
    page = (await app_client.get("/")).text
    assert f'href="/connect/{USER}?platform=youtube"' in page


@pytest.mark.parametrize("user", ["team#1", "a?b", "org/alice", "a%2Fb", "<b>&amp;"])
async def test_the_home_pages_links_work_for_any_user_id(
    app_client: httpx2.AsyncClient,
    tapti_mock: MockTaptiServer,
    signed_in: dict[str, str | None],
    user: str,
) -> None:
    """The links were HTML-escaped but not URL-encoded: "#" or "?" ended the path (403), and
    "/" split it (404)."""
    signed_in["user"] = user
    page = (await app_client.get("/")).text
    link = html.unescape(re.findall(r'href="([^"]*)\?platform=youtube"', page)[0])
    response = await app_client.get(link, params={"platform": "youtube"})
    assert response.status_code == 303, (link, response.text)
    assert tapti_mock.requests[-1].user_id == user


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _standalone(example: str, folder: Path) -> Path:
    """A copy of ``examples/<example>.py`` alone in ``folder``: run as the docs say, it must not
    need the rest of the checkout (``python -m examples...`` ran the checkout's SDK)."""
    copy = folder / f"{example}.py"
    copy.write_text((ROOT / "examples" / f"{example}.py").read_text())
    return copy


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[str]:
    """``python examples/fastapi_backend.py --mock`` on a free port; its URL."""
    port = _free_port()
    script = _standalone("fastapi_backend", tmp_path)
    process = subprocess.Popen(
        [sys.executable, str(script), "--mock", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx2.get(f"{url}/", timeout=1)
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        assert process.poll() is None, process.communicate()[0]
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output


def test_the_mock_demo_runs_the_whole_flow_over_http(running_demo: str) -> None:
    with httpx2.Client() as browser:
        assert "Connect YouTube" in browser.get(f"{running_demo}/").text
        redirect = browser.get(f"{running_demo}/connect/demo-user?platform=youtube")
        assert redirect.status_code == 303
        portal = browser.get(redirect.headers["location"])
        assert portal.status_code == 200
        assert "demo-user" in portal.text
        assert "MOCK" in portal.text


@pytest.mark.parametrize(
    ("example", "package"), [("fastapi_backend", "fastapi"), ("flask_backend", "flask")]
)
def test_a_missing_framework_prints_the_install_command(
    example: str, package: str, tmp_path: Path
) -> None:
    # A venv without the examples extra, simulated by making the framework unimportable.
    script = _standalone(example, tmp_path)
    hide = (
        "import runpy, sys\n"
        f"sys.modules[{package!r}] = None\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide, "--mock"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()  # one line, no traceback
    assert f"examples/{example}.py needs the package {package!r}" in line
    assert "pip install '.[examples]'" in line


def test_without_a_key_the_example_says_so_in_one_line(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    script = _standalone("fastapi_backend", tmp_path)
    result = subprocess.run(
        [sys.executable, str(script), "--port", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "python examples/fastapi_backend.py: no API key: pass api_key=... or set the "
        "TAPTI_API_KEY environment variable (or run with --mock)\n"
    )
