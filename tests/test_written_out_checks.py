"""Checks written out with ``str`` and ``bytes`` methods agree with the patterns they stand for.

A first call used to compile seven regular expressions, 0.1-0.2 ms each, which every cold start
paid (``make bench``, figure 1). The checks on a call's path are now written out by hand. Each test
here holds one of them to the pattern it replaced, over generated inputs and the edge cases by
name: a check that drifted from its pattern would let a reply be misjudged (a 2xx taken for no
answer, so retried) or a URL through that the pattern refuses.
"""

from __future__ import annotations

import re
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapti_ext import _call, _deadline, _inputs

# The patterns as they were written before the checks were written out.
STATUS_START = rb"(?i)\s*HTTP/\S*[ \t]+0*(\d)"
HEAD_END = rb"\r?\n\r?\n"
PLAIN_AUTHORITY = r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?"
HOST_LABEL = r"[A-Za-z0-9_-]+"
CONTROL = r"[\x00-\x1f\x7f-\x9f]"
WHITESPACE_OR_CONTROL = r"[\s\x00-\x1f\x7f-\x9f]"

# Pieces that meet each rule's edges, joined at random: generated text alone seldom spells
# "HTTP/" or an IPv6 literal.
HEAD_PIECES = [
    b"HTTP/",
    b"http/",
    b"HtTp/",
    b"1.1",
    b"1.2",
    b" ",
    b"\t",
    b"0",
    b"00",
    b"1",
    b"2",
    b"3",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\r\n",
    b"\x0b",
    b"\x0c",
    b"\x1c",
    b"\x85",
    b"\xa0",
    b"x",
    b"OK",
]
AUTHORITY_PIECES = [
    "a",
    "Z",
    "0",
    "9",
    ".",
    "_",
    "-",
    "[",
    "]",
    ":",
    "::1",
    "fe80",
    "%",
    "\\",
    "@",
    " ",
    "\u3002",
    "\u0661",
    "\u00e9",
    "\n",
    "\x00",
    "\x85",
    "\x9f",
    "\xa0",
    "\u202e",
    "\u2028",
    "\ud800",
    "80",
]
heads = st.lists(st.sampled_from(HEAD_PIECES), max_size=12).map(b"".join) | st.binary(max_size=40)
texts = st.lists(st.sampled_from(AUTHORITY_PIECES), max_size=10).map("".join) | st.text(max_size=30)


def pattern_class(head: bytes) -> int | None:
    found = re.match(STATUS_START, head)
    return None if found is None else found.group(1)[0]


@settings(max_examples=3000)
@given(heads, st.integers(min_value=0, max_value=40))
def test_status_line_and_head_end_are_read_as_their_patterns_read_them(
    head: bytes, start: int
) -> None:
    assert _deadline._status_class(head) == pattern_class(head)
    start = min(start, len(head))
    found = re.compile(HEAD_END).search(head, start)
    assert _deadline._head_end(head, start) == (None if found is None else found.end())


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\n", ord("2")),
        (b"  http/1.2\t\t0200 OK", ord("2")),  # padding, a version h11 refuses, a leading 0
        (b"HTTP/1.1 00", ord("0")),  # the last 0 is the digit, as the pattern backtracks to it
        (b"HTTP/1.1 ", None),  # not yet known
        (b"HTTP/1.1\r\n200", None),  # no space or tab after the version
        (b"HTTP/1.1\x0b200", None),  # a vertical tab ends the version, but is no separator
        (b"HTTPS/1.1 200", None),
        (b"", None),
    ],
)
def test_status_classes_at_the_edges(head: bytes, expected: int | None) -> None:
    assert _deadline._status_class(head) == pattern_class(head) == expected


@settings(max_examples=3000)
@given(texts)
def test_url_checks_judge_as_their_patterns_did(text: str) -> None:
    assert _inputs._plain_authority(text) == bool(re.fullmatch(PLAIN_AUTHORITY, text))
    assert _inputs._has_control(text) == bool(re.search(CONTROL, text))
    assert _inputs._has_whitespace_or_control(text) == bool(re.search(WHITESPACE_OR_CONTROL, text))
    if text:  # _label_problem refuses an empty label before this check
        assert (not text.strip(_inputs._LABEL_CHARACTERS)) == bool(re.fullmatch(HOST_LABEL, text))


@pytest.mark.parametrize(
    "authority",
    [
        "a.example",
        "a.example:443",
        "a.example:",
        "[::1]",
        "[::1]:80",
        "[::1]x80",
        "[::1]:8a",
        "[::1",
        "::1]",
        "[]",
        "[]:80",
        ":80",
        "a:8:0",
        "a:\uff18\uff10",  # fullwidth digits
        "xn--e1a.example",
        "a_b-c.d",
        "user@a.example",
        "a\\b.example",
        "a%2eb",
        "a\u3002b",
        "",
    ],
)
def test_authorities_at_the_edges(authority: str) -> None:
    assert _inputs._plain_authority(authority) == bool(re.fullmatch(PLAIN_AUTHORITY, authority))


