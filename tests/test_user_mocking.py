"""The ways a user fakes the SDK's HTTP in their own test suite, each proven (issue 18).

- ``http_client=httpx2.Client(transport=httpx2.MockTransport(handler))``: the documented way.
  The SDK's retries and typed errors still apply to what the handler answers.
- pytest-httpx2's ``httpx2_mock`` fixture (respx on httpcore2's pools): it sees the SDK's
  default traffic, its own pool included, so with it active no call reaches a real server.
- httpx2-pytest's ``httpx2_mock`` (it patches ``httpx2.HTTPTransport``): it sees the SDK only
  through an ``http_client``; the default pool goes past it.
- vcrpy's cassettes: the same as httpx2-pytest. respx's ``respx.mock``, pytest-httpx and
  responses (the httpx and requests stacks): they see nothing of the SDK.
- pytest-socket: the guard that stops the SDK's calls to any other host, whatever the client.
- The SDK's own ``MockTaptiServer`` and fixtures: tests/test_mock_server.py and the docs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
import respx

from tapti_ext import AsyncTapti, AuthenticationError, InternalServerError, Tapti
from tapti_ext.testing import MockTaptiServer

CALL: dict[str, Any] = {
    "platforms": "youtube",
    "scopes": "profile_read",
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
PORTAL = "https://oauth.tapti.dev?sdk_token=tok_mocked&origin=https%3A%2F%2Fapp.example"
URL = "https://api.tapti.ai/users/user_1/sdk-token"


def scripted(*statuses: int) -> tuple[list[httpx2.Request], Any]:
    """A MockTransport handler answering ``statuses`` in turn (a 200 carries a portal URL)."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        status = statuses[min(len(seen), len(statuses)) - 1]
        body = {"oauth_portal_url": PORTAL} if status == 200 else {"message": "scripted"}
        return httpx2.Response(status, json=body)

    return seen, handler


def test_a_mock_transport_keeps_retries(slept: list[float]) -> None:
    seen, handler = scripted(503, 503, 200)
    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        token = Tapti(api_key="k", http_client=http).user("user_1").create_sdk_token(**CALL)
    assert token.sdk_token == "tok_mocked"
    assert len(seen) == 3
    assert len(slept) == 2  # the SDK's backoff ran (recorded, not slept, by the fixture)


def test_a_mock_transport_keeps_typed_errors() -> None:
    _, handler = scripted(401)
    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        tapti = Tapti(api_key="k", http_client=http)
        with pytest.raises(AuthenticationError, match="scripted"):
            tapti.user("user_1").create_sdk_token(**CALL)


@pytest.mark.anyio
async def test_an_async_mock_transport_keeps_typed_errors(async_slept: list[float]) -> None:
    seen, handler = scripted(500)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        tapti = AsyncTapti(api_key="k", http_client=http, max_retries=1)
        with pytest.raises(InternalServerError):
            await tapti.user("user_1").create_sdk_token(**CALL)
    assert len(seen) == 2


def test_pytest_httpx2_sees_the_default_own_pool(
    httpx2_mock: respx.Router, slept: list[float]
) -> None:
    route = httpx2_mock.post(URL).mock(
        side_effect=[
            respx.MockResponse(503, json={"message": "busy"}),
            respx.MockResponse(200, json={"oauth_portal_url": PORTAL}),
        ]
    )
    with Tapti(api_key="k") as tapti:  # no http_client: the SDK's own pool
        token = tapti.user("user_1").create_sdk_token(**CALL)
    assert token.sdk_token == "tok_mocked"
    assert route.call_count == 2
    assert json.loads(route.calls.last.request.content)["user_platforms"] == ["YOUTUBE"]


@pytest.mark.httpx2(assert_all_called=False)
def test_pytest_httpx2_lets_nothing_unmocked_through(httpx2_mock: respx.Router) -> None:
    httpx2_mock.post("https://api.tapti.ai/elsewhere").respond(200)
    with Tapti(api_key="k") as tapti, pytest.raises(AssertionError, match="not mocked"):
        tapti.user("user_1").create_sdk_token(**CALL)
    # respx's refusal is the test's own failure, passed through, not retried or wrapped.
    assert httpx2_mock.calls.call_count == 0


