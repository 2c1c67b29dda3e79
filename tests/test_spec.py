"""The OpenAPI document: valid OpenAPI 3.1, and faithful to the public reference page it encodes.

The fact checks read the reference page itself (field names, descriptions, enum options,
examples), so the lists below are never copied into the test: a change on the page makes the
test fail until the spec follows it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from _reference import load_spec, reference_page
from openapi_spec_validator import validate

OPERATION_PATH = "/users/{id}/sdk-token"


# --- loading -----------------------------------------------------------------------------------


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow local `$ref`s until a node without one."""
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local refs are expected, got {ref}"
        target: Any = load_spec()
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operation() -> dict[str, Any]:
    return load_spec()["paths"][OPERATION_PATH]["post"]


def request_schema() -> dict[str, Any]:
    return resolve(operation()["requestBody"]["content"]["application/json"]["schema"])


def response_schema(status: str) -> dict[str, Any]:
    response = resolve(operation()["responses"][status])
    return resolve(response["content"]["application/json"]["schema"])


def squash(text: str) -> str:
    """Collapse runs of whitespace, so wrapped YAML text compares with one-line page text."""
    return " ".join(text.split())


# --- reference page parser ---------------------------------------------------------------------


@dataclass(frozen=True)
class PageField:
    """One field block of the page: name, type, optional `required`, blank line, description."""

    name: str
    type: str
    required: bool
    description: str
    options: tuple[str, ...]
    example_text: str | None

    @property
    def example(self) -> Any:
        assert self.example_text is not None, f"the page gives no example for {self.name}"
        return json.loads(self.example_text)


_FIELD = re.compile(
    r"^(?P<name>[a-z][a-z0-9_]*)\n(?P<type>\S+)\n(?P<required>required\n)?\n"
    r"(?P<description>[^\n]+)$",
    re.MULTILINE,
)
_OPTIONS = re.compile(r"^Available options:\n(?P<values>(?:[^\n]*,\n)*[^\n]+)$", re.MULTILINE)
_EXAMPLE = re.compile(r"^Example:\s*\n(?P<value>[^\n]+)$", re.MULTILINE)


def page_section(page: str, heading: str, until: str | None = None) -> str:
    """The text after a heading line, up to the `until` heading line (or the end)."""
    _, found, rest = page.partition(f"\n{heading}\n")
    assert found, f"heading {heading!r} not found on the reference page"
    if until is not None:
        rest, found, _ = rest.partition(f"\n{until}\n")
        assert found, f"heading {until!r} not found after {heading!r} on the reference page"
    return rest


def page_fields(section: str) -> dict[str, PageField]:
    matches = list(_FIELD.finditer(section))
    fields: dict[str, PageField] = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        block = section[match.end() : following.start() if following else len(section)]
        options = _OPTIONS.search(block)
        example = _EXAMPLE.search(block)
        fields[match["name"]] = PageField(
            name=match["name"],
            type=match["type"],
            required=match["required"] is not None,
            description=match["description"].strip(),
            options=tuple(value.strip() for value in options["values"].split(",") if value.strip())
            if options
            else (),
            example_text=example["value"].strip().removesuffix("```").strip() if example else None,
        )
    assert fields, "no field blocks found in a reference page section"
    return fields


def page_preamble(section: str) -> list[str]:
    """The non-empty lines of a section before its first field block."""
    first = _FIELD.search(section)
    head = section[: first.start()] if first else section
    return [line.strip() for line in head.splitlines() if line.strip()]


def body_section() -> str:
    return page_section(reference_page(), "Body", until="Response")


def response_section() -> str:
    return page_section(reference_page(), "Response")


def curl_data() -> Any:
    match = re.search(r"--data '(?P<body>[^']*)'", reference_page())
    assert match, "no --data '...' block in the reference page's curl example"
    return json.loads(match["body"])


def page_response_example() -> Any:
    page = reference_page()
    data = re.search(r"--data '[^']*'", page)
    assert data, "no --data '...' block in the reference page's curl example"
    value, _ = json.JSONDecoder().raw_decode(page, page.index("{", data.end()))
    return value


def schema_matches_page_type(schema: dict[str, Any], page_type: str) -> bool:
    """`string` and `enum<string>[]` are the page's type notations."""
    if page_type.endswith("[]"):
        return schema.get("type") == "array" and schema_matches_page_type(
            resolve(schema["items"]), page_type[:-2]
        )
    if page_type.startswith("enum<") and page_type.endswith(">"):
        return "enum" in schema and schema_matches_page_type(schema, page_type[5:-1])
    return schema.get("type") == page_type


