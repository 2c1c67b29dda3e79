"""The key, and any SDK token, masked in what httpx2 and httpcore2 log.

httpcore2 logs each answer's headers at DEBUG, and httpx2 a caller's client's status line at
INFO: a server (or a proxy) echoing the key in one would have it written out. ``FILTER`` sits on
those loggers and masks every live client's key there, in any spelling, and the password of
its proxy URL; each reason phrase there is the standard one for its status (a proxy may echo
its credentials in its own).

A module of its own, holding next to nothing: the loggers keep the filter, and with it this
module's globals, until the interpreter's very end (logging's at-fork hook holds them). Defined
beside the pipeline, it kept all of httpx2 alive into the interpreter's last garbage collection,
~10 ms more at every process exit (make bench, figure 1). So the masking functions are looked up
when a record comes, and nothing of ``typing`` is held either: ``Final`` alone leads to typing's
caches, and through them to every class a generic was made of. A reload of the pipeline leaves
the filter, and the clients it knows, in place.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING  # a bool: no reference to typing is kept (see above)

if TYPE_CHECKING:
    from typing import Protocol

    class _Client(Protocol):
        logged_secrets: tuple[str, ...]


__all__ = ["FILTER"]

# The loggers that may write a header: httpx2's, httpcore2's, and hpack's.
_LOGGERS = (
    "httpx2",
    *(f"httpcore2.{name}" for name in ("connection", "http11", "http2", "proxy", "socks")),
    # h2's header compression, under a caller's HTTP/2 client: it logs each header it codes.
    "hpack.hpack",
    "hpack.table",
)


class _KeyMaskingFilter(logging.Filter):
    """Masks the key of every client in ``clients`` (held weakly: no key is kept here) and any
    SDK token. Only records of those loggers come here: no cost on a call besides."""

    def __init__(self) -> None:
        super().__init__()
        self.clients: weakref.WeakSet[_Client] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        """Pass the record with every key masked; drop it when that cannot be made sure of."""
        try:
            from ._constants import MASK  # noqa: PLC0415  (see the docstring)
            from ._errors import (  # noqa: PLC0415
                masked_token_headers,
                masked_url,
                redacted,
                standard_reasons,
            )
        except ImportError:  # the interpreter is shutting down: drop it, never pass it unmasked
            return False
        for _ in range(3):  # a client made in another thread meanwhile changes the set: again
            try:
                message = record.getMessage()
                # An SDK token a server put in a header: as sdk_token=, or named for one.
                shown = standard_reasons(masked_token_headers(masked_url(message)))
                keys = {secret for client in list(self.clients) for secret in client.logged_secrets}
                if "\\\\" in shown:
                    # httpcore2 logs header bytes by repr(), which doubles the backslash of an
                    # escape the key may be spelled with: undone where that shows a key.
                    undoubled = shown.replace("\\\\", "\\")
                    for key in keys:
                        undoubled = redacted(undoubled, key)
                    if MASK in undoubled:
                        shown = undoubled
                for key in keys:
                    shown = redacted(shown, key)
            except RuntimeError:
                continue
            except Exception:  # a record whose arguments do not format
                return False
            if shown is not message:
                record.msg, record.args = shown, ()
            return True
        return False


FILTER = _KeyMaskingFilter()
for _name in _LOGGERS:
    logging.getLogger(_name).addFilter(FILTER)
