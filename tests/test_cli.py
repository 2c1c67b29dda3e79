"""The `tapti` command, run as a real subprocess against the mock server."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from tapti_ext import Platform, Scope
from tapti_ext.testing import MockTaptiServer

KEY = "cli-test-key"
CREATE = [
    "sdk-token", "create", "user_7",
    "--platform", "youtube", "--platform", "TikTok",
    "--scope", "profile_read,content_read",
    "--callback-url", "https://app.example/cb",
    "--redirect-url", "https://app.example/done",
]  # fmt: skip
BODY = {
    "user_platforms": ["YOUTUBE"],
    "enabled_scopes": ["PROFILE_READ"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}


@pytest.fixture
def server() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=KEY) as running:
        yield running


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    return subprocess.run(
        [sys.executable, "-m", "tapti_ext", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def env_for(server: MockTaptiServer, key: str = KEY) -> dict[str, str]:
    return {"TAPTI_API_KEY": key, "TAPTI_BASE_URL": server.url}


def assert_one_clean_error_line(result: subprocess.CompletedProcess[str]) -> None:
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_create_prints_the_portal_url(server: MockTaptiServer) -> None:
    result = run(*CREATE, env=env_for(server))
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://oauth.tapti.dev?")
    assert query["sdk_token"] == server.issued_tokens
    assert query["origin"] == ["https://app.example/done"]
    recorded = server.requests[-1]
    assert recorded.path == "/users/user_7/sdk-token"
    assert recorded.json["user_platforms"] == ["YOUTUBE", "TIKTOK"]
    assert recorded.json["enabled_scopes"] == ["PROFILE_READ", "CONTENT_READ"]


def test_create_json_output_parses(server: MockTaptiServer) -> None:
    result = run(*CREATE, "--portal-platform", "youtube", "--json", env=env_for(server))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["sdk_token"] == server.issued_tokens[0]
    assert data["origin"] == "https://app.example/done"
    assert data["platforms"] == ["YOUTUBE", "TIKTOK"]
    assert data["scopes"] == ["PROFILE_READ", "CONTENT_READ"]
    assert parse_qs(urlsplit(data["portal_url"]).query)["platform"] == ["youtube"]
    assert data["oauth_portal_url"].startswith("https://oauth.tapti.dev?sdk_token=")


def test_wrong_key_is_an_api_error_with_exit_1(server: MockTaptiServer) -> None:
    result = run(*CREATE, env=env_for(server, key="not-the-key"))
    assert result.returncode == 1
    assert_one_clean_error_line(result)
    assert "AuthenticationError" in result.stderr
    assert "401" in result.stderr
    assert "not-the-key" not in result.stderr


def test_missing_key_is_bad_input_with_exit_2(server: MockTaptiServer) -> None:
    result = run(*CREATE, env={"TAPTI_BASE_URL": server.url})
    assert result.returncode == 2
    assert_one_clean_error_line(result)
    assert "TAPTI_API_KEY" in result.stderr
    assert server.requests == []


def test_unknown_platform_is_bad_input_and_sends_nothing(server: MockTaptiServer) -> None:
    args = [*CREATE]
    args[args.index("youtube")] = "myspace"
    result = run(*args, env=env_for(server))
    assert result.returncode == 2
    assert_one_clean_error_line(result)
    assert "myspace" in result.stderr
    assert "youtube" in result.stderr  # the message lists the valid values
    assert server.requests == []


def test_usage_error_exits_2_without_traceback() -> None:
    result = run("sdk-token", "create", "user_7", "--platform", "youtube")
    assert result.returncode == 2
    assert_one_clean_error_line(result)
    assert "--scope" in result.stderr


def test_api_key_flag_does_not_exist() -> None:
    result = run(*CREATE, "--api-key", "secret")
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_connection_refused_is_exit_1(unused_port: int) -> None:
    env = {"TAPTI_API_KEY": KEY, "TAPTI_BASE_URL": f"http://127.0.0.1:{unused_port}"}
    result = run(*CREATE, "--max-retries", "0", env=env)
    assert result.returncode == 1
    assert_one_clean_error_line(result)
    assert "APIConnectionError" in result.stderr


def test_portal_url_command() -> None:
    result = run(
        "portal-url", "a+b/c=&%", "--platform", "YouTube", "--portal-url", "https://p.example"
    )
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://p.example?")
    assert parse_qs(urlsplit(url).query) == {"sdk_token": ["a+b/c=&%"], "platform": ["youtube"]}


def test_portal_url_rejects_unknown_platform() -> None:
    result = run("portal-url", "tok", "--platform", "friendster")
    assert result.returncode == 2
    assert_one_clean_error_line(result)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["sdk-token", "--help"],
        ["sdk-token", "create", "--help"],
        ["portal-url", "--help"],
        ["mock-server", "--help"],
    ],
)
def test_help_everywhere(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: tapti")


# --- tapti mock-server as a long-running child ------------------------------------------------

# Starts the CLI with SIGINT ignored, inherited through exec: what a non-interactive shell does to
# a background job, and what made Ctrl-C (or kill -INT) a no-op before the CLI set its handlers.
_IGNORING_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)
_LINE_SECONDS = 20.0


@contextlib.contextmanager
def mock_cli(
    *args: str, ignore_sigint: bool = False
) -> Iterator[tuple[subprocess.Popen[str], list[str], queue.Queue[str]]]:
    """``tapti mock-server ARGS`` as a child: the process, its banner lines up to "Press
    Ctrl-C", and a queue of its later stdout lines ("" once stdout closed).

    However the test ends, the child is stopped, reaped and its pipes closed: a pipe left open
    would fail some later test with a ResourceWarning.
    """
    prefix = ["-c", _IGNORING_SIGINT] if ignore_sigint else []
    command = [sys.executable, *prefix, "-m", "tapti_ext", "mock-server", *args]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean,
    ) as process:
        assert process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            banner = []
            while not banner or banner[-1].strip() != "Press Ctrl-C to stop.":
                line = lines.get(timeout=_LINE_SECONDS)
                assert line, f"mock-server ended early: {banner}"
                banner.append(line)
            yield process, banner, lines
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=_LINE_SECONDS)
            reader.join(timeout=_LINE_SECONDS)  # EOF reached: the pipe can be closed safely


def _pump(stdout: IO[str], lines: queue.Queue[str]) -> None:
    for line in stdout:
        lines.put(line)
    lines.put("")


def _stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    """Send ``signum``; the exit code and stderr once the child has ended."""
    process.send_signal(signum)
    code = process.wait(timeout=_LINE_SECONDS)
    assert process.stderr is not None
    return code, process.stderr.read()


@pytest.mark.parametrize("ignore_sigint", [False, True], ids=["sigint-default", "sigint-ignored"])
def test_mock_server_command_prints_url_and_export_line_then_stops_on_sigint(
    ignore_sigint: bool,
) -> None:
    with mock_cli("--api-key", "k1", ignore_sigint=ignore_sigint) as (process, banner, rest):
        url = banner[0].rsplit(" ", 1)[-1].strip()
        assert banner[0].startswith("Mock Tapti API listening on http://127.0.0.1:")
        assert banner[1].strip() == f"export TAPTI_BASE_URL={url} TAPTI_API_KEY=k1"
        result = run(*CREATE, env={"TAPTI_API_KEY": "k1", "TAPTI_BASE_URL": url})
        assert result.returncode == 0, result.stderr
        code, stderr = _stop(process, signal.SIGINT)
        assert rest.get(timeout=_LINE_SECONDS).strip() == "Mock Tapti API stopped."
    assert code == 0
    assert "Traceback" not in stderr


def test_mock_server_command_stops_cleanly_on_sigterm() -> None:
    with mock_cli("--api-key", "k1") as (process, banner, rest):
        url = banner[0].rsplit(" ", 1)[-1].strip()
        code, stderr = _stop(process, signal.SIGTERM)
        assert rest.get(timeout=_LINE_SECONDS).strip() == "Mock Tapti API stopped."
    assert code == 0
    assert "Traceback" not in stderr
    with httpx2.Client(trust_env=False) as http, pytest.raises(httpx2.ConnectError):
        http.get(url)  # the port was closed


def test_mock_server_fault_flags_fail_then_recover() -> None:
    args = ("--api-key", "k1", "--fail-next", "2", "--fail-status", "429", "--retry-after", "0")
    with mock_cli(*args) as (process, banner, _):
        url = banner[0].rsplit(" ", 1)[-1].strip()
        assert "Fault: the next 2 API call(s) fail with 429 (Retry-After: 0)." in "".join(banner)
        with httpx2.Client(base_url=url, headers={"x-api-key": "k1"}, trust_env=False) as http:
            answers = [http.post("/users/u1/sdk-token", json=BODY) for _ in range(3)]
        _stop(process, signal.SIGTERM)
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert [a.headers.get("retry-after") for a in answers] == ["0", "0", None]


def test_mock_server_delay_flags_hold_back_the_next_answers() -> None:
    with mock_cli("--delay", "0.4", "--delay-count", "1") as (process, banner, _):
        url = banner[0].rsplit(" ", 1)[-1].strip()
        assert "Fault: the next 1 answer(s) held back 0.4 s." in "".join(banner)
        durations = []
        with httpx2.Client(base_url=url, trust_env=False) as http:
            for _ in range(2):
                started = time.monotonic()
                assert http.get("/elsewhere").status_code == 404
                durations.append(time.monotonic() - started)
        _stop(process, signal.SIGTERM)
    assert durations[0] >= 0.4
    assert durations[1] < 0.4


def test_mock_server_portal_flag_serves_the_stand_in_portal() -> None:
    with mock_cli("--api-key", "k1", "--portal") as (process, banner, _):
        url = banner[0].rsplit(" ", 1)[-1].strip()
        portal = f"{url}/mock-portal"
        assert banner[1].strip() == (
            f"export TAPTI_BASE_URL={url} TAPTI_API_KEY=k1 TAPTI_PORTAL_URL={portal}"
        )
        assert "does not call callback_url" in banner[2]
        result = run(*CREATE, env={"TAPTI_API_KEY": "k1", "TAPTI_BASE_URL": url})
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{portal}?sdk_token=")
        with httpx2.Client(trust_env=False) as http:
            page = http.get(result.stdout.strip())
        _stop(process, signal.SIGTERM)
    assert page.status_code == 200
    assert "user_7" in page.text


@pytest.mark.parametrize(
    "args",
    [
        ["--fail-status", "500"],
        ["--retry-after", "3"],
        ["--delay-count", "2"],
        ["--fail-next", "1", "--fail-status", "99"],
        ["--fail-next", "-1"],
        ["--fail-next", "1", "--retry-after", "1\u00e9"],
        ["--delay", "-1"],
        ["--delay", "nan"],
    ],
)
def test_mock_server_bad_fault_flags_are_bad_input(args: list[str]) -> None:
    result = run("mock-server", *args)
    assert result.returncode == 2
    assert_one_clean_error_line(result)


# --- help from the generated enums -------------------------------------------------------------


def test_help_lists_every_platform_and_scope_of_the_generated_enums() -> None:
    create = " ".join(run("sdk-token", "create", "--help").stdout.split())
    portal = " ".join(run("portal-url", "--help").stdout.split())
    platforms = ", ".join(member.value.lower() for member in Platform)
    scopes = ", ".join(member.value.lower() for member in Scope)
    assert platforms in create
    assert scopes in create
    assert platforms in portal
    assert "<platforms>" not in create + portal


def test_portal_platform_outside_the_platforms_is_refused_before_sending(
    server: MockTaptiServer,
) -> None:
    args = [*CREATE]
    args[args.index("youtube")] = "instagram"
    result = run(*args, "--portal-platform", "youtube", env=env_for(server))
    assert result.returncode == 2
    assert_one_clean_error_line(result)
    assert "--portal-platform" in result.stderr
    assert server.requests == []


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_mock_server_rejects_a_bad_port(port: str) -> None:
    result = run("mock-server", "--port", port)
    assert result.returncode == 2
    assert_one_clean_error_line(result)


def test_portal_url_with_undecodable_argument_is_bad_input() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tapti_ext", "portal-url", b"tok\xff"],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_mock_server_on_a_taken_port_is_one_line_and_exit_1(server: MockTaptiServer) -> None:
    result = run("mock-server", "--port", str(server.port))
    assert result.returncode == 1
    assert_one_clean_error_line(result)
    assert "in use" in result.stderr


@pytest.mark.parametrize("key", ["", "caf\u00e9"])
def test_mock_server_with_an_unusable_key_is_bad_input(key: str) -> None:
    result = run("mock-server", f"--api-key={key}")
    assert result.returncode == 2
    assert_one_clean_error_line(result)


def test_output_the_terminal_cannot_encode_is_one_line_and_exit_1() -> None:
    result = run(
        "portal-url",
        "tok",
        "--portal-url",
        "https://p\u00f6rtal.example",
        env={"PYTHONIOENCODING": "ascii"},
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_a_reader_that_goes_away_gets_no_traceback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tapti_ext", "portal-url", "tok"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.close()  # nobody will read what it prints
    _, stderr = process.communicate(timeout=60)
    assert b"Traceback" not in stderr