# --- the document is valid OpenAPI 3.1 ---------------------------------------------------------


def test_spec_parses_as_a_mapping() -> None:
    assert {"openapi", "info", "paths", "components"} <= load_spec().keys()


def test_spec_passes_openapi_validation() -> None:
    validate(load_spec())


def test_openapi_version_is_3_1() -> None:
    assert re.fullmatch(r"3\.1\.\d+", str(load_spec()["openapi"]))


def test_server_is_the_production_api() -> None:
    assert [server["url"] for server in load_spec()["servers"]] == ["https://api.tapti.ai"]


# --- authentication ----------------------------------------------------------------------------


def test_security_scheme_is_api_key_in_x_api_key_header() -> None:
    schemes = load_spec()["components"]["securitySchemes"]
    assert schemes == {"apiKey": schemes["apiKey"]}
    assert schemes["apiKey"]["type"] == "apiKey"
    assert schemes["apiKey"]["in"] == "header"
    assert schemes["apiKey"]["name"] == "x-api-key"


def test_operation_requires_the_api_key() -> None:
    security = operation().get("security", load_spec().get("security"))
    assert security == [{"apiKey": []}]


def test_security_scheme_matches_page_authorizations() -> None:
    match = re.search(
        r"^Authorizations\n\n(?P<name>\S+)\n(?P<type>\S+)\n(?P<location>\S+)\nrequired$",
        reference_page(),
        re.MULTILINE,
    )
    assert match, "no Authorizations block on the reference page"
    scheme = load_spec()["components"]["securitySchemes"]["apiKey"]
    assert (scheme["name"], scheme["in"]) == (match["name"], match["location"])
    assert match["type"] == "string"


# --- the operation -----------------------------------------------------------------------------


def test_operation_exists_with_id_and_declared_tag() -> None:
    declared_tags = {tag["name"] for tag in load_spec().get("tags", [])}
    assert operation()["operationId"] == "createSdkToken"
    assert operation()["tags"]
    assert set(operation()["tags"]) <= declared_tags


def test_operation_is_the_only_one() -> None:
    assert list(load_spec()["paths"]) == [OPERATION_PATH]
    assert list(load_spec()["paths"][OPERATION_PATH]) == ["post"]


def test_curl_example_is_post_to_server_and_path() -> None:
    page = reference_page()
    url = re.search(r"--url (?P<url>\S+)", page)
    assert url, "no --url in the reference page's curl example"
    assert "curl --request POST" in page
    assert url["url"] == load_spec()["servers"][0]["url"] + OPERATION_PATH


def test_summary_is_the_page_title() -> None:
    summary = "Create a SDK token for a user"
    assert f"\nsdk-token\n{summary}\n" in reference_page()
    assert operation()["summary"] == summary


def test_description_carries_page_introduction() -> None:
    page = reference_page()
    description = squash(operation()["description"])
    intro = re.search(r"^Create a SDK token for a user\. [^\n]+$", page, re.MULTILINE)
    assert intro, "no introduction sentence on the reference page"
    closing = re.search(r"^The OAuth Portal provides [^\n]+$", page, re.MULTILINE)
    assert closing, "no 'The OAuth Portal provides' paragraph on the reference page"
    assert squash(intro[0]) in description
    assert squash(closing[0]) in description


@pytest.mark.parametrize(
    "phrase",
    [
        "OAuth Portal Integration",
        "Security Considerations",
        "https://oauth.tapti.dev?sdk_token=",
        "platform=youtube",
        "short-lived and user-specific",
        "localStorage",
    ],
)
def test_description_carries_key_phrase_of_page(phrase: str) -> None:
    assert phrase in reference_page()
    assert phrase in operation()["description"]


def test_description_carries_each_security_consideration() -> None:
    section = page_section(reference_page(), "Security Considerations")
    bullet_line = next(line for line in section.splitlines() if line.strip())
    considerations = [
        item.strip() for item in re.split(r"\s+-\s+", bullet_line.strip().lstrip("\u2022 "))
    ]
    assert len(considerations) > 1, f"could not split the considerations in {bullet_line!r}"
    description = squash(operation()["description"])
    missing = [item for item in considerations if item not in description]
    assert not missing


