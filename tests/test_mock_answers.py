"""MockTaptiServer's answers to operations a spec adds: a 204 as RFC 9110 has it, filtered lists.

Each test serves a copy of the spec with operations added (as tests/test_mock_spec.py does) and
talks to the mock over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from tapti_ext.testing import MockTaptiServer
from tapti_ext.testing._spec import Spec

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk_answers_1a2b"
AUTH = {"x-api-key": KEY}
CONNECTIONS = [
    {"id": "c1", "platform": "YOUTUBE", "platforms": ["YOUTUBE"]},
    {"id": "c2", "platform": "TIKTOK", "platforms": ["TIKTOK", "X"]},
    {"id": "c3", "platform": "TIKTOK", "platforms": ["X"]},
]


def _document(*, example: bool) -> dict[str, Any]:
    """The spec, plus a DELETE answered 204 and a GET of connections filtered by platform."""
    document: dict[str, Any] = copy.deepcopy(
        yaml.safe_load((ROOT / "openapi" / "tapti.yaml").read_text(encoding="utf-8"))
    )
    document["components"]["schemas"]["Connection"] = {
        "type": "object",
        "required": ["id", "platform", "platforms"],
        "properties": {
            "id": {"type": "string"},
            "platform": {"$ref": "#/components/schemas/Platform"},
            "platforms": {"type": "array", "items": {"$ref": "#/components/schemas/Platform"}},
        },
    }
    listing: dict[str, Any] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Connection"},
    }
    if example:
        listing["example"] = CONNECTIONS
    user = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    platform = {"$ref": "#/components/schemas/Platform"}
    platforms = {"type": "array", "items": platform}
    document["paths"]["/users/{id}/connections"] = {
        "parameters": [user],
        "get": {
            "operationId": "listConnections",
            "security": [{"apiKey": []}],
            "parameters": [
                {"name": "platform", "in": "query", "schema": platform},
                {"name": "platforms", "in": "query", "schema": platforms},
                # An enum that no item carries: validated, never a filter.
                {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["ASC"]}},
            ],
            "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": listing}}}
            },
        },
        "delete": {
            "operationId": "deleteConnections",
            "security": [{"apiKey": []}],
            "responses": {"204": {"description": "deleted"}},
        },
    }
    return document


@pytest.fixture
def server() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=KEY) as running:
        running._spec = Spec(_document(example=True))
        yield running


def _get(server: MockTaptiServer, query: str) -> httpx2.Response:
    with httpx2.Client(base_url=server.url, trust_env=False) as http:
        return http.get(f"/users/u1/connections{query}", headers=AUTH)


def _ids(response: httpx2.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


# --- 204 ---------------------------------------------------------------------------------------


def test_a_204_has_no_content_length_and_no_body(server: MockTaptiServer) -> None:
    request = (
        f"DELETE /users/u1/connections HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {KEY}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").lower().split("\r\n")
    assert lines[0] == "http/1.1 204 no content"
    assert not [line for line in lines if line.startswith(("content-length:", "content-type:"))]
    assert any(line.startswith("x-request-id: req_") for line in lines)
    assert body == b""


def test_a_connection_stays_usable_after_a_204(server: MockTaptiServer) -> None:
    with httpx2.Client(base_url=server.url, headers=AUTH, trust_env=False) as http:
        first = http.delete("/users/u1/connections")
        second = http.get("/users/u1/connections")
    assert (first.status_code, first.content) == (204, b"")
    assert "content-length" not in first.headers
    assert second.status_code == 200
    assert [r.status for r in server.requests] == [204, 200]


# --- query filters of enum parameters ----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("", ["c1", "c2", "c3"]),
        ("?platform=TIKTOK", ["c2", "c3"]),
        ("?platform=YOUTUBE", ["c1"]),
        ("?platform=LINKEDIN", []),
        ("?platforms=X", ["c2", "c3"]),  # an array property matches on any of its values
        ("?platforms=YOUTUBE&platforms=TIKTOK", ["c1", "c2"]),
        ("?platform=TIKTOK&platforms=TIKTOK", ["c2"]),  # filters combine
        ("?order=ASC", ["c1", "c2", "c3"]),  # no item has an `order`
    ],
)
def test_enum_query_parameters_filter_a_listed_answer(
    server: MockTaptiServer, query: str, ids: list[str]
) -> None:
    assert _ids(_get(server, query)) == ids


def test_a_value_outside_the_enum_is_still_refused(server: MockTaptiServer) -> None:
    response = _get(server, "?platform=MYSPACE")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.platform"


def test_built_items_take_the_requested_value(server: MockTaptiServer) -> None:
    # Without an example, the mock builds one item; it stands for any item, so a filtered call
    # gets an item that matches instead of an always-empty list.
    server._spec = Spec(_document(example=False))
    (unfiltered,) = _get(server, "").json()
    assert unfiltered["platform"] == "YOUTUBE"  # the enum's first value
    (filtered,) = _get(server, "?platform=TIKTOK&platforms=X&platforms=LINKEDIN").json()
    assert filtered["platform"] == "TIKTOK"
    assert filtered["platforms"] == ["X", "LINKEDIN"]


def test_filters_are_read_from_the_spec() -> None:
    spec = Spec(_document(example=True))
    (route,) = [r for r in spec.routes if r.template == "/users/{id}/connections"]
    filters = {f.name: f.several for f in route.operations["GET"].filters}
    assert filters == {"platform": False, "platforms": True}
    (token_route,) = [r for r in spec.routes if r.template == "/users/{id}/sdk-token"]
    assert token_route.operations["POST"].filters == ()  # an object answer is never filtered
