"""The mock follows the spec, not a type table.

MockTaptiServer validates requests and builds responses from the OpenAPI document that
``make generate`` copies into the package as JSON. These tests change the document the way the API
changes (new properties of every kind the generator supports, a new enum value, a new response
field, a response of another shape) and check that the mock follows with no edit of its own,
including against a client freshly generated from the changed spec.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import yaml

from tapti_ext.testing import MockTaptiServer
from tapti_ext.testing import _spec as spec_module
from tapti_ext.testing._spec import Spec, load_spec

ROOT = Path(__file__).resolve().parent.parent
KEY = "spec-key"
PATH = "/users/u1/sdk-token"
BASE_BODY: dict[str, Any] = {
    "user_platforms": ["YOUTUBE"],
    "enabled_scopes": ["PROFILE_READ"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
# New optional request properties: one of each kind openapi-python-client supports.
NEW_REQUEST_PROPERTIES: dict[str, Any] = {
    "expires_in": {"type": "integer", "minimum": 60},
    "ratio": {"type": "number", "maximum": 1},
    "notify": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    "mode": {"type": "string", "enum": ["FAST", "SLOW"]},
    "window": {
        "type": "object",
        "required": ["start"],
        "properties": {
            "start": {"type": "string", "format": "date-time"},
            "label": {"type": "string"},
        },
    },
    "starts_on": {"type": "string", "format": "date"},
    "request_uuid": {"type": "string", "format": "uuid"},
    "note": {"type": ["string", "null"]},
}
GOOD_VALUES: dict[str, Any] = {
    "expires_in": 900,
    "ratio": 0.5,
    "notify": True,
    "tags": ["a", "b"],
    "mode": "FAST",
    "window": {"start": "2026-11-01T12:00:00Z", "label": "x"},
    "starts_on": "2026-11-01",
    "request_uuid": "123e4567-e89b-12d3-a456-426614174000",
    "note": None,
}
BAD_VALUES: list[tuple[str, Any, str]] = [
    ("expires_in", "900", "expires_in"),
    ("expires_in", 9.5, "expires_in"),
    ("expires_in", True, "expires_in"),
    ("expires_in", 59, "expires_in"),
    ("ratio", "0.5", "ratio"),
    ("ratio", 2, "ratio"),
    ("notify", "yes", "notify"),
    ("notify", 1, "notify"),
    ("tags", "a", "tags"),
    ("tags", ["a", 1], "tags[1]"),
    ("tags", ["a", "b", "c", "d"], "tags"),
    ("mode", "fast", "mode"),
    ("window", {"label": "x"}, "window.start"),
    ("window", {"start": "yesterday"}, "window.start"),
    ("window", {"start": "2026-13-01T00:00:00Z"}, "window.start"),
    ("window", [], "window"),
    ("starts_on", "2026-02-30", "starts_on"),
    ("request_uuid", "not-a-uuid", "request_uuid"),
    ("note", 3, "note"),
]


def _spec_document() -> dict[str, Any]:
    with (ROOT / "openapi" / "tapti.yaml").open(encoding="utf-8") as file:
        document: dict[str, Any] = yaml.safe_load(file)
    return document


def changed_document() -> dict[str, Any]:
    """The spec after the changes of issue 13's table, and one property of every kind."""
    document = copy.deepcopy(_spec_document())
    schemas = document["components"]["schemas"]
    schemas["Platform"]["enum"].append("THREADS")
    schemas["CreateSdkTokenRequest"]["properties"].update(copy.deepcopy(NEW_REQUEST_PROPERTIES))
    response = schemas["CreateSdkTokenResponse"]
    response["properties"]["expires_at"] = {
        "type": "string",
        "format": "date-time",
        "examples": ["2026-11-01T12:15:00Z"],
    }
    response["properties"]["limits"] = {
        "type": "object",
        "required": ["max_accounts"],
        "properties": {"max_accounts": {"type": "integer", "minimum": 1}},
    }
    response["required"].append("limits")
    return document


@pytest.fixture
def changed() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=KEY) as server:
        server._spec = Spec(changed_document())
        yield server


