"""``http_server.py`` in a process of its own (HTTPS given a ``Tls``), and its control client."""

from __future__ import annotations

import ssl
import subprocess
import sys

import httpx2

from .config import SERVER_SCRIPT
from .tls import Tls


class Server:
    """Started on construction, stopped by ``stop()`` (or by leaving a ``with`` block)."""

    def __init__(self, tls: Tls | None = None) -> None:
        argv = [sys.executable, str(SERVER_SCRIPT)]
        argv += [str(tls.cert), str(tls.key)] if tls else []
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            self.process.wait()
            self.process.stdout.close()
            raise SystemExit(f"the bench server did not start: {line!r}")
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{int(line.split()[1])}"
        verify = ssl.create_default_context(cafile=tls.ca) if tls else True
        self.control = httpx2.Client(base_url=self.url, verify=verify)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Zero the counts of connections and requests."""
        self.control.post("/__reset").raise_for_status()

    def stats(self) -> dict[str, int]:
        response = self.control.get("/__stats")
        response.raise_for_status()
        result: dict[str, int] = response.json()
        return result

    def stop(self) -> None:
        self.control.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
