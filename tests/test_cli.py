"""The `tapti` command, run as a real subprocess against the mock server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tapti_ext.testing import MockTaptiServer

KEY = "cli-test-key"
CREATE = [
    "sdk-token", "create", "user_7",
    "--platform", "youtube", "--platform", "TikTok",
    "--scope", "profile_read,content_read",
    "--callback-url", "https://app.example/cb",
    "--redirect-url", "https://app.example/done",
]  # fmt: skip


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


def test_mock_server_command_prints_url_and_export_line_then_stops_on_sigint() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tapti_ext", "mock-server", "--api-key", "k1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        assert second.strip() == f"export TAPTI_BASE_URL={url} TAPTI_API_KEY=k1"
        result = run(*CREATE, env={"TAPTI_API_KEY": "k1", "TAPTI_BASE_URL": url})
        assert result.returncode == 0, result.stderr
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Traceback" not in stderr


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