def _post(server: MockTaptiServer, body: object) -> httpx2.Response:
    with httpx2.Client(trust_env=False) as http:
        return http.post(f"{server.url}{PATH}", json=body, headers={"x-api-key": KEY})


# --- the JSON copy the wheel ships ----------------------------------------------------------


def _generate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "tapti_generate", ROOT / "scripts" / "generate.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_packaged_json_is_the_yaml_spec() -> None:
    # The copy the installed package reads (under `make matrix`, the wheel's).
    packaged = Path(spec_module.__file__).with_name("_openapi.json")
    assert packaged.read_text(encoding="utf-8") == _generate_module().spec_as_json()
    assert json.loads(packaged.read_text(encoding="utf-8")) == _spec_document()


def test_yaml_timestamps_stay_strings_in_the_json_copy(tmp_path: Path) -> None:
    generate = _generate_module()
    source = tmp_path / "spec.yaml"
    source.write_text("example: 2026-11-01T12:00:00Z\nday: 2026-11-01\n", encoding="utf-8")
    generate.SPEC = source
    assert json.loads(generate.spec_as_json()) == {
        "example": "2026-11-01T12:00:00Z",
        "day": "2026-11-01",
    }


def test_the_json_copy_reads_yaml_as_the_generator_does(tmp_path: Path) -> None:
    """YAML 1.2, as openapi-python-client's ruamel.yaml: PyYAML's 1.1 made the enum value the
    generator keeps as "on" a true, which the mock then asked for (review 31)."""
    generate = _generate_module()
    source = tmp_path / "spec.yaml"
    source.write_text("enum: [on, off, yes]\nmerged:\n  <<: {a: 1}\n  b: 2\n", encoding="utf-8")
    generate.SPEC = source
    assert json.loads(generate.spec_as_json()) == {
        "enum": ["on", "off", "yes"],
        "merged": {"a": 1, "b": 2},
    }


