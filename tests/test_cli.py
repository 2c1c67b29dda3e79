"""The `tapti` command, run as a real subprocess against the mock server."""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import queue
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import tapti_api_client.models
from test_deadline import Server, serve
from test_hostile_answers import answer, answering

import tapti_ext
from tapti_ext import Platform, Scope
from tapti_ext._cli import main, to_json
from tapti_ext.testing import MockTaptiServer

__all__ = ["serve"]  # the fixture, imported for pytest

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


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    return subprocess.run(
        [sys.executable, "-m", "tapti_ext", *args],
        env={**clean, **(env or {})},
        input=stdin,
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


def test_create_does_not_read_the_portal_url_it_never_uses(server: MockTaptiServer) -> None:
    """Its help says it reads TAPTI_API_KEY and TAPTI_BASE_URL; a plain-http TAPTI_PORTAL_URL
    (set for the app beside it) made it exit 2 (review 29)."""
    env = {**env_for(server), "TAPTI_PORTAL_URL": "http://portal.example.com"}
    result = run(*CREATE, "--portal-platform", "youtube", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("https://oauth.tapti.dev?")
    assert result.stdout.strip().endswith("platform=youtube")


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
    assert result.stderr.startswith("tapti: error: 401 Unauthorized")
    assert "the API key came from TAPTI_API_KEY" in result.stderr  # the CLI's only key source
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


_USAGE_KEY = "sk_live_ABCDEFGH12345678"


@pytest.mark.parametrize(
    "args",
    [
        ["portal-url", "tok", _USAGE_KEY, "--json"],  # a shifted argument
        [*CREATE, "--timeout", _USAGE_KEY],
        [*CREATE, "--max-retries", _USAGE_KEY],
        ["api", _USAGE_KEY],  # main() spells an operation's "_" as "-"
        ["portal-url", "tok", "--\x1b]0;PWNED\x07\x1b[31mRED"],
        ["portal-url", "tok", "A" * 100_000],
    ],
    ids=["unrecognized", "timeout", "max-retries", "operation", "escapes", "100-kb"],
)
def test_a_usage_error_masks_escapes_and_bounds_what_it_quotes(args: list[str]) -> None:
    """argparse quotes what it refuses as given: the key, a terminal's escapes, 100 KB
    reached stderr (and --json's object) as they were, where every other message masks,
    escapes and bounds them (probe 41)."""
    result = run(*args, env={"TAPTI_API_KEY": _USAGE_KEY})
    assert result.returncode == 2
    shown = result.stdout + result.stderr
    assert "error" in shown
    assert _USAGE_KEY not in shown
    assert _USAGE_KEY.replace("_", "-") not in shown
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert len(shown) < 1_000


def test_api_key_flag_does_not_exist() -> None:
    result = run(*CREATE, "--api-key", "secret")
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_connection_refused_is_exit_1(unused_port: int) -> None:
    env = {"TAPTI_API_KEY": KEY, "TAPTI_BASE_URL": f"http://127.0.0.1:{unused_port}"}
    result = run(*CREATE, "--max-retries", "0", env=env)
    assert result.returncode == 1
    assert_one_clean_error_line(result)
    assert result.stderr.startswith("tapti: error: connection error:")
    # Where the URL came from: a stale TAPTI_BASE_URL is the usual cause.
    assert f"(http://127.0.0.1:{unused_port}, 1 attempt; base URL from TAPTI_BASE_URL)" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("json_mode", "signum"),
    [
        (False, signal.SIGINT),
        (True, signal.SIGINT),
        (False, signal.SIGTERM),
        (True, signal.SIGTERM),
    ],
    ids=["text", "json", "sigterm-text", "sigterm-json"],
)
def test_an_interrupt_during_a_call_exits_130_or_143_and_json_mode_still_prints_one_object(
    json_mode: int, signum: signal.Signals
) -> None:
    """Interrupted while the API has not answered: 130 either way; with --json the script
    reading stdout gets its one object (before, nothing: `jq` failed on empty input). A
    SIGTERM (`timeout`, a process manager) the same, with 143: it ended the process silently."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(_LINE_SECONDS)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        command = [sys.executable, "-m", "tapti_ext", *CREATE, *(["--json"] if json_mode else [])]
        env = {**clean, "TAPTI_API_KEY": KEY, "TAPTI_BASE_URL": url}
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(_LINE_SECONDS)
                assert connection.recv(65536).startswith(b"POST /users/user_7/sdk-token ")
                process.send_signal(signum)  # the call waits for an answer
                stdout, stderr = process.communicate(timeout=_LINE_SECONDS)
    said = "terminated" if signum == signal.SIGTERM else "interrupted"
    assert process.returncode == 128 + signum
    assert "Traceback" not in stderr
    if not json_mode:
        assert stdout == ""
        return
    assert json.loads(stdout) == {
        "error": {
            "type": "interrupted",
            "message": said,
            "request_id": None,
            "status_code": None,
            "retry_after": None,
        }
    }


def test_an_interrupt_after_the_result_is_out_adds_nothing_and_exits_0(
    server: MockTaptiServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ctrl-C or SIGTERM landing once the result is written (``tapti api`` closes its client
    after it) gave a second JSON object after it and exit 130: a script's ``json.load`` failed
    on a token that was issued (probe 41)."""
    for name, value in env_for(server).items():
        monkeypatch.setenv(name, value)

    close = tapti_ext.Tapti.close

    def interrupted(self: tapti_ext.Tapti) -> None:
        close(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(tapti_ext.Tapti, "close", interrupted)
    argv = ["api", "create-sdk-token", "user_7", "--body", json.dumps(BODY), "--json"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "sdk_token=" in json.loads(printed)["oauth_portal_url"]
    assert server.requests[-1].user_id == "user_7"


def test_portal_url_command() -> None:
    result = run(
        "portal-url", "a+b/c=&%", "--platform", "YouTube", "--portal-url", "https://p.example"
    )
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://p.example?")
    assert parse_qs(urlsplit(url).query) == {"sdk_token": ["a+b/c=&%"], "platform": ["youtube"]}


def test_portal_url_reads_the_token_from_standard_input_given_a_dash() -> None:
    """On the command line a token shows in ``ps`` and the shell's history; ``-`` keeps it off."""
    result = run("portal-url", "-", "--portal-url", "https://p.example", stdin="a+b/c=&%\n")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert parse_qs(urlsplit(url).query) == {"sdk_token": ["a+b/c=&%"]}
    with_bom = run("portal-url", "-", "--portal-url", "https://p.example", stdin="\ufefftok_1")
    assert with_bom.stdout.strip() == "https://p.example?sdk_token=tok_1", with_bom.stderr
    too_long = run("portal-url", "-", stdin="t" * (64 * 1024 + 1))
    assert too_long.returncode == 2
    assert "longer than 65536 bytes" in too_long.stderr
    empty = run("portal-url", "-", stdin="")
    assert empty.returncode == 2
    assert_one_clean_error_line(empty)
    assert "SDK_TOKEN must not be empty" in empty.stderr


def test_portal_url_rejects_unknown_platform() -> None:
    result = run("portal-url", "tok", "--platform", "friendster")
    assert result.returncode == 2
    assert_one_clean_error_line(result)


@pytest.mark.parametrize("source", ["--portal-url", "TAPTI_PORTAL_URL"])
def test_portal_url_holding_the_api_key_is_bad_input_and_prints_no_url(source: str) -> None:
    """Printed before, exit 0: a URL for a browser, holding the key."""
    key = "sk_live_SECRETKEY123456"
    portal = f"https://portal.example/{key}/"
    flags = ["--portal-url", portal] if source == "--portal-url" else []
    env = {"TAPTI_API_KEY": key, **({"TAPTI_PORTAL_URL": portal} if not flags else {})}
    result = run("portal-url", "tok", *flags, env=env)
    assert result.returncode == 2
    assert_one_clean_error_line(result)
    assert source in result.stderr
    assert "holds the API key" in result.stderr
    assert key not in result.stderr


@pytest.mark.parametrize("given", ["argument", "stdin"])
def test_the_api_key_given_as_the_token_is_bad_input_and_prints_no_url(given: str) -> None:
    """`echo "$TAPTI_API_KEY" | tapti portal-url -`, a slip: printed before, exit 0, a URL for
    a browser holding the key (probe 27)."""
    key = "sk_live_SECRETKEY123456"
    argument, stdin = (key, None) if given == "argument" else ("-", key + "\n")
    result = run("portal-url", argument, env={"TAPTI_API_KEY": key}, stdin=stdin)
    assert result.returncode == 2
    assert_one_clean_error_line(result)
    assert "SDK_TOKEN holds the API key" in result.stderr
    assert key not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["sdk-token", "--help"],
        ["sdk-token", "create", "--help"],
        ["portal-url", "--help"],
        ["mock-server", "--help"],
        ["api", "--help"],
        ["api", "create-sdk-token", "--help"],
    ],
)
def test_help_everywhere_ends_with_examples_and_exit_codes(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: tapti")
    # After the options: examples that are commands, then the exit codes, last.
    options, examples = result.stdout.split("\nexamples:\n")
    assert "options:" in options
    assert re.match(r"  (export|tapti) ", examples)
    codes = examples.split("\nexit codes:\n")[1]
    assert re.search(r"^  0 +\w", codes, re.MULTILINE)
    assert re.search(r"^  2 +bad input", codes, re.MULTILINE)
    assert re.search(r"^  141 +the output's reader went away", codes, re.MULTILINE)
    assert "Traceback" not in result.stderr
    # Each option listing platforms or scopes has them filled in, wherever it was added.
    assert not re.search(r"<(platforms|scopes)>", result.stdout)


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
            # The text banner ends with "Press Ctrl-C"; the --json one is a single line.
            while not banner or not banner[-1].startswith(("Press Ctrl-C to stop.", "{")):
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


def test_mock_server_command_ignores_signals_after_the_first() -> None:
    """Container runtimes may signal twice: the second must not cut the shutdown short (the
    handlers of before were put back as the server stopped, and SIGTERM's default killed it)."""
    with mock_cli("--api-key", "k1") as (process, _, rest):
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _LINE_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            process.send_signal(signal.SIGTERM)
            time.sleep(0.002)
        assert process.wait(timeout=_LINE_SECONDS) == 0
        assert rest.get(timeout=_LINE_SECONDS).strip() == "Mock Tapti API stopped."


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


def test_mock_server_json_prints_one_object_and_nothing_else() -> None:
    with mock_cli("--api-key", "k1", "--fail-next", "1", "--json") as (process, banner, rest):
        settings = json.loads(banner[0])
        url = settings["base_url"]
        env = {"TAPTI_API_KEY": "k1", "TAPTI_BASE_URL": url}
        failed = run(*CREATE, "--max-retries", "0", "--json", env=env)
        code, stderr = _stop(process, signal.SIGTERM)
        assert rest.get(timeout=_LINE_SECONDS) == ""  # stdout closed with nothing more
    assert settings == {
        "base_url": url,
        "api_key": "k1",
        "portal_url": None,
        "faults": ["Fault: the next 1 API call(s) fail with 503."],
    }
    assert json.loads(failed.stdout)["error"]["type"] == "internal_server_error"
    assert (code, stderr) == (0, "")


def test_portal_url_json() -> None:
    result = run("portal-url", "tok", "--platform", "x", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "portal_url": "https://oauth.tapti.dev?sdk_token=tok&platform=x"
    }


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


@pytest.mark.parametrize("json_mode", [False, True])
def test_mock_server_on_a_port_in_use_names_the_port_and_the_way_out(json_mode: bool) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        result = run("mock-server", "--port", port, *(["--json"] if json_mode else []))
    assert result.returncode == 1
    said = (
        f"port {port} on 127.0.0.1 is already in use: pick another --port, or leave it out "
        "(a free one is chosen)"
    )
    if json_mode:
        error = json.loads(result.stdout)["error"]
        assert (error["type"], error["message"]) == ("system_error", said)
    else:
        assert result.stderr == f"tapti: error: {said}\n"


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


def test_the_export_line_is_quoted_for_the_shell() -> None:
    key = "k$(touch${IFS}pwned)'\"`x`"
    with mock_cli("--api-key", key) as (_process, banner, _rest):
        export = banner[1].strip()
    words = shlex.split(export)
    assert words[0] == "export"
    assert words[2] == f"TAPTI_API_KEY={key}"  # the shell reads the key back unchanged


@pytest.mark.parametrize("key", ["", "caf\u00e9", "a b"])
def test_mock_server_with_an_unusable_key_is_bad_input(key: str) -> None:
    result = run("mock-server", f"--api-key={key}")
    assert result.returncode == 2
    assert_one_clean_error_line(result)


@pytest.mark.parametrize("flag", [[], ["--json"]], ids=["plain", "json"])
def test_a_url_beyond_ascii_prints_in_a_terminal_of_any_encoding(flag: list[str]) -> None:
    """Percent-encoded, as browsers read it: the token in it is not lost to the encoding."""
    result = run(
        "portal-url",
        "tok",
        "--portal-url",
        "https://portal.example/p\u00f6rtal?a=%41",
        *flag,
        env={"PYTHONIOENCODING": "ascii"},
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)["portal_url"] if flag else result.stdout
    expected = "https://portal.example/p%C3%B6rtal?a=%41&sdk_token=tok"
    assert printed.strip() == (expected if not flag else expected.replace("%C3%B6", "\u00f6"))


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


# --- tapti api: any generated operation --------------------------------------------------------

SPEC = json.loads((Path(tapti_ext.__file__).parent / "testing" / "_openapi.json").read_text())
API_CREATE = ("api", "create-sdk-token", "user_7", "--body")


def _spec_operations() -> dict[str, str]:
    """Each operation of the shipped spec: its command name (operationId in kebab case) and
    summary. Read from the spec, not from the generated package the CLI walks."""
    found = {}
    for item in SPEC["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                name = re.sub(r"(?<!^)(?=[A-Z])", "-", operation["operationId"]).lower()
                found[name] = operation["summary"]
    return found


def test_api_help_lists_every_operation_with_its_summary() -> None:
    result = run("api", "--help")
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("positional arguments:")[1].split("options:")[0]
    assert _spec_operations()
    for name, summary in _spec_operations().items():
        assert re.search(rf"^    {name}\s+{re.escape(summary)}$", listing, re.MULTILINE), listing


@pytest.mark.parametrize("name", ["create-sdk-token", "create_sdk_token"])
def test_api_runs_an_operation_and_prints_the_parsed_answer(
    server: MockTaptiServer, name: str
) -> None:
    result = run("api", name, "user 7/a", "--body", json.dumps(BODY), env=env_for(server))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert list(answer) == ["oauth_portal_url"]
    assert parse_qs(urlsplit(answer["oauth_portal_url"]).query)["sdk_token"] == (
        server.issued_tokens
    )
    recorded = server.requests[-1]
    assert recorded.path == "/users/user%207%2Fa/sdk-token"  # one path segment, encoded
    assert recorded.json == BODY


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_api_reads_the_body_from_a_file_or_stdin(
    server: MockTaptiServer, tmp_path: Path, source: str
) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_text(json.dumps(BODY), encoding="utf-8")
    given, stdin = (f"@{body_file}", None) if source == "file" else ("-", json.dumps(BODY))
    result = run(*API_CREATE, given, env=env_for(server), stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert server.requests[-1].json == BODY


@pytest.mark.parametrize("field", sorted(BODY))
def test_api_body_missing_a_required_field_is_one_line_and_sends_nothing(
    server: MockTaptiServer, field: str
) -> None:
    body = {name: value for name, value in BODY.items() if name != field}
    result = run(*API_CREATE, json.dumps(body), env=env_for(server))
    assert result.returncode == 2
    assert_one_clean_error_line(result)
    assert f"--body: {field} is required" in result.stderr
    assert server.requests == []


def test_api_an_empty_body_lists_every_missing_field(server: MockTaptiServer) -> None:
    """Four problems are all named: 'and 1 more' would take the room the fourth needs."""
    result = run(*API_CREATE, "{}", env=env_for(server))
    assert result.returncode == 2
    assert result.stderr == (
        "tapti: error: --body: "
        + "; ".join(f"{field} is required" for field in BODY)  # in the spec's order
        + "\n"
    )


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("{not json", "--body is not valid JSON (Expecting property name"),
        ("[1, 2]", "--body: must be an object"),
        (json.dumps({**BODY, "user_platforms": ["MYSPACE"]}), "user_platforms[0] must be one of"),
        (json.dumps({**BODY, "enabled_scopes": "PROFILE_READ"}), "enabled_scopes must be an array"),
        ("[" * 100_000, "--body is not"),
        ("@/nonexistent/body.json", "cannot read '/nonexistent/body.json'"),
    ],
    ids=["not-json", "array", "bad-enum", "string-for-list", "deep", "missing-file"],
)
def test_api_bad_bodies_are_bad_input(server: MockTaptiServer, body: str, said: str) -> None:
    result = run(*API_CREATE, body, env=env_for(server))
    assert result.returncode == 2
    assert_one_clean_error_line(result)
    assert said in result.stderr
    assert server.requests == []


def test_api_errors_from_the_api_are_exit_1_with_the_request_id_in_json(
    server: MockTaptiServer,
) -> None:
    result = run(*API_CREATE, json.dumps(BODY), "--json", env=env_for(server, key="wrong"))
    assert result.returncode == 1
    assert result.stderr == ""
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "authentication_error"
    assert error["request_id"] == server.requests[-1].request_id
    assert error["message"].startswith("401 Unauthorized")
    assert (error["status_code"], error["retry_after"]) == (401, None)


def test_a_rate_limit_in_json_says_its_status_and_how_long_to_wait(
    server: MockTaptiServer,
) -> None:
    """A script deciding when to run again reads them, not the message's words."""
    server.fail_next(1, status=429, retry_after=120)
    result = run(*API_CREATE, json.dumps(BODY), "--json", env=env_for(server))
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert (error["type"], error["status_code"], error["retry_after"]) == (
        "rate_limit_error",
        429,
        120.0,
    )


def test_the_apis_own_words_are_quoted_as_they_came(server: MockTaptiServer) -> None:
    """The CLI says the library's Python names as flags; the API's message is not the
    library's, and was reworded too: a script matching it no longer matched (probe 21b)."""
    said = "callback_url must be on a verified domain; api_key InvalidRequest"
    server.fail_next(1, status=422, body={"message": said})
    result = run(*API_CREATE, json.dumps(BODY), "--json", env=env_for(server))
    assert result.returncode == 1
    message = json.loads(result.stdout)["error"]["message"]
    # The reason phrase is the mock's Python's: 3.13 says "Unprocessable Content".
    assert message.startswith("422 Unprocessable ")
    assert f": {said} (request id " in message


@pytest.mark.parametrize("command", ["api", "sdk-token"])
def test_an_answer_that_cannot_be_parsed_is_one_line_and_exit_1(
    server: MockTaptiServer, command: str
) -> None:
    server.fail_next(1, status=200, body={"unexpected": True})
    args = [*API_CREATE, json.dumps(BODY)] if command == "api" else CREATE
    result = run(*args, env=env_for(server))
    assert result.returncode == 1
    assert_one_clean_error_line(result)
    assert result.stderr.startswith("tapti: error: unexpected answer from the API: ")
    assert "missing field 'oauth_portal_url'" in result.stderr


# --- every error path, in the CLI's terms, as a line or as one JSON object ------------------------


def _python_names() -> set[str]:
    """Names a CLI user should never read: exception and builtin types, the SDK's classes."""
    names = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)}
    names = {n for n in names if n[0].isupper()} | {"str", "int", "float", "NoneType", "None"}
    names |= {n for n in tapti_ext.__all__ if isinstance(getattr(tapti_ext, n), type)}
    names |= {n for n in dir(httpx2) if isinstance(getattr(httpx2, n), type)}
    names |= {
        n
        for n in dir(tapti_api_client.models)
        if isinstance(getattr(tapti_api_client.models, n), type)
    }
    return names - {"URL"}  # a word as much as a class