# httpx2-pytest installs the same module as pytest-httpx2 (``pytest_httpx2``), so it runs in a
# pytest of its own, with it alone on the path ahead of the dev environment's.
HTTPX2_PYTEST = "httpx2-pytest==2.0.0"
PIP_INSTALL = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
HTTPX2_PYTEST_USER_TESTS = """
import httpx2
import pytest
from tapti_ext import Tapti
from tapti_ext.testing import MockTaptiServer

CALL = {CALL!r}
MOCKED = {{"oauth_portal_url": "https://oauth.tapti.dev?sdk_token=tok_from_plugin&origin=x"}}


@pytest.mark.httpx2_mock(assert_all_responses_were_requested=False)
def test_the_default_pool_goes_past_the_plugin(httpx2_mock):
    httpx2_mock.add_response(json=MOCKED)
    with MockTaptiServer() as server, Tapti(api_key=server.api_key, base_url=server.url) as tapti:
        token = tapti.user("u1").create_sdk_token(**CALL)
    assert len(server.requests) == 1  # the real server answered
    assert token.sdk_token != "tok_from_plugin"
    assert httpx2_mock.get_requests() == []


def test_an_httpx2_client_is_seen_by_the_plugin(httpx2_mock):
    httpx2_mock.add_response(json=MOCKED)
    with httpx2.Client() as http, Tapti(api_key="sk_test_key_1", http_client=http) as tapti:
        token = tapti.user("u1").create_sdk_token(**CALL)
    assert token.sdk_token == "tok_from_plugin"
    assert len(httpx2_mock.get_requests()) == 1
"""


def test_httpx2_pytest_sees_the_sdk_only_through_an_httpx2_client(tmp_path: Path) -> None:
    """What docs/testing.md says of httpx2-pytest (it patches ``httpx2.HTTPTransport``): the
    SDK's default pool goes past it, to the network; given ``http_client=httpx2.Client()``,
    the plugin answers. Its own assertion on unrequested responses is off in the first test."""
    plugin = _installed(tmp_path / "plugins", [HTTPX2_PYTEST])
    tests = HTTPX2_PYTEST_USER_TESTS
    output = _pytest_with(tmp_path, plugin, ["pytest_httpx2"], tests, "-W", "error")
    assert "2 passed" in output, output
    probe = [sys.executable, "-c", "import pytest_httpx2; print(pytest_httpx2.__file__)"]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), *sys.path])}
    where = subprocess.run(probe, env=environment, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(plugin)), "the run did not use httpx2-pytest"


def test_respx_mock_of_the_httpx_stack_sees_nothing_of_the_sdk() -> None:
    """A 0.1-era suite's ``respx.mock`` (the SDK was on httpx then): it patches httpx's
    stack, so the SDK's call goes past it to the server, and the route is never called."""
    with MockTaptiServer() as server, respx.mock(assert_all_called=False) as router:
        route = router.post(url__startswith=server.url).respond(json={"oauth_portal_url": PORTAL})
        with Tapti(api_key=server.api_key, base_url=server.url) as tapti:
            token = tapti.user("u1").create_sdk_token(**CALL)
    assert not route.called
    assert token.sdk_token == server.issued_tokens[-1]  # the server, not respx, answered