def test_every_character_is_judged_as_the_patterns_did() -> None:
    """Whitespace and controls, one code point at a time: all 1,114,112 of them."""
    for code in range(0x110000):
        char = chr(code)
        assert _inputs._has_control(char) == bool(re.search(CONTROL, char)), hex(code)
        assert _inputs._has_whitespace_or_control(char) == bool(
            re.search(WHITESPACE_OR_CONTROL, char)
        ), hex(code)


def specificity(template: str) -> tuple[int, int]:
    """More segments, then more literal text (a ``{name}`` pair is none): as OpenAPI matches
    ``/users/me`` before ``/users/{id}``."""
    return template.count("/"), len(re.sub(r"\{[^{}]*\}", "", template))


def pattern_facts(
    method: str, path: str, operations: tuple[tuple[str, str, tuple[int, ...]], ...]
) -> tuple[tuple[int, ...] | None, str | None]:
    """``spec_facts`` as patterns: each template one, a parameter one or more non-slashes; the
    most specific template that matches wins (``specificity``), the first of equal ones."""
    best: tuple[int, str, tuple[int, ...]] | None = None
    for verb, template, success in operations:
        pattern = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(template))
        found = re.compile(pattern + "$").search(path) if verb == method else None
        if found and (best is None or specificity(template) > specificity(best[1])):
            best = (found.start(), template, success)
    if best is None:
        return None, None
    return best[2], path[: best[0]] + best[1]


SEGMENTS = [
    "users",
    "{id}",
    "sdk-token",
    "a{x}b",
    "{a}{b}",
    "{id}.json",
    "v1",
    "a{x",
    "{a{b}",
    "x}}",
]
templates = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4).map(
    lambda parts: "/" + "/".join(parts)
)
operations = st.lists(
    st.tuples(st.sampled_from(["POST", "GET"]), templates, st.just((200,))), max_size=4
).map(tuple)
paths = st.lists(
    st.sampled_from(
        ["", "users", "u1", "sdk-token", "ab", "a1b", "7.json", ".json", "{id}", "v1", "a{x", "x}}"]
    ),
    max_size=6,
).map("/".join)


@settings(max_examples=3000)
@given(operations, paths, st.sampled_from(["POST", "GET"]))
def test_a_path_is_matched_to_its_template_as_the_patterns_did(
    spec: tuple[tuple[str, str, tuple[int, ...]], ...], path: str, method: str
) -> None:
    ordered = sorted(spec, key=lambda operation: specificity(operation[1]), reverse=True)
    with mock.patch.object(_call, "_MOST_SPECIFIC_FIRST", ordered):
        assert _call.spec_facts(method, path) == pattern_facts(method, path, spec)


@given(templates)
def test_operations_are_ordered_as_the_pattern_says(template: str) -> None:
    assert _call._specificity(("GET", template, (200,))) == specificity(template)


def test_an_attempt_that_lost_track_of_the_heads_starts_afresh_when_restarted() -> None:
    """A garbled interim head makes any later answer a possible 2xx; ``restart`` (TLS through
    a proxy's tunnel) forgets it, and the heads after it are followed again."""
    attempt = _deadline.Attempt(_deadline.Deadline(None))
    attempt.saw(b"HTTP/1.1 103 Early Hints\rLink: </a>\r\r\n\nHTTP/1.1 503 Busy\r\n\r\n")
    assert attempt.may_be_2xx()  # the 503 could be a header line of the 103: nothing is proved
    attempt.restart()
    attempt.saw(b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 503 Busy\r\n\r\n")
    assert not attempt.may_be_2xx()
    assert attempt.head_end == 49  # the end of the 503's head, past the 103


def test_an_attempt_runs_once_at_a_time_and_keeps_no_context_after() -> None:
    """``with attempt.running():`` is a class's ``__enter__`` (it runs on every call): entered
    twice, its first token would be lost and the attempt left current for good, so the second
    entry is refused; after the exchange it keeps no token (which holds the whole context of
    the task or thread), as the generator it replaced kept none (review 16)."""
    attempt = _deadline.Attempt(_deadline.Deadline(None))
    with attempt.running():
        assert _deadline.current_attempt.get() is attempt
        with pytest.raises(RuntimeError, match="runs once at a time"), attempt.running():
            pass  # pragma: no cover  (refused on entry)
        assert _deadline.current_attempt.get() is attempt
    assert _deadline.current_attempt.get() is None
    assert attempt._entered is None
    with attempt.running():  # one after the other is fine
        assert _deadline.current_attempt.get() is attempt
    assert _deadline.current_attempt.get() is None


@given(st.text(alphabet=st.sampled_from("ab?#&=:/%.@[]"), max_size=24))
def test_an_answers_query_is_read_as_urlsplit_reads_it(tail: str) -> None:
    # SdkToken reads the query of a URL redirect_problem has parsed already: once, not twice.
    from urllib.parse import urlsplit  # noqa: PLC0415

    from tapti_ext._portal import query_of  # noqa: PLC0415

    url = f"https://oauth.tapti.dev/{tail}"
    assert query_of(url) == urlsplit(url).query