PYTHON_NAMES = _python_names()
PYTHON_WORDS = re.compile(
    r"=\.\.\.|api_key|allow_insecure_http|httpx|Error\(|Traceback|extra_(body|query|headers)"
    r"|\bbase_url|(?<!oauth_)portal_url"
)


def assert_in_cli_terms(message: str) -> None:
    assert not PYTHON_WORDS.search(message), message
    named = set(re.findall(r"\b\w+\b", message)) & PYTHON_NAMES
    assert not named, message


class Failing(NamedTuple):
    args: Sequence[str]
    type: str  # the JSON error's type; usage and invalid input exit 2, the rest 1
    env: tuple[tuple[str, str], ...] = (("TAPTI_API_KEY", KEY), ("TAPTI_BASE_URL", "{server}"))
    prepare: Callable[[MockTaptiServer], object] | None = None
    says: str = ""  # in the message: the flag or variable to act on


WRONG_KEY = "not-the-key-401"
ON_MOCK = (("TAPTI_API_KEY", KEY), ("TAPTI_BASE_URL", "{server}"))
NO_RETRY = (*CREATE, "--max-retries", "0")
ERROR_PATHS = {
    "no-key": Failing(
        CREATE,
        "invalid_input_error",
        env=(("TAPTI_BASE_URL", "{server}"),),
        says="no API key: set the TAPTI_API_KEY environment variable",
    ),
    "blank-key": Failing(
        CREATE, "invalid_input_error", env=(("TAPTI_API_KEY", "  "),), says="TAPTI_API_KEY is"
    ),
    "key-not-ascii": Failing(CREATE, "invalid_input_error", env=(("TAPTI_API_KEY", "cl\u00e9"),)),
    "bad-base-url-env": Failing(
        CREATE, "invalid_input_error", env=(("TAPTI_API_KEY", KEY), ("TAPTI_BASE_URL", "ftp://x"))
    ),
    "bad-base-url-flag": Failing(
        (*CREATE, "--base-url", "api.example.com"), "invalid_input_error", says="--base-url must"
    ),
    "base-url-query": Failing(
        (*CREATE, "--base-url", "https://a.example/?x=1"), "invalid_input_error"
    ),
    "remote-http-flag": Failing(
        (*CREATE, "--base-url", "http://api.example.com"),
        "invalid_input_error",
        says="or pass --allow-insecure-http",
    ),
    "remote-http-env": Failing(
        CREATE,
        "invalid_input_error",
        env=(("TAPTI_API_KEY", KEY), ("TAPTI_BASE_URL", "http://api.example.com")),
    ),
    "bad-portal-url-env": Failing(
        ("portal-url", "t"),  # the one command that reads it
        "invalid_input_error",
        env=(*ON_MOCK, ("TAPTI_PORTAL_URL", "ftp://p")),
        says="TAPTI_PORTAL_URL must",
    ),
    "unknown-platform": Failing(
        tuple(a.replace("TikTok", "myspace") for a in CREATE), "invalid_input_error"
    ),
    "unknown-scope": Failing(
        tuple(a.replace("content_read", "mind_read") for a in CREATE), "invalid_input_error"
    ),
    "bad-callback-url": Failing(
        tuple(a.replace("https://app.example/cb", "cb") for a in CREATE),
        "invalid_input_error",
        says="--callback-url must",
    ),
    "bad-user-id": Failing(tuple(a.replace("user_7", "..") for a in CREATE), "invalid_input_error"),
    "portal-platform-outside": Failing((*CREATE, "--portal-platform", "x"), "invalid_input_error"),
    "zero-timeout": Failing(
        (*CREATE, "--timeout", "0"), "invalid_input_error", says="--timeout must be a positive"
    ),
    "nan-timeout": Failing((*CREATE, "--timeout", "nan"), "invalid_input_error"),
    "text-timeout": Failing((*CREATE, "--timeout", "soon"), "usage_error"),
    "negative-retries": Failing((*CREATE, "--max-retries", "-1"), "usage_error"),
    "missing-options": Failing(("sdk-token", "create", "u1"), "usage_error"),
    "unknown-command": Failing(("frobnicate",), "usage_error"),
    "connection-refused": Failing(
        NO_RETRY,
        "api_connection_error",
        env=(("TAPTI_API_KEY", KEY), ("TAPTI_BASE_URL", "{refused}")),
        says="from TAPTI_BASE_URL)",
    ),
    "timeout": Failing(
        (*NO_RETRY, "--timeout", "0.3"), "api_timeout_error", prepare=lambda s: s.delay_next(3)
    ),
    "401": Failing(
        CREATE,
        "authentication_error",
        env=(("TAPTI_API_KEY", WRONG_KEY), ("TAPTI_BASE_URL", "{server}")),
        says="; the API key came from TAPTI_API_KEY",
    ),
    "403": Failing(
        NO_RETRY, "permission_denied_error", prepare=lambda s: s.fail_next(1, status=403)
    ),
    "429": Failing(NO_RETRY, "rate_limit_error", prepare=lambda s: s.fail_next(1, status=429)),
    "500": Failing(NO_RETRY, "internal_server_error", prepare=lambda s: s.fail_next(1, status=500)),
    "unparseable-answer": Failing(
        CREATE,
        "api_response_validation_error",
        prepare=lambda s: s.fail_next(1, status=200, body={"oauth_portal_url": 5}),
    ),
    "portal-url-empty-token": Failing(
        ("portal-url", ""), "invalid_input_error", says="SDK_TOKEN must not be empty"
    ),
    "portal-url-bad-platform": Failing(
        ("portal-url", "t", "--platform", "aol"), "invalid_input_error"
    ),
    "portal-url-bad-portal": Failing(
        ("portal-url", "t", "--portal-url", "p"), "invalid_input_error"
    ),
    "api-unknown-operation": Failing(("api", "frobnicate"), "usage_error"),
    "api-no-body": Failing(API_CREATE[:-1], "usage_error"),
    "api-body-missing-field": Failing(
        (*API_CREATE, json.dumps({"callback_url": "x"})), "invalid_input_error"
    ),
    "api-body-not-json": Failing((*API_CREATE, "{"), "invalid_input_error"),
    "api-bad-path": Failing(
        ("api", "create-sdk-token", "..", "--body", json.dumps(BODY)), "invalid_input_error"
    ),
    "api-no-key": Failing((*API_CREATE, json.dumps(BODY)), "invalid_input_error", env=()),
    "api-422": Failing(
        (*API_CREATE, json.dumps(BODY)),
        "unprocessable_entity_error",
        prepare=lambda s: s.fail_next(1, status=422),
    ),
    # The generated from_dict takes it as it is; the spec refuses it before anything is sent.
    "api-body-wrong-type": Failing(
        (*API_CREATE, json.dumps({**BODY, "callback_url": 5})),
        "invalid_input_error",
        says="--body: callback_url ",
    ),
    "mock-bad-port": Failing(("mock-server", "--port", "http"), "usage_error"),
    "mock-port-in-use": Failing(("mock-server", "--port", "{port}"), "system_error"),
    "mock-empty-key": Failing(
        ("mock-server", "--api-key="), "invalid_input_error", says="--api-key must"
    ),
    "mock-fail-next": Failing(
        ("mock-server", "--fail-next", "-1"), "invalid_input_error", says="--fail-next must"
    ),
    "mock-fail-status": Failing(
        ("mock-server", "--fail-next", "1", "--fail-status", "99"), "invalid_input_error"
    ),
    "mock-retry-after": Failing(
        ("mock-server", "--fail-next", "1", "--retry-after", "1\u00e9"), "invalid_input_error"
    ),
    "mock-delay": Failing(("mock-server", "--delay", "-1"), "invalid_input_error"),
}