# Cassettes (vcrpy, as pytest-recording runs it), the httpx and requests plugins, and a
# socket-level guard, each in a pytest of its own with only the plugins named (-p ...).
OTHER_PLUGINS = [
    "vcrpy==9.4.2",
    "wrapt==2.5.2",
    "pytest-recording==0.15.0",
    "pytest-socket==0.8.1",
    "pytest-httpx==0.36.2",
    "responses==0.26.3",
]
OTHER_PLUGINS_USER_TESTS = """
import httpx2
import pytest
import responses
from tapti_ext import Tapti
from tapti_ext.testing import MockTaptiServer

CALL = {CALL!r}


@pytest.fixture
def real_api():
    # Stands in for the real API: a server the tests never meant to reach.
    with MockTaptiServer() as server:
        yield server


@pytest.mark.vcr(record_mode="none")  # "no test may reach the network"
def test_a_cassette_does_not_see_the_default_pool(real_api):
    with Tapti(api_key=real_api.api_key, base_url=real_api.url) as tapti:
        tapti.user("u1").create_sdk_token(**CALL)
    assert len(real_api.requests) == 1


@pytest.mark.vcr(record_mode="none")
def test_a_cassette_sees_an_httpx2_client(real_api):
    from vcr.errors import CannotOverwriteExistingCassetteException

    with httpx2.Client() as http, Tapti(
        api_key=real_api.api_key, base_url=real_api.url, http_client=http, max_retries=0
    ) as tapti:
        with pytest.raises(CannotOverwriteExistingCassetteException):
            tapti.user("u1").create_sdk_token(**CALL)
    assert real_api.requests == []


def test_pytest_httpx_does_not_see_the_sdk(httpx_mock, real_api):
    httpx_mock.add_response(json={{"oauth_portal_url": "x"}}, is_optional=True)
    with Tapti(api_key=real_api.api_key, base_url=real_api.url) as tapti:
        tapti.user("u1").create_sdk_token(**CALL)
    assert len(real_api.requests) == 1


@responses.activate
def test_responses_does_not_see_the_sdk(real_api):
    with Tapti(api_key=real_api.api_key, base_url=real_api.url) as tapti:
        tapti.user("u1").create_sdk_token(**CALL)
    assert len(real_api.requests) == 1
"""
SOCKET_GUARD_USER_TESTS = """
import pytest
from pytest_socket import SocketConnectBlockedError
from tapti_ext import Tapti

CALL = {CALL!r}


def test_the_guard_stops_the_default_pool_before_another_host():
    # 192.0.2.1 (TEST-NET-1): were it let through, the connect would only time out.
    with Tapti(api_key="sk_test_key_1", base_url="http://192.0.2.1:9",
               allow_insecure_http=True, max_retries=0, timeout=5) as tapti:
        with pytest.raises(SocketConnectBlockedError):
            tapti.user("u1").create_sdk_token(**CALL)


def test_the_kit_on_this_machine_is_let_through(tapti_client, tapti_mock):
    tapti_client.user("u1").create_sdk_token(**CALL)
    assert len(tapti_mock.requests) == 1
"""


def _installed(target: Path, packages: list[str]) -> Path:
    """``packages`` installed into ``target`` alone (no dependencies), for one pytest run."""
    installed = subprocess.run(
        [*PIP_INSTALL, "--no-deps", "--target", str(target), *packages],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert installed.returncode == 0, f"pip could not install the plugins: {installed.stderr}"
    return target


@pytest.fixture(scope="module")
def other_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OTHER_PLUGINS, installed once for the tests that run them."""
    return _installed(tmp_path_factory.mktemp("other-plugins"), OTHER_PLUGINS)


def _pytest_with(tmp_path: Path, target: Path, plugins: list[str], tests: str, *args: str) -> str:
    """``tests`` run by a pytest whose only plugins are ``-p`` ones, what ``target`` holds
    found first (httpx2-pytest's module shadows pytest-httpx2's, installed here)."""
    (tmp_path / "test_user.py").write_text(tests.format(CALL=CALL))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), *sys.path]),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    options = [option for plugin in plugins for option in ("-p", plugin)]
    ran = subprocess.run(
        [*PYTEST, *options, *args, "test_user.py"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return ran.stdout + ran.stderr


def test_cassettes_and_the_httpx_and_requests_plugins_see_what_docs_say(
    tmp_path: Path, other_plugins: Path
) -> None:
    """What docs/testing.md says of vcrpy (pytest-recording), pytest-httpx and responses:
    only a cassette sees the SDK, and only through an ``httpx2.Client``; the default pool
    goes past all three to the server."""
    plugins = ["pytest_recording.plugin", "pytest_httpx", "tapti_mock"]
    output = _pytest_with(tmp_path, other_plugins, plugins, OTHER_PLUGINS_USER_TESTS)
    assert "4 passed" in output, output


def test_a_socket_guard_stops_the_sdk_and_lets_the_kit_through(
    tmp_path: Path, other_plugins: Path
) -> None:
    """The guard docs/testing.md recommends whatever the client: pytest-socket, allowing only
    this machine. The SDK connects through Python's socket module, so the guard sees it."""
    plugins = ["pytest_socket", "tapti_mock"]
    args = ["--disable-socket", "--allow-hosts=127.0.0.1"]
    output = _pytest_with(tmp_path, other_plugins, plugins, SOCKET_GUARD_USER_TESTS, *args)
    assert "2 passed" in output, output
