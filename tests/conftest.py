from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx2
import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the TAPTI_* settings of the shell that runs it; a test sets its own."""
    for name in ("TAPTI_API_KEY", "TAPTI_BASE_URL", "TAPTI_PORTAL_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the sync client chose before retries, recorded instead of slept."""
    delays: list[float] = []

    def record(_wake: object, delay: float) -> bool:
        delays.append(delay)
        return False  # not woken by close()

    monkeypatch.setattr("tapti_ext._pipeline._sleep", record)
    return delays


@pytest.fixture
def async_slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The same for the async client; the event loop itself keeps the real asyncio.sleep."""
    delays: list[float] = []

    async def record(_wake: object, delay: float) -> bool:
        delays.append(delay)
        return False  # not woken by close()

    monkeypatch.setattr("tapti_ext._pipeline._async_sleep", record)
    return delays


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound then released, so connecting is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- Prism, the independent OpenAPI mock (tests marked `prism`) ----------------------------------

_ROOT = Path(__file__).resolve().parent.parent
_PRISM = _ROOT / "node_modules" / ".bin" / "prism"
_SPEC = _ROOT / "openapi" / "tapti.yaml"
_PRISM_START_SECONDS = 30.0


@pytest.fixture(scope="session")
def prism() -> Iterator[str]:
    """The base URL of ``prism mock openapi/tapti.yaml`` on a free loopback port.

    Prism (pinned in package.json) is an OpenAPI mock nobody here wrote. In mock mode it validates
    every request against the spec (there is no flag to turn that on: it is always on), and
    ``--errors`` makes every violation it finds, in a request or in its own response, an error
    response rather than a logged warning. Static mode (no ``--dynamic``) answers with the spec's
    examples. A missing Prism fails the test instead of skipping it: CI must run the contract.
    """
    if not os.access(_PRISM, os.X_OK):
        pytest.fail(f"{_PRISM.relative_to(_ROOT)} is missing: run `make install` (it runs npm ci)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SCARF_ANALYTICS": "false", "NO_UPDATE_NOTIFIER": "1"}
    command = [str(_PRISM), "mock", str(_SPEC), "-h", "127.0.0.1", "-p", str(port), "--errors"]
    with tempfile.TemporaryFile(mode="w+", prefix="prism-") as log:
        process = subprocess.Popen(
            command, cwd=_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            _wait_for_prism(url, process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_for_prism(url: str, process: subprocess.Popen[bytes], log: IO[str]) -> None:
    deadline = time.monotonic() + _PRISM_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prism exited with code {process.returncode}:\n{_tail(log)}")
        try:
            httpx2.get(url, timeout=2.0)  # any HTTP answer will do: "/" is a 404 problem document
        except httpx2.TransportError:
            time.sleep(0.2)
        else:
            return
    pytest.fail(f"prism did not answer on {url} within {_PRISM_START_SECONDS:.0f} s:\n{_tail(log)}")


def _tail(log: IO[str]) -> str:
    log.flush()
    log.seek(0)
    return "".join(log.readlines()[-20:])