def _run_in_process(
    case: Failing, server: MockTaptiServer, refused: int, *, as_json: bool
) -> tuple[int, str, str]:
    """``main()`` on the case (fast: the subprocess tests above cover the process itself)."""
    fill = {
        "{server}": server.url,
        "{refused}": f"http://127.0.0.1:{refused}",
        "{port}": str(server.port),
    }
    args = [fill.get(arg, arg) for arg in case.args]
    env = {name: fill.get(value, value) for name, value in case.env}
    if case.prepare is not None:
        case.prepare(server)
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("TAPTI_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*args, "--json"] if as_json else args)
    return code, out.getvalue(), err.getvalue()


def test_a_bug_with_json_still_prints_one_json_object_and_the_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A script reading ``--json`` output gets its one object even when tapti itself fails;
    the traceback, the useful report of a bug, still goes to stderr."""

    class UnprintableError(RuntimeError):
        def __str__(self) -> str:
            raise ValueError("no words")

    def broken(*_: object, **__: object) -> str:
        raise UnprintableError(KEY)

    monkeypatch.setenv("TAPTI_API_KEY", KEY)
    monkeypatch.setattr("tapti_ext._portal.oauth_portal_url", broken)
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(UnprintableError),
    ):
        main(["portal-url", "tok", "--json"])
    error = json.loads(out.getvalue())["error"]
    assert error["type"] == "internal_error"
    # The type only: an exception's words may hold what it was given (here the key).
    assert error["message"] == "a bug in tapti (UnprintableError); the traceback is on stderr"


@pytest.mark.parametrize("name", ERROR_PATHS)
def test_every_error_path_speaks_cli_as_a_line_and_as_json(
    server: MockTaptiServer, unused_port: int, name: str
) -> None:
    case = ERROR_PATHS[name]
    expected_code = 2 if case.type in {"usage_error", "invalid_input_error"} else 1

    code, out, err = _run_in_process(case, server, unused_port, as_json=False)
    assert (code, out) == (expected_code, ""), err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tapti")
    assert_in_cli_terms(err)
    assert case.says in err
    assert WRONG_KEY not in err

    code, out, err = _run_in_process(case, server, unused_port, as_json=True)
    assert (code, err) == (expected_code, ""), err
    assert len(out.splitlines()) == 1, out
    error = json.loads(out)["error"]
    assert set(json.loads(out)) == {"error"}
    assert set(error) == {"type", "message", "request_id", "status_code", "retry_after"}
    assert error["type"] == case.type
    assert_in_cli_terms(error["message"])
    assert KEY not in out
    assert WRONG_KEY not in out


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--fail-next", "1", "--fail-status", "99"], "--fail-status must be an HTTP status code"),
        (["--fail-next", "1", "--retry-after", "1\u00e9"], "--retry-after must be printable"),
        (["--delay", "-1"], "--delay must be a number from 0 to "),
        (["--delay", "1e300"], "--delay must be a number from 0 to "),
    ],
)
def test_mock_server_fault_flag_messages_name_the_flag_once(args: list[str], said: str) -> None:
    result = run("mock-server", *args)
    assert result.returncode == 2
    assert said in result.stderr, result.stderr
    assert result.stderr.count("--") == 1, result.stderr


def test_api_a_body_json_cannot_carry_is_bad_input_naming_body(server: MockTaptiServer) -> None:
    result = run(*API_CREATE, json.dumps({**BODY, "ttl": float("nan")}), env=env_for(server))
    assert result.returncode == 2
    assert_one_clean_error_line(result)
    assert "--body cannot be sent as JSON" in result.stderr, result.stderr
    assert server.requests == []


# --- the seventh review: output that cannot be written, odd stdin, abbreviations, quotes ---------


def _shell(command: str) -> subprocess.CompletedProcess[str]:
    """``command`` under sh, with ``tapti`` standing for this interpreter's CLI."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    tapti = f"{shlex.quote(sys.executable)} -m tapti_ext"
    return subprocess.run(
        ["/bin/sh", "-c", command.replace("tapti ", f"{tapti} ")],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        "tapti portal-url '' --json > /dev/full; echo exit $?",
        "tapti portal-url '' --json | head -c0; echo",  # the reader leaves before the error
        "tapti portal-url '' 2>&-; echo exit $?",
    ],
)
def test_an_error_report_that_cannot_be_written_is_no_traceback(command: str) -> None:
    result = _shell(command)
    assert "Traceback" not in result.stderr + result.stdout
    assert "tapti: error" not in result.stdout  # never into the stream `$(...)` captures
    if "exit" in command:
        assert result.stdout.strip() == "exit 2"


