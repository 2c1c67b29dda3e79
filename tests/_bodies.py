"""Gzipped bodies for the decoding tests, bombs included, and a server that sends them.

A bomb of 1 GiB of zeros is built without compressing 1 GiB: after a full flush, deflate's
output for 1 MiB of zeros does not depend on what came before, so one such block repeated makes
the gzip member (only the checksum is computed over the whole). ``measure`` runs one call in a
fresh interpreter and reports its peak-RSS growth and CPU time, unpolluted by the test process.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MIB = 1 << 20
_ZEROS = bytes(MIB)
ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk_test_compression_key"
CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}


@lru_cache(maxsize=4)
def gzip_zeros(mib: int) -> bytes:
    """``mib`` MiB of zeros as one valid gzip member (about 1 KB on the wire per MiB)."""
    block_maker = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = block_maker.compress(_ZEROS) + block_maker.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(_ZEROS, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)
    return header + block * mib + final + trailer


def gzipped(data: bytes, layers: int = 1) -> bytes:
    """``data`` gzipped ``layers`` times, as ``Content-Encoding: gzip, gzip, ...`` says."""
    for _ in range(layers):
        data = gzip.compress(data, mtime=0)
    return data


@lru_cache(maxsize=8)
def bomb(layers: int, mib: int = 1024) -> bytes:
    """``mib`` MiB of zeros gzipped ``layers`` times (one layer: ~1 KB on the wire per MiB)."""
    return gzipped(gzip_zeros(mib), layers - 1)


def token_body(user_id: str) -> bytes:
    portal = f"https://oauth.tapti.dev?sdk_token=tok-for-{user_id}"
    return json.dumps({"oauth_portal_url": portal}).encode()


# --- a server sending crafted bodies ------------------------------------------------------------

Reply = tuple[int, str | None, bytes]  # status, Content-Encoding (None: no header), wire body


class _Handler(BaseHTTPRequestHandler):
    server: _CraftedServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.accept_encodings.append(self.headers.get("accept-encoding"))
        parts = self.path.split("/")
        status, coding, body = self.server.replies[parts[2] if len(parts) > 2 else ""]
        self.send_response(status)
        self.send_header("content-type", "application/json")
        if coding is not None:
            self.send_header("content-encoding", coding)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client stopped reading a body it refused: expected
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _CraftedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, replies: dict[str, Reply]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies = replies
        self.accept_encodings: list[str | None] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-body is what these tests provoke; nothing to report."""


@contextmanager
def crafted_server(replies: dict[str, Reply]) -> Iterator[_CraftedServer]:
    """Serves ``replies[user_id]`` for ``POST /users/<user_id>/sdk-token``, one thread each."""
    server = _CraftedServer(replies)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def url_of(server: _CraftedServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


# --- one call in a fresh interpreter -------------------------------------------------------------

# Runs in the child. It makes a warm-up call (imports, pool, first connection) before taking the
# baseline, so that the growth measured is the bomb's call alone. The address-space cap turns a
# runaway decode on an unfixed SDK into a MemoryError instead of a machine out of memory.
_CHILD = r"""
import asyncio, json, resource, sys, time
args = json.loads(sys.argv[1])
cap = 3 << 30
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
resource.setrlimit(resource.RLIMIT_CPU, (30, 30))
import tapti_ext

def peak():
    # Linux: this process's own high-water mark. ru_maxrss also counts the parent's RSS copied
    # at the fork, which under pytest (~55 MiB) would hide a smaller growth.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def outcome(exc):
    body = getattr(exc, "body", None)
    size = None if body is None else len(body if isinstance(body, (str, bytes)) else repr(body))
    return {"error": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
            "body_size": size, "has_body": hasattr(exc, "body")}

def sync_run():
    with tapti_ext.Tapti(api_key=args["key"], base_url=args["url"], max_retries=0) as tapti:
        tapti.user("warmup").create_sdk_token(**args["call"])
        before, cpu = peak(), time.process_time()
        try:
            tapti.user(args["case"]).create_sdk_token(**args["call"])
            result = {"error": None}
        except BaseException as exc:
            result = outcome(exc)
        return result, before, cpu

async def async_call():
    async with tapti_ext.AsyncTapti(api_key=args["key"], base_url=args["url"], max_retries=0) as t:
        await t.user("warmup").create_sdk_token(**args["call"])
        before, cpu = peak(), time.process_time()
        try:
            await t.user(args["case"]).create_sdk_token(**args["call"])
            result = {"error": None}
        except BaseException as exc:
            result = outcome(exc)
        return result, before, cpu

if args["mode"] == "sync":
    result, before, cpu = sync_run()
else:
    result, before, cpu = asyncio.run(async_call())
result["cpu_seconds"] = time.process_time() - cpu
result["rss_before"] = before
result["rss_growth"] = peak() - before
print(json.dumps(result))
"""


def measure(url: str, case: str, mode: str) -> dict[str, Any]:
    """One ``create_sdk_token`` for user ``case`` in a fresh interpreter: outcome, peak-RSS
    growth over the warmed-up baseline (bytes) and CPU seconds of that call."""
    args = json.dumps({"url": url, "case": case, "mode": mode, "key": API_KEY, "call": CALL})
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"child exited {done.returncode}", "stderr": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def row(case: str, content_encoding: str, status: int, mode: str, result: dict[str, Any]) -> str:
    growth = result.get("rss_growth")
    shown = "-" if growth is None else f"{growth / MIB:8.1f}"
    cpu = result.get("cpu_seconds")
    cpu_shown = "-" if cpu is None else f"{cpu:6.3f}"
    return (
        f"{case:<24} {content_encoding:<22} {status:>4} {mode:<5} "
        f"peak RSS growth MiB {shown}  CPU s {cpu_shown}  -> {result.get('error')}"
    )
