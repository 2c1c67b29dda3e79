"""A griffe extension for ``make docs``: doctest examples in docstrings become code blocks.

Docstrings here are plain text with ``>>>`` examples (what ``help()`` shows well); in Markdown a
line starting with ``>`` is a quotation, so mkdocstrings would render an example as nested
quotes. Each run of ``>>>`` lines, with their ``...`` continuations and the output up to the
next blank line, is wrapped in a ``pycon`` fence before rendering. Listed in mkdocs.yml.
"""

from __future__ import annotations

from typing import Any

import griffe


def fenced(text: str) -> str:
    """``text`` with each doctest example inside a fence; text already fenced is left alone."""
    out: list[str] = []
    in_example = in_fence = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_example and not stripped:
            out.append("```")
            in_example = False
        if not in_fence and not in_example and stripped.startswith(">>>"):
            out.append("```pycon")
            in_example = True
        out.append(line)
    if in_example:
        out.append("```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the doctest examples of every object's docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **_: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fenced(obj.docstring.value)
