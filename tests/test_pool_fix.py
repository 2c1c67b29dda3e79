"""The SDK's sync pool never closes a connection a request already holds (encode/httpcore#1110).

The fix replaces one pass of httpcore's private pool state; these tests pin that state, so an
httpcore release that changes it fails here instead of silently in production, and check the
pass's decisions on stand-in connections. scripts/stress_threads.py is the load test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpcore

from tapti_ext._network import TrackingBackend
from tapti_ext._pipeline import DEFAULT_LIMITS
from tapti_ext._pool import HELD_CONNECTIONS_FIX, PoolSettings, _HeldConnections, new_pool


@dataclass(eq=False)
class Connection:
    idle: bool = True
    expired: bool = False
    closed: bool = False

    def is_closed(self) -> bool:
        return self.closed

    def is_idle(self) -> bool:
        return self.idle

    def has_expired(self) -> bool:
        return self.expired

    def is_available(self) -> bool:
        return self.idle

    def can_handle_request(self, origin: object) -> bool:
        return True


class _Origin:
    class url:  # noqa: N801  (the shape httpcore's request has)
        origin = "http://api.example"


@dataclass(eq=False)
class Request:
    connection: Connection | None = None
    request: Any = field(default_factory=_Origin)

    def is_queued(self) -> bool:
        return self.connection is None

    def assign_to_connection(self, connection: Connection) -> None:
        self.connection = connection


class Pool(_HeldConnections):
    def __init__(self, connections: list[Connection], requests: list[Request], keep: int) -> None:
        self._connections = connections
        self._requests = requests
        self._max_connections = 10
        self._max_keepalive_connections = keep

    def create_connection(self, origin: Any) -> Connection:
        return Connection(idle=False)


def test_httpcores_private_pool_state_is_what_the_fix_expects() -> None:
    assert HELD_CONNECTIONS_FIX, f"httpcore {httpcore.__version__}: the #1110 fix is off"
    pool = new_pool(PoolSettings("http://127.0.0.1:1"), DEFAULT_LIMITS, TrackingBackend())
    assert isinstance(pool, _HeldConnections)
    for name in ("_connections", "_requests", "_max_connections", "_max_keepalive_connections"):
        assert hasattr(pool, name), name
    request = httpcore.Request("GET", "http://127.0.0.1:1/")
    from httpcore._sync.connection_pool import PoolRequest  # noqa: PLC0415

    pending = PoolRequest(request)
    assert pending.connection is None
    assert pending.is_queued()
    pool.close()


def test_a_held_idle_connection_is_not_closed_beyond_the_keep_alive_limit() -> None:
    held = Connection(idle=True)  # handed out, not yet started by its thread
    spare = Connection(idle=True)
    pool = Pool([held, spare], [Request(connection=held)], keep=0)
    closing = pool._assign_requests_to_connections()
    assert closing == [spare]
    assert pool._connections == [held]


def test_a_held_connection_is_not_expired_under_its_request() -> None:
    held = Connection(idle=True, expired=True)  # has_expired() misread an answer as a close
    pool = Pool([held], [Request(connection=held)], keep=5)
    assert pool._assign_requests_to_connections() == []


def test_a_held_connection_is_never_handed_to_a_second_request() -> None:
    held = Connection(idle=True)
    waiting = Request()
    pool = Pool([held], [Request(connection=held), waiting], keep=5)
    pool._assign_requests_to_connections()
    assert waiting.connection is not None
    assert waiting.connection is not held


def test_only_idle_connections_count_against_the_keep_alive_limit() -> None:
    busy = [Connection(idle=False) for _ in range(3)]
    idle = Connection(idle=True)
    pool = Pool([*busy, idle], [], keep=1)
    assert pool._assign_requests_to_connections() == []  # httpcore 1.0.9 would close `idle`
