"""``--inject-delay-us``: a busy-wait put into every SDK call, to prove a slower SDK is caught.

It wraps the public ``Tapti.user`` and ``AsyncTapti.user``, which every SDK call in the
benchmark goes through once, so neither ``tapti_ext`` nor its private modules are touched and the
wrapper survives rewrites of the core. Busy-waiting (not sleeping) burns CPU in the calling
thread, so it shows in ``time.thread_time()`` exactly as slower SDK code would.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any


def busy_wait(delay_ns: int) -> None:
    end = time.perf_counter_ns() + delay_ns
    while time.perf_counter_ns() < end:
        pass


def _delayed(method: Callable[..., Any], delay_ns: int) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        busy_wait(delay_ns)
        return method(*args, **kwargs)

    return wrapper


def install(delay_us: int) -> None:
    """Delay every ``tapti.user(...)`` by ``delay_us`` µs in this process (0: do nothing)."""
    if delay_us <= 0:
        return
    from tapti_ext import AsyncTapti, Tapti  # noqa: PLC0415  (only when asked for)

    for cls in (Tapti, AsyncTapti):
        cls.user = _delayed(cls.user, delay_us * 1000)  # type: ignore[method-assign]
