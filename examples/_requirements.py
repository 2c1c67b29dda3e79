"""What an example says when a package it needs is missing: the install command, in one line."""

from __future__ import annotations

INSTALL = "pip install '.[examples]'"


def missing(exc: ModuleNotFoundError, example: str, *, as_program: bool) -> BaseException:
    """The exception to raise for ``exc``: run as a program, an exit with a one-line message (no
    traceback); imported, a ``ModuleNotFoundError`` whose message names the install command."""
    message = (
        f"{example} needs the package {exc.name!r}, which is not installed: "
        f"run {INSTALL} in the repository's root (the SDK and the examples' frameworks)"
    )
    if as_program:
        return SystemExit(message)
    return ModuleNotFoundError(message, name=exc.name)