def test_the_mock_needs_neither_pyyaml_nor_the_generated_client() -> None:
    code = textwrap.dedent(
        """
        import json, sys, urllib.request
        sys.modules["yaml"] = None  # any import of it fails
        sys.modules["tapti_api_client"] = None
        from tapti_ext.testing import MockTaptiServer
        body = {"user_platforms": ["YOUTUBE"], "enabled_scopes": ["PROFILE_READ"],
                "callback_url": "https://a.example/cb", "redirect_url": "https://a.example/r"}
        with MockTaptiServer(api_key="k") as server:
            request = urllib.request.Request(
                server.url + "/users/u1/sdk-token", data=json.dumps(body).encode(),
                headers={"x-api-key": "k", "content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                print(answer.status, sorted(json.load(answer)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "200 ['oauth_portal_url']"


# --- validation follows the spec ------------------------------------------------------------


def test_new_properties_of_every_kind_are_accepted_when_valid(changed: MockTaptiServer) -> None:
    response = _post(changed, {**BASE_BODY, **GOOD_VALUES, "user_platforms": ["THREADS"]})
    assert response.status_code == 200, response.text
    assert changed.requests[-1].json["window"] == GOOD_VALUES["window"]


@pytest.mark.parametrize(("name", "value", "field"), BAD_VALUES)
def test_new_properties_of_every_kind_are_refused_when_invalid(
    changed: MockTaptiServer, name: str, value: Any, field: str
) -> None:
    response = _post(changed, {**BASE_BODY, name: value})
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "request body does not match CreateSdkTokenRequest"
    assert [error["field"] for error in body["errors"]] == [field]


def test_the_shipped_spec_refuses_a_new_platform_until_regenerated() -> None:
    with MockTaptiServer(api_key=KEY) as server:
        response = _post(server, {**BASE_BODY, "user_platforms": ["THREADS"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "user_platforms[0]"


# --- responses are built from the response schema -------------------------------------------


def test_the_response_has_the_new_fields_built_from_the_schema(changed: MockTaptiServer) -> None:
    body = _post(changed, BASE_BODY).json()
    assert set(body) == {"oauth_portal_url", "expires_at", "limits"}
    assert body["expires_at"] == "2026-11-01T12:15:00Z"  # the spec's example
    assert body["limits"] == {"max_accounts": 1}  # built from the type and its minimum
    query = parse_qs(urlsplit(body["oauth_portal_url"]).query)
    assert query["sdk_token"] == changed.issued_tokens
    assert query["origin"] == [BASE_BODY["redirect_url"]]


def test_a_response_of_another_shape_still_carries_a_fresh_token(
    changed: MockTaptiServer,
) -> None:
    # The older public docs: the response is {"sdk_token": ...}.
    document = changed_document()
    document["components"]["schemas"]["CreateSdkTokenResponse"] = {
        "type": "object",
        "required": ["sdk_token"],
        "properties": {"sdk_token": {"type": "string", "examples": ["abc"]}},
    }
    changed._spec = Spec(document)
    first, second = (_post(changed, BASE_BODY).json() for _ in range(2))
    assert [first["sdk_token"], second["sdk_token"]] == changed.issued_tokens
    assert first["sdk_token"] != "abc"


def test_a_new_operation_of_the_spec_is_served(changed: MockTaptiServer) -> None:
    document = changed_document()
    document["paths"]["/users/{id}/accounts"] = {
        "get": {
            "operationId": "listAccounts",
            "security": [{"apiKey": []}],
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 50}},
            ],
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["platform", "connected_at"],
                                    "properties": {
                                        "platform": {"$ref": "#/components/schemas/Platform"},
                                        "connected_at": {"type": "string", "format": "date-time"},
                                    },
                                },
                            }
                        }
                    },
                }
            },
        }
    }
    changed._spec = Spec(document)
    with httpx2.Client(base_url=changed.url, trust_env=False) as http:
        listed = http.get("/users/u1/accounts", headers={"x-api-key": KEY})
        too_many = http.get("/users/u1/accounts?limit=51", headers={"x-api-key": KEY})
        not_a_number = http.get("/users/u1/accounts?limit=ten", headers={"x-api-key": KEY})
        anonymous = http.get("/users/u1/accounts")
        wrong_method = http.delete("/users/u1/accounts", headers={"x-api-key": KEY})
    assert listed.status_code == 200
    (account,) = listed.json()
    assert account["platform"] == "YOUTUBE"
    assert (
        Spec(document).validate({"type": "string", "format": "date-time"}, account["connected_at"])
        == []
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"] == [{"field": "query.limit", "message": "must be at most 50"}]
    assert not_a_number.json()["errors"][0]["field"] == "query.limit"
    assert anonymous.status_code == 401
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "GET")


def test_an_example_that_contradicts_its_schema_is_a_500_naming_it(
    changed: MockTaptiServer,
) -> None:
    document = changed_document()
    response = document["components"]["schemas"]["CreateSdkTokenResponse"]
    response["properties"]["expires_at"]["examples"] = ["next tuesday"]
    changed._spec = Spec(document)
    answer = _post(changed, BASE_BODY)
    assert answer.status_code == 500
    assert answer.json()["errors"] == [
        {"field": "expires_at", "message": "must be a valid date-time"}
    ]


# --- the validator's subset, unit by unit ---------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({"type": "string", "nullable": True}, [None, "x"], [1]),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, [None, "x"], [1, []]),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, [1.5], [1, "x"]),
        (
            {"allOf": [{"type": "object", "required": ["a"]}, {"required": ["b"]}]},
            [{"a": 1, "b": 2}],
            [{"a": 1}],
        ),
        ({"const": "x"}, ["x"], ["y"]),
        ({"type": "integer", "enum": [1, 2]}, [1, 2.0], [True, 3, 1.5]),
        (
            {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^a"},
            ["ab"],
            ["a", "abcd", "ba"],
        ),
        ({"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.1}, [0.3], [0, 0.35]),
        ({"type": "array", "uniqueItems": True, "minItems": 1}, [[1, 2]], [[], [1, 1]]),
        (
            {"type": "object", "additionalProperties": False, "properties": {"a": {}}},
            [{"a": 1}],
            [{"b": 1}],
        ),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, [{"b": 1}], [{"b": "1"}]),
        ({"type": "object", "maxProperties": 1}, [{"a": 1}], [{"a": 1, "b": 2}]),
        # OpenAPI 3.1's (JSON Schema's) own: each went unchecked (probe 31).
        ({"type": "string", "not": {"pattern": "^http:"}}, ["https://a"], ["http://a"]),
        ({"type": "array", "contains": {"const": "X"}}, [["A", "X"]], [["A"], []]),
        ({"type": "array", "contains": {"const": "X"}, "minContains": 0}, [[], ["A"]], []),
        (
            {
                "type": "object",
                "allOf": [{"properties": {"b": {}}}],
                "properties": {"a": {}},
                "unevaluatedProperties": False,
            },
            [{"a": 1, "b": 2}],
            [{"c": 1}],
        ),
    ],
)
def test_validator_keywords(schema: dict[str, Any], good: list[Any], bad: list[Any]) -> None:
    spec = Spec({})
    for value in good:
        assert spec.validate(schema, value) == [], value
    for value in bad:
        assert spec.validate(schema, value) != [], value


_BASE: dict[str, Any] = {
    "type": "object",
    "required": ["a"],
    "properties": {"a": {"type": "integer"}},
}


def test_an_example_meets_the_keywords_beside_a_reference() -> None:
    """Checked with its siblings but built without them, the example was the mock's 500."""
    spec = Spec({"components": {"schemas": {"Base": _BASE}}})
    schema = {"$ref": "#/components/schemas/Base", "required": ["b"], "properties": {"b": {}}}
    example = spec.example(schema)
    assert isinstance(example, dict)
    assert {"a", "b"} <= example.keys()
    assert spec.validate(schema, example) == []


@pytest.mark.parametrize(
    ("schema", "good"),
    [
        # Extended by reference, then closed: the usual 3.1 way.
        (
            {"$ref": "#/components/schemas/Base", "properties": {"b": {}}},
            {"a": 1, "b": 2},
        ),
        ({"type": "object", "anyOf": [{"properties": {"a": {}}}]}, {"a": 1}),
        ({"type": "object", "patternProperties": {"^x-": {}}}, {"x-y": 1}),
        ({"type": "object", "allOf": [{"additionalProperties": True}]}, {"z": 1}),
    ],
    ids=["reference", "branch", "pattern", "open-part"],
)
def test_unevaluated_properties_false_lets_through_what_others_evaluate(
    schema: dict[str, Any], good: dict[str, Any]
) -> None:
    """Only its own and its allOf parts' properties counted: valid bodies got a 422."""
    spec = Spec({"components": {"schemas": {"Base": _BASE}}})
    closed = {**schema, "unevaluatedProperties": False}
    assert spec.validate(closed, good) == []
    if "$ref" in schema:
        assert spec.validate(closed, {**good, "c": 3}) != []


def test_keywords_beside_a_reference_apply_with_its_target() -> None:
    """Resolving the reference dropped them: a 48-character URL passed a maxLength of 30."""
    spec = Spec({"components": {"schemas": {"Url": {"type": "string", "pattern": "^https://"}}}})
    schema = {"$ref": "#/components/schemas/Url", "maxLength": 10}
    assert spec.validate(schema, "https://a") == []
    assert spec.validate(schema, "https://a.example/cb") != []  # the sibling's maxLength
    assert spec.validate(schema, "ftp://a") != []  # the target's pattern


def test_examples_satisfy_their_schemas() -> None:
    spec = Spec(changed_document())
    for name, schema in NEW_REQUEST_PROPERTIES.items():
        value = spec.example(schema)
        assert spec.validate(schema, value) == [], (name, value)
    request = {"$ref": "#/components/schemas/CreateSdkTokenRequest"}
    assert spec.validate(request, spec.example(request)) == []


def test_a_recursive_schema_builds_and_validates_without_looping() -> None:
    document = {
        "components": {
            "schemas": {
                "Node": {
                    "type": "object",
                    "required": ["child"],
                    "properties": {"child": {"$ref": "#/components/schemas/Node"}},
                }
            }
        }
    }
    spec = Spec(document)
    built = spec.example({"$ref": "#/components/schemas/Node"})
    assert isinstance(built, dict)
    assert "child" in built


def _respelt(change: Any) -> dict[str, Any]:
    """The spec with ``change(operation)`` applied to the token operation."""
    document = copy.deepcopy(_spec_document())
    change(document["paths"]["/users/{id}/sdk-token"]["post"])
    return document


def _as_2xx(operation: dict[str, Any]) -> None:
    operation["responses"]["2XX"] = operation["responses"].pop("200")


def _json_with_charset(operation: dict[str, Any]) -> None:
    for holder in (operation["requestBody"], operation["responses"]["200"]):
        content = holder["content"]
        content["application/json; charset=utf-8"] = content.pop("application/json")


@pytest.mark.parametrize("change", [_as_2xx, _json_with_charset], ids=["2XX", "charset"])
def test_a_2xx_range_or_a_json_media_type_with_parameters_is_served_as_the_generator_reads_it(
    change: Any,
) -> None:
    """Both were an empty 200, and a body the schema refuses went unchecked (probe 31)."""
    with MockTaptiServer(api_key=KEY) as server:
        server._spec = Spec(_respelt(change))
        good, bad = _post(server, BASE_BODY), _post(server, {**BASE_BODY, "user_platforms": "x"})
    assert good.status_code == 200
    assert "sdk_token=" in good.json()["oauth_portal_url"]
    assert bad.status_code == 422


def test_the_shipped_spec_is_loaded_once() -> None:
    assert load_spec() is load_spec()
    (route,) = load_spec().routes
    assert (route.template, route.allow) == ("/users/{id}/sdk-token", "POST")


# --- against a client generated from the changed spec ------------------------------------------

_ROUND_TRIP = """
import datetime, json, sys, uuid
import httpx2
import tapti_api_client
from tapti_api_client.models import CreateSdkTokenRequest, CreateSdkTokenResponse, Platform, Scope
from tapti_api_client.models.create_sdk_token_request_mode import CreateSdkTokenRequestMode
from tapti_api_client.models.create_sdk_token_request_window import CreateSdkTokenRequestWindow
from tapti_ext.testing import MockTaptiServer
from tapti_ext.testing._spec import Spec

assert tapti_api_client.__file__.startswith(sys.argv[2]), tapti_api_client.__file__
with open(sys.argv[1], encoding="utf-8") as file:
    document = json.load(file)
body = CreateSdkTokenRequest(
    user_platforms=[Platform.THREADS],
    enabled_scopes=[Scope.PROFILE_READ],
    callback_url="https://app.example/cb",
    redirect_url="https://app.example/done",
    expires_in=900,
    ratio=0.25,
    notify=False,
    tags=["a"],
    mode=CreateSdkTokenRequestMode.SLOW,
    window=CreateSdkTokenRequestWindow(start=datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)),
    starts_on=datetime.date(2026, 11, 1),
    request_uuid=uuid.uuid4(),
    note=None,
)
with MockTaptiServer(api_key="k") as server, httpx2.Client(trust_env=False) as http:
    server._spec = Spec(document)
    answer = http.post(server.url + "/users/u1/sdk-token", json=body.to_dict(),
                       headers={"x-api-key": "k"})
    assert answer.status_code == 200, answer.text
    parsed = CreateSdkTokenResponse.from_dict(answer.json())
    sent = server.requests[-1].json
print(json.dumps({
    "expires_at": parsed.expires_at.isoformat(),
    "max_accounts": parsed.limits.max_accounts,
    "sent": sorted(sent),
    "token_in_url": server.issued_tokens[0] in parsed.oauth_portal_url,
}))
"""


def test_a_client_generated_from_the_changed_spec_round_trips_through_the_mock(
    tmp_path: Path,
) -> None:
    generate = _generate_module()
    spec_file = tmp_path / "tapti.json"
    spec_file.write_text(json.dumps(changed_document()), encoding="utf-8")
    generate.SPEC = spec_file
    package = generate.generate_into(tmp_path / "out")
    result = subprocess.run(
        [sys.executable, "-c", _ROUND_TRIP, str(spec_file), str(package)],
        env={**os.environ, "PYTHONPATH": str(package.parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["expires_at"] == "2026-11-01T12:15:00+00:00"
    assert outcome["max_accounts"] == 1
    assert outcome["sent"] == sorted([*BASE_BODY, *NEW_REQUEST_PROPERTIES])
    assert outcome["token_in_url"] is True


def test_the_user_id_follows_a_renamed_path_parameter() -> None:
    # An announced {id} -> {user_id} rename: the SDK's URLs are the same, and the kit's
    # requests[-1].user_id and user_of(token) must still name the user (probe 11, L2).
    document = copy.deepcopy(_spec_document())
    item = document["paths"].pop("/users/{id}/sdk-token")
    for parameter in item["post"]["parameters"]:
        if parameter.get("in") == "path":
            parameter["name"] = "user_id"
    document["paths"]["/users/{user_id}/sdk-token"] = item
    with MockTaptiServer(api_key=KEY) as server:
        server._spec = Spec(document)
        answer = _post(server, BASE_BODY)
        assert answer.status_code == 200, answer.text
        token = parse_qs(urlsplit(answer.json()["oauth_portal_url"]).query)["sdk_token"][0]
        assert server.requests[-1].user_id == "u1"
        assert server.user_of(token) == "u1"


def _operation(operation_id: str, *parameters: dict[str, Any]) -> dict[str, Any]:
    id_ = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    answer = {"application/json": {"schema": {"type": "object", "properties": {}}}}
    return {
        "operationId": operation_id,
        "security": [{"apiKey": []}],
        "parameters": [id_, *parameters],
        "responses": {"200": {"description": "ok", "content": answer}},
    }


def test_path_parameters_are_checked_against_their_schemas() -> None:
    # GET /users/u1/accounts/NOPE for an enum parameter was answered 200 (probe 11, L1).
    document = _spec_document()
    platform = {"$ref": "#/components/schemas/Platform"}
    parameter = {"name": "platform", "in": "path", "required": True, "schema": platform}
    document["paths"]["/users/{id}/accounts/{platform}"] = {
        "get": _operation("getAccount", parameter)
    }
    with MockTaptiServer(api_key=KEY) as server, httpx2.Client(trust_env=False) as http:
        server._spec = Spec(document)
        good = http.get(f"{server.url}/users/u1/accounts/YOUTUBE", headers={"x-api-key": KEY})
        bad = http.get(f"{server.url}/users/u1/accounts/NOPE", headers={"x-api-key": KEY})
    assert good.status_code == 200, good.text
    assert bad.status_code == 422
    assert bad.json()["message"] == "request parameters do not match the spec"
    assert [error["field"] for error in bad.json()["errors"]] == ["path.platform"]


def test_a_method_goes_to_the_most_specific_path_that_declares_it() -> None:
    # GET .../accounts/all beside POST .../accounts/all: the SDK files it under the templated
    # GET, so the mock serves it there; a method neither declares is a 405 (review 13, L2).
    document = _spec_document()
    key = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
    document["paths"]["/users/{id}/accounts/{key}"] = {"get": _operation("getAccount", key)}
    document["paths"]["/users/{id}/accounts/all"] = {"post": _operation("startAccountsJob")}
    with MockTaptiServer(api_key=KEY) as server, httpx2.Client(trust_env=False) as http:
        server._spec = Spec(document)
        read = http.get(f"{server.url}/users/u1/accounts/all", headers={"x-api-key": KEY})
        started = http.post(f"{server.url}/users/u1/accounts/all", headers={"x-api-key": KEY})
        deleted = http.delete(f"{server.url}/users/u1/accounts/all", headers={"x-api-key": KEY})
    assert read.status_code == 200, read.text
    assert server.requests[0].path == "/users/u1/accounts/all"
    assert started.status_code == 200, started.text
    assert (deleted.status_code, deleted.headers["allow"]) == (405, "POST")
