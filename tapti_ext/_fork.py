"""What a forked child must never share with its parent: pooled connections.

After ``os.fork()`` (gunicorn ``--preload``, Celery prefork, ``multiprocessing``'s fork start
method) a client's idle keep-alive sockets exist in both processes, and whichever reads first
gets the other's answer: another user's token. So, in the child, at the fork itself:

- every socket the SDK's own pools opened is released: the child's descriptor is closed without
  shutting the connection down (the parent's copy stays open and keeps working), and the socket
  object forgets it, so nothing in the child can ever read or write that connection again;
- ``generation`` moves on, and each pool sees at its next send that it was made in another
  process and starts afresh (``Pipeline``); a caller's own ``http_client``, whose sockets the SDK
  cannot see, is refused instead.

A hook run at the fork costs nothing per call (a pid check would be a system call per call) and
releases the sockets even of clients the child never uses again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import weakref
from typing import TYPE_CHECKING, Any, Final, Protocol

__all__ = ["generation", "keep_inherited", "main_thread_id", "release_socket", "track"]

if TYPE_CHECKING:  # a type only: a Protocol class costs ~15 µs to create at import

    class SocketOwner(Protocol):
        def release_inherited(self) -> None: ...


# Bumped in every child at the fork; a pool built under another value came from the parent.
generation = 0
# Where signal handlers run, so where an interrupt can land mid-call (``Pipeline._own_pool``):
# threading's main thread, and in a forked child the thread that forked.
main_thread_id = threading.main_thread().ident
_OWNERS: Final[weakref.WeakSet[SocketOwner]] = weakref.WeakSet()
# Pools inherited from the parent, kept so that nothing of theirs is finalised (an asyncio
# transport's finaliser would touch the parent's event loop); their sockets are already released.
_INHERITED: Final[list[object]] = []


def track(owner: SocketOwner) -> None:
    """Have ``owner.release_inherited()`` called in each forked child."""
    _OWNERS.add(owner)


def keep_inherited(pool: object) -> None:
    _INHERITED.append(pool)


def release_socket(sock_like: Any) -> None:
    """Close this process's descriptor of a socket without touching the connection itself.

    ``sock_like`` is what a network stream reports as its socket: a ``socket.socket`` (sync),
    or an asyncio/trio wrapper of one, reached through its public ``fileno()`` only.
    """
    if isinstance(sock_like, socket.socket):
        fd = sock_like.detach()  # the object forgets the descriptor, so it can never close it
        if fd >= 0:
            os.close(fd)  # no shutdown(): the parent's copy of the connection stays open
    elif sock_like is not None:
        # A wrapper keeps its descriptor: point it at /dev/null, so it reads nothing, writes
        # nowhere, and the parent's connection loses the child's reference. The wrapper may
        # close it later, harmlessly.
        with contextlib.suppress(OSError, AttributeError, TypeError):
            _blank(sock_like.fileno())


def _blank(fd: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def _after_fork_in_child() -> None:
    global generation, main_thread_id  # noqa: PLW0603  (the values every pool compares against)
    generation += 1
    main_thread_id = threading.get_ident()
    for owner in list(_OWNERS):
        with contextlib.suppress(Exception):  # a hook that raised would only print
            owner.release_inherited()


# Through a weak proxy: a function registered itself would keep this module's globals (and the
# pools they lead to) alive into the interpreter's last, slow clean-up pass, which cost every
# process ~2 ms at exit (callgrind: 4.6 million more instructions). A child forks only while
# the module is alive, so the proxy always finds the function.
os.register_at_fork(after_in_child=weakref.proxy(_after_fork_in_child))