@pytest.mark.parametrize(
    "command",
    [
        "tapti --help",
        "tapti --version",
        "tapti sdk-token --help",
        "tapti api create-sdk-token --help",
        "tapti portal-url tok",
        "tapti portal-url tok --json",
    ],
)
def test_output_that_cannot_be_written_fails_the_command(command: str) -> None:
    """argparse ignores a failed write, and Python's last flush is past the exit code: without
    a flush of its own, `tapti --help > /dev/full` succeeded having written nothing."""
    result = _shell(f"{command} > /dev/full; echo exit $?")
    assert result.stdout.strip() == "exit 1"
    # With --json too: the report cannot go to the full stdout, so it comes on stderr.
    assert result.stderr == "tapti: error: cannot write the output (No space left on device)\n"


def test_a_closed_stdout_is_refused_before_anything_is_sent(server: MockTaptiServer) -> None:
    result = _shell(
        f"TAPTI_API_KEY={KEY} TAPTI_BASE_URL={server.url} "
        "tapti sdk-token create u1 --platform youtube --scope profile_read "
        "--callback-url https://app.example/cb --redirect-url https://app.example/done >&-; "
        "echo exit $? >&2"
    )
    assert result.stderr == "tapti: error: standard output is closed\nexit 1\n"
    assert server.requests == []