def test_id_path_parameter_is_a_required_string() -> None:
    parameters = [resolve(parameter) for parameter in operation()["parameters"]]
    assert [(parameter["name"], parameter["in"]) for parameter in parameters] == [("id", "path")]
    assert parameters[0]["required"] is True
    assert parameters[0]["schema"]["type"] == "string"


# --- request body against the page -------------------------------------------------------------


def test_request_body_is_required_json_described_as_on_page() -> None:
    body = operation()["requestBody"]
    assert body["required"] is True
    assert page_preamble(body_section()) == [*body["content"], body["description"]]


def test_request_fields_are_exactly_the_page_fields() -> None:
    assert set(request_schema()["properties"]) == set(page_fields(body_section()))


def test_request_required_list_holds_the_page_required_fields() -> None:
    page_required = {field.name for field in page_fields(body_section()).values() if field.required}
    assert page_required
    assert set(request_schema()["required"]) == page_required


def test_request_property_types_match_page() -> None:
    properties = request_schema()["properties"]
    mismatched = [
        (field.name, field.type)
        for field in page_fields(body_section()).values()
        if not schema_matches_page_type(properties[field.name], field.type)
    ]
    assert not mismatched


def test_request_property_descriptions_match_page() -> None:
    properties = request_schema()["properties"]
    actual = {name: properties[name].get("description") for name in page_fields(body_section())}
    expected = {field.name: field.description for field in page_fields(body_section()).values()}
    assert actual == expected


def test_request_property_examples_include_page_examples() -> None:
    properties = request_schema()["properties"]
    missing = [
        field.name
        for field in page_fields(body_section()).values()
        if field.example not in properties[field.name].get("examples", [])
    ]
    assert not missing


def test_request_body_example_holds_page_examples() -> None:
    example = operation()["requestBody"]["content"]["application/json"]["example"]
    expected = {field.name: field.example for field in page_fields(body_section()).values()}
    assert example == expected


def test_request_body_example_is_the_curl_body() -> None:
    example = operation()["requestBody"]["content"]["application/json"]["example"]
    assert example == curl_data()


def test_enum_components_are_named_platform_and_scope() -> None:
    properties = request_schema()["properties"]
    assert properties["user_platforms"]["items"] == {"$ref": "#/components/schemas/Platform"}
    assert properties["enabled_scopes"]["items"] == {"$ref": "#/components/schemas/Scope"}


def test_enum_components_list_the_page_available_options() -> None:
    properties = request_schema()["properties"]
    enum_fields = [field for field in page_fields(body_section()).values() if field.options]
    assert enum_fields, "no 'Available options:' blocks parsed from the reference page"
    actual = {field.name: resolve(properties[field.name]["items"])["enum"] for field in enum_fields}
    expected = {field.name: list(field.options) for field in enum_fields}
    assert actual == expected


# --- responses against the page ----------------------------------------------------------------


def test_responses_are_200_and_default_only() -> None:
    assert set(operation()["responses"]) == {"200", "default"}


def test_200_response_is_described_as_on_page() -> None:
    response = resolve(operation()["responses"]["200"])
    assert page_preamble(response_section()) == [response["description"]]


def test_200_response_fields_are_exactly_the_page_fields() -> None:
    schema = response_schema("200")
    fields = page_fields(response_section())
    assert set(schema["properties"]) == set(fields)
    assert set(schema["required"]) == {field.name for field in fields.values() if field.required}


def test_200_response_property_types_and_descriptions_match_page() -> None:
    properties = response_schema("200")["properties"]
    fields = page_fields(response_section()).values()
    assert {f.name: properties[f.name].get("description") for f in fields} == {
        f.name: f.description for f in fields
    }
    assert all(schema_matches_page_type(properties[f.name], f.type) for f in fields)


def test_200_response_property_examples_include_page_examples() -> None:
    properties = response_schema("200")["properties"]
    missing = [
        field.name
        for field in page_fields(response_section()).values()
        if field.example not in properties[field.name].get("examples", [])
    ]
    assert not missing


def test_200_response_example_is_the_page_response() -> None:
    response = resolve(operation()["responses"]["200"])
    assert response["content"]["application/json"]["example"] == page_response_example()


def test_default_response_is_an_object_with_no_declared_fields() -> None:
    schema = response_schema("default")
    assert schema["type"] == "object"
    assert not {"properties", "required", "allOf", "anyOf", "oneOf"} & schema.keys()
    assert schema.get("additionalProperties", True) is not False
