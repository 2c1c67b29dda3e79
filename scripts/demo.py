"""`make demo`: the SDK's main job end to end, offline.

Starts the embedded mock Tapti API with the real `tapti mock-server` command, creates an SDK
token for a demo user with the real `tapti sdk-token create` command, prints the OAuth Portal
URLs, and stops the server it started. Exits non-zero if any step fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

TAPTI = str(Path(sys.executable).parent / "tapti")
DEMO_KEY = "demo-key"
USER_ID = "demo-user-42"
CALLBACK_URL = "https://your-app.com/api/oauth/callback"
REDIRECT_URL = "https://your-app.com/dashboard/accounts"
STARTUP_SECONDS = 20


def first_line(server: subprocess.Popen[str], timeout: float) -> str | None:
    """The server's first stdout line, or None if it printed none within `timeout` seconds.

    A reader thread, not a bare readline(): a server that hangs before printing would otherwise
    block the demo forever. (A thread works with pipes on every platform, unlike select.)
    """
    assert server.stdout is not None
    stdout = server.stdout
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else None


def start_mock() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [TAPTI, "mock-server", "--port", "0", "--api-key", DEMO_KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = first_line(server, STARTUP_SECONDS)
    prefix = "Mock Tapti API listening on "
    if line is None or not line.startswith(prefix):
        server.kill()
        server.wait()
        if line is None:
            raise SystemExit(
                f"the mock server did not start: it printed no line within {STARTUP_SECONDS} s "
                "and was killed"
            )
        raise SystemExit(f"the mock server did not start: {line!r}")
    return server, line.removeprefix(prefix).strip()


def stop(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    if server.stdout is not None:
        server.stdout.close()


def main() -> int:
    server, base_url = start_mock()
    try:
        print(f"1. Mock Tapti API started on {base_url} (tapti mock-server)\n")
        command = [
            TAPTI, "sdk-token", "create", USER_ID,
            "--platform", "youtube", "--platform", "tiktok",
            "--scope", "profile_read",
            "--callback-url", CALLBACK_URL,
            "--redirect-url", REDIRECT_URL,
            "--portal-platform", "youtube",
            "--json",
        ]  # fmt: skip
        env = {**os.environ, "TAPTI_API_KEY": DEMO_KEY, "TAPTI_BASE_URL": base_url}
        shown = " ".join(command[1:-1])
        print(f"2. TAPTI_API_KEY=*** TAPTI_BASE_URL={base_url} tapti {shown}\n")
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            return result.returncode
        token = json.loads(result.stdout)
        print("3. Redirect your user to the OAuth Portal:")
        print(f"   {token['oauth_portal_url']}\n")
        print("   or straight to YouTube, skipping the platform picker (&platform=youtube):")
        print(f"   {token['portal_url']}\n")
        print("Against the real API, the same command:")
        print(
            f"   TAPTI_API_KEY=... tapti sdk-token create {USER_ID} --platform youtube "
            f"--scope profile_read --callback-url {CALLBACK_URL} --redirect-url {REDIRECT_URL}"
        )
    finally:
        stop(server)
    print("\nDemo done: mock server stopped.")
    print("\nClick through the whole connect flow offline, in a browser, with the mock's stand-in")
    print("OAuth Portal (it shows the token's user, platforms and scopes; its button goes to the")
    print("redirect URL):")
    print("   python examples/flask_backend.py --mock   # then open http://127.0.0.1:5000/")
    print("   tapti mock-server --portal                # issued portal URLs open the mock portal")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