@pytest.mark.parametrize(
    "command", [["portal-url", "tok"], ["--help"], ["--version"], ["mock-server", "--port", "0"]]
)
def test_a_reader_gone_away_ends_with_sigpipes_exit_code_and_says_nothing(
    command: list[str],
) -> None:
    # 141 (128 + SIGPIPE) is what a shell reports for a program the closed pipe ended.
    child = subprocess.Popen(
        [sys.executable, "-m", "tapti_ext", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    child.stdout.close()  # before the child writes: it starts in tens of milliseconds
    said = child.stderr.read()
    child.stderr.close()
    assert child.wait(timeout=60) == 141
    assert said == b""


@pytest.mark.parametrize(
    ("stdin", "reason"), [("printf '\\377{}' |", "not UTF-8 text"), ("<&-", "no standard input")]
)
def test_api_body_from_a_stdin_that_cannot_be_read_is_bad_input(stdin: str, reason: str) -> None:
    body = "tapti api create-sdk-token u1 --body - --json"
    result = _shell(f"{stdin} {body}" if stdin.endswith("|") else f"{body} {stdin}")
    assert result.returncode == 2, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["message"] == f"--body: cannot read standard input ({reason})"


@pytest.mark.parametrize(
    ("given", "named"), [("yes | {body} -", "standard input"), ("{body} @/dev/zero", "'/dev/zero'")]
)
def test_api_body_past_a_mebibyte_is_bad_input_not_a_full_memory(given: str, named: str) -> None:
    """An endless stdin or file was read whole: a MemoryError's traceback at best (probe 30)."""
    result = _shell(given.format(body="tapti api create-sdk-token u1 --json --body"))
    assert result.returncode == 2, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["message"] == f"--body: {named} holds more than 1048576 bytes"


def test_an_abbreviated_flag_is_a_usage_error_not_a_silent_json() -> None:
    result = run("portal-url", "tok", "--js")
    assert result.returncode == 2
    assert "unrecognized arguments: --js" in result.stderr


def test_a_usage_error_quotes_a_huge_value_in_short() -> None:
    result = run("x" * 100_000, "--json")
    message = json.loads(result.stdout)["error"]["message"]
    assert len(message) < 300
    assert "'" + "x" * 80 + "...'" in message
    assert "choose from" in message


def test_a_quoted_value_is_never_reworded_into_cli_terms() -> None:
    url = "ftp://x/TimeoutError?redirect_url=1"
    result = run("portal-url", "tok", "--portal-url", url)
    assert result.returncode == 2
    assert "'ftp://x/TimeoutError?redirect_url=***'" in result.stderr
    assert result.stderr.startswith("tapti: error: --portal-url (or TAPTI_PORTAL_URL) must be")


def test_a_plain_http_portal_on_another_machine_needs_the_flag() -> None:
    url = "http://portal.example/start"
    refused = run("portal-url", "tok", "--portal-url", url)
    assert refused.returncode == 2
    assert refused.stderr == (
        "tapti: error: --portal-url (or TAPTI_PORTAL_URL) uses plain http to a remote host, "
        "which would send every SDK token unencrypted; use https, or pass "
        "--allow-insecure-http\n"
    )
    allowed = run("portal-url", "tok", "--portal-url", url, "--allow-insecure-http")
    assert (allowed.returncode, allowed.stdout) == (0, f"{url}?sdk_token=tok\n")


INF = float("inf")


@pytest.mark.parametrize(
    ("value", "read_back"),
    [
        ({"n": INF}, {"n": INF}),
        ({"n": [-INF, float("nan")]}, {"n": [-INF, None]}),
        ({"s": 'Infinity "NaN" -Infinity', "n": 1.5}, {"s": 'Infinity "NaN" -Infinity', "n": 1.5}),
    ],
)
def test_json_output_is_json_whatever_numbers_the_answer_held(
    value: dict[str, Any], read_back: dict[str, Any]
) -> None:
    """json.dumps writes Infinity and NaN, which no JSON reader takes; an answer's 1e999 (valid
    JSON, too large for a float) came out so from `tapti sdk-token create --json`."""
    text = to_json(value)
    # 1e999 reads back as infinity; Infinity and NaN would reach _refuse.
    assert json.loads(text, parse_constant=_refuse) == read_back


def _refuse(constant: str) -> None:
    raise AssertionError(f"not JSON: {constant}")


@pytest.mark.parametrize(
    "command", [CREATE, [*API_CREATE, json.dumps(BODY)]], ids=["create", "api"]
)
def test_an_answer_with_a_huge_number_prints_as_json(
    serve: Callable[..., Server], command: list[str]
) -> None:
    portal = "https://oauth.tapti.dev?sdk_token=tok_1"
    body = json.dumps({"oauth_portal_url": portal}).encode()[:-1] + b', "expires_in": 1e999}'
    server = serve(answering(answer(200, body)))
    env = {"TAPTI_API_KEY": KEY, "TAPTI_BASE_URL": server.url}
    result = run(*command, "--json", env=env)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout, parse_constant=_refuse)
    assert printed["oauth_portal_url"] == portal
    assert '"expires_in": 1e999' in result.stdout


def test_output_cut_short_fails_the_command_even_unbuffered(tmp_path: Path) -> None:
    """Unbuffered (python -u, PYTHONUNBUFFERED=1, as containers set), the text layer drops the
    rest of a write the system took only part of: 8 KiB of 100 KB written, exit 0."""

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    token = "a" * 100_000
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    with (tmp_path / "out").open("wb") as out:
        result = subprocess.run(
            [sys.executable, "-m", "tapti_ext", "portal-url", token],
            stdout=out,
            stderr=subprocess.PIPE,
            env={**clean, "PYTHONUNBUFFERED": "1"},
            preexec_fn=small_files,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr == "tapti: error: cannot write the output (File too large)\n"


def test_a_closed_stdout_under_json_is_told_on_stderr() -> None:
    result = _shell("tapti portal-url tok --json >&-; echo exit $? >&2")
    assert result.stderr == "tapti: error: standard output is closed\nexit 1\n"


def test_the_mock_server_serves_with_stdout_closed() -> None:
    # Its banner is for people; `tapti mock-server --port N >&- &` serves all the same.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    command = [sys.executable, "-m", "tapti_ext", "mock-server", "--port", str(port)]
    with subprocess.Popen(
        command,
        env=clean,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),  # noqa: PLW1509
    ) as process:
        deadline = time.monotonic() + _LINE_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        # As soon as the port listens: a SIGTERM the kernel gave the server's thread then was
        # lost, the main thread waiting without a timeout (the handler runs only there).
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=_LINE_SECONDS) == 0
        assert process.stderr is not None
        assert process.stderr.read() == b""


def test_main_called_in_process_puts_the_signal_handlers_back() -> None:
    """Left ignored after a stop, they would outlive the call: the host program deaf to Ctrl-C,
    and every child it starts later ignoring SIGINT and SIGTERM."""
    script = (
        "import os, signal, sys, threading\n"
        "from tapti_ext._cli import main\n"
        "before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))\n"
        "threading.Timer(2, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
        "code = main(['mock-server', '--json'])\n"
        "after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))\n"
        "print(code, before == after, file=sys.stderr)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPTI_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stderr.splitlines()[-1] == "0 True", result.stderr


@pytest.mark.parametrize(
    "exc",
    [
        tapti_ext.InvalidInputError("user_id must not be empty"),
        OSError(98, "Address already in use"),
        tapti_ext.APIConnectionError("connection error: refused (http://127.0.0.1:1)"),
        tapti_ext.APITimeoutError("timed out after 1.0 s (http://127.0.0.1:1)"),
        tapti_ext.AuthenticationError(
            "401 Unauthorized",
            response=httpx2.Response(401, request=httpx2.Request("POST", "http://h/")),
            body=None,
        ),
        tapti_ext.APIResponseValidationError(
            "the body is not JSON",
            response=httpx2.Response(200, request=httpx2.Request("POST", "http://h/")),
        ),
        tapti_ext.TaptiError("the client is closed"),
        KeyError("a bug"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_every_failure_line_begins_the_same_way(exc: Exception) -> None:
    """One form for every kind of failure, as argparse writes its own: a script or a person
    finds them all with one grep, whatever went wrong."""
    from tapti_ext import _cli  # noqa: PLC0415

    failure = _cli._failure(exc) or _cli._bug(exc)
    assert failure.line.startswith("tapti: error: ")
    assert not failure.line.startswith("tapti: error: error")  # said once
