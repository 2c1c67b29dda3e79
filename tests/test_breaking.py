"""`make check-breaking` fails on a breaking spec change the version and CHANGELOG do not announce.

Each test runs scripts/check_breaking.py, the script make runs, in a scratch copy of the files it
reads: the spec, the released snapshot, ``__version__`` in tapti_ext/__init__.py, CHANGELOG.md,
the Optic standard and scripts/sdk_surface.py, with node_modules linked from this checkout (a
missing Optic fails the test, as Prism's absence does: CI must run the check). The copy starts as a
release of 0.1.0 whose spec is today's openapi/tapti.yaml, so the tests do not depend on the
version this checkout is at.
Optic starts in about 1.5 s, so the cases that run it are few; the version arithmetic and the SDK
surface are tested without it.
"""

from __future__ import annotations

import ast
import copy
import enum
import importlib
import importlib.util
import inspect
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
import yaml
from test_generation import generate, scratch_copy

import tapti_ext

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path("scripts/check_breaking.py")
SURFACE = Path("scripts/sdk_surface.py")
DESCRIPTION = Path("scripts/description.py")
SPEC = Path("openapi/tapti.yaml")
RELEASED = Path("openapi/released")
OPERATION = ("/users/{id}/sdk-token", "post")

Spec = dict[str, Any]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_breaking", ROOT / SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


check_breaking = load_script()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch repository released as 0.1.0 with this checkout's spec, still at 0.1.0."""
    copy = tmp_path / "repo"
    (copy / RELEASED).mkdir(parents=True)
    shutil.copyfile(ROOT / SPEC, copy / SPEC)
    shutil.copyfile(ROOT / SPEC, copy / RELEASED / "tapti.yaml")
    (copy / RELEASED / "VERSION").write_text("0.1.0\n")
    shutil.copytree(ROOT / "scripts" / "optic", copy / "scripts" / "optic")
    shutil.copyfile(ROOT / SCRIPT, copy / SCRIPT)
    shutil.copyfile(ROOT / SURFACE, copy / SURFACE)
    shutil.copyfile(ROOT / DESCRIPTION, copy / DESCRIPTION)
    (copy / "tapti_ext").mkdir()
    set_version(copy, "0.1.0")
    (copy / "CHANGELOG.md").write_text(
        "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-11-25\n"
    )
    (copy / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    return copy


def set_version(repo: Path, version: str) -> None:
    (repo / "tapti_ext" / "__init__.py").write_text(f'__version__ = "{version}"\n')


def add_changelog_entry(repo: Path, version: str, text: str = "- A breaking change.\n") -> None:
    """``## [version]`` with ``text`` under ``### Removed``; ``text=""``: the bare headings."""
    changelog = repo / "CHANGELOG.md"
    entry = f"## [{version}] - 2026-12-01\n\n### Removed\n\n{text}\n"
    changelog.write_text(changelog.read_text().replace("## [0.1.0]", entry + "## [0.1.0]"))


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / SCRIPT), *args],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


# --- editing the spec as data, with names read from it rather than written here ------------------


def edit_spec(repo: Path, change: Callable[[Spec], str]) -> str:
    """Apply ``change`` to the scratch spec; return what it names (a property or enum value)."""
    path = repo / SPEC
    spec = yaml.safe_load(path.read_text())
    name = change(spec)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return name


def resolve(spec: Spec, schema: Spec) -> Spec:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def operation_at(spec: Spec, path: str) -> Spec:
    result: Spec = spec["paths"][path][OPERATION[1]]
    return result


def operation(spec: Spec) -> Spec:
    path, method = OPERATION
    result: Spec = spec["paths"][path][method]
    return result


def response_schema(spec: Spec) -> Spec:
    content = operation(spec)["responses"]["200"]["content"]["application/json"]
    return resolve(spec, content["schema"])


def request_enum(spec: Spec) -> list[str]:
    """The enum of the first request property whose array items are an enum (the platforms)."""
    body = operation(spec)["requestBody"]["content"]["application/json"]
    for prop in resolve(spec, body["schema"])["properties"].values():
        items = resolve(spec, prop.get("items", {}))
        if "enum" in items:
            values: list[str] = items["enum"]
            return values
    raise AssertionError("the request has no array of enum values")


def remove_response_property(spec: Spec) -> str:
    schema = response_schema(spec)
    name = schema["required"][0]
    del schema["properties"][name]
    schema["required"].remove(name)
    if not schema["required"]:
        del schema["required"]
    return str(name)


def remove_request_enum_value(spec: Spec) -> str:
    return request_enum(spec).pop()


def remove_and_bump(repo: Path, version: str) -> str:
    """Remove a response property and bump; return the SDK name that broke (``Model.field``)."""
    removed = edit_spec(repo, remove_response_property)
    set_version(repo, version)
    return f"CreateSdkTokenResponse.{removed}"


# --- (a) a breaking change fails -----------------------------------------------------------------


@pytest.mark.parametrize("change", [remove_response_property, remove_request_enum_value])
def test_a_breaking_change_fails_while_the_version_is_the_released_one(
    repo: Path, change: Callable[[Spec], str]
) -> None:
    removed = edit_spec(repo, change)
    result = run(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert removed in result.stdout  # Optic's report names what broke
    assert "This is a breaking change." in result.stdout
    assert "check-breaking: FAILED: breaking change since 0.1.0" in result.stderr
    assert "to 0.2.0 or later" in result.stderr


# --- (b) an additive change passes ---------------------------------------------------------------


def test_additive_changes_pass_without_a_new_version(repo: Path) -> None:
    def add(spec: Spec) -> str:
        response_schema(spec)["properties"]["expires_at"] = {
            "type": "string",
            "format": "date-time",
        }
        request_enum(spec).append("THREADS")
        return "expires_at"

    added = edit_spec(repo, add)
    result = run(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"/schema/properties/{added}: added" in result.stdout  # Optic did see the change
    assert "check-breaking: OK: no breaking change since 0.1.0" in result.stdout


# --- (c) a breaking change passes once it is versioned -------------------------------------------


def test_a_breaking_change_passes_with_a_new_minor_version_and_its_changelog_entry(
    repo: Path,
) -> None:
    field = remove_and_bump(repo, "0.2.0")
    add_changelog_entry(repo, "0.2.0", f"- `{field}` is gone.\n")
    result = run(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "This is a breaking change." in result.stdout
    assert "released as 0.2.0 with a CHANGELOG entry" in result.stdout


def test_a_new_version_without_its_changelog_entry_fails(repo: Path) -> None:
    remove_and_bump(repo, "0.2.0")
    result = run(repo)
    assert result.returncode == 1
    assert "CHANGELOG.md has no '## [0.2.0] - YYYY-MM-DD' entry" in result.stderr


def test_a_version_older_than_the_release_fails(repo: Path) -> None:
    set_version(repo, "0.0.9")
    result = run(repo)
    assert result.returncode == 1
    assert "older than the released 0.1.0" in result.stderr


@pytest.mark.parametrize(
    ("released", "needed"),
    [("0.1.0", "0.2.0"), ("0.1.7", "0.2.0"), ("0.9.3", "0.10.0"), ("1.4.2", "2.0.0")],
)
def test_the_version_a_breaking_change_needs(released: str, needed: str) -> None:
    version = check_breaking.Version
    assert check_breaking.required_for_breaking(version(released)) == version(needed)


def test_a_patch_bump_is_not_enough_for_a_breaking_change() -> None:
    version = check_breaking.Version
    needed = check_breaking.required_for_breaking(version("0.1.0"))
    assert version("0.1.1") < needed <= version("0.2.0") < version("1.0.0")


# --- a broken tool is an error, never a pass -----------------------------------------------------


def test_a_ruleset_optic_could_not_load_is_an_error_not_a_pass(repo: Path) -> None:
    """Optic drops a ruleset that fails to load with a warning and passes: the script must not."""
    standard = repo / "scripts" / "optic" / "standard.yml"
    standard.write_text(standard.read_text().replace("array-item-enums.js", "missing.js"))
    edit_spec(repo, remove_request_enum_value)  # only that ruleset catches this one
    result = run(repo)
    assert result.returncode == 2
    assert "check-breaking: ERROR: optic did not run cleanly" in result.stderr
    assert "missing.js" in result.stderr


def test_an_optic_crash_is_an_error_not_a_breaking_change() -> None:
    """The crash ajv 8.20 caused: exit 1 like failed checks, but no checks were run."""
    crash = "SyntaxError: Unexpected token ':'\n    at new Function (<anonymous>)\n"
    with pytest.raises(check_breaking.ToolFailedError, match="did not run cleanly"):
        check_breaking.read_optic(1, "", crash)
    with pytest.raises(check_breaking.ToolFailedError, match="contradicts"):
        check_breaking.read_optic(1, "Checks: 8/8 passed\n", "")
    assert check_breaking.read_optic(1, "Checks: 7/8 passed\n", "").breaking
    assert not check_breaking.read_optic(0, "Checks: 8/8 passed\n", "").breaking


# --- make release-spec ---------------------------------------------------------------------------


def test_release_records_the_spec_and_version_once_the_changelog_has_the_entry(repo: Path) -> None:
    remove_and_bump(repo, "0.2.0")
    refused = run(repo, "--release")
    assert refused.returncode == 1
    assert "CHANGELOG.md has no '## [0.2.0]' entry" in refused.stderr
    assert (repo / RELEASED / "VERSION").read_text() == "0.1.0\n"

    add_changelog_entry(repo, "0.2.0")
    result = run(repo, "--release")
    assert result.returncode == 0, result.stderr
    assert (repo / RELEASED / "tapti.yaml").read_bytes() == (repo / SPEC).read_bytes()
    assert (repo / RELEASED / "VERSION").read_text() == "0.2.0\n"


def test_release_refuses_a_changed_spec_under_the_released_version(repo: Path) -> None:
    edit_spec(repo, remove_response_property)
    result = run(repo, "--release")
    assert result.returncode == 1
    assert "bump the version" in result.stderr
    assert (repo / RELEASED / "tapti.yaml").read_bytes() == (ROOT / SPEC).read_bytes()


# --- (d) the SDK surface: what users import and call -----------------------------------------

sdk_surface = sys.modules["sdk_surface"]  # loaded by check_breaking, from scripts/


def rename_operation(spec: Spec) -> str:
    operation(spec)["operationId"] = "issueSdkToken"
    return "create_sdk_token"


def rename_scope_schema(spec: Spec) -> str:
    text = yaml.safe_dump(spec, sort_keys=False)
    text = text.replace("#/components/schemas/Scope", "#/components/schemas/Permission")
    renamed = yaml.safe_load(text)
    schemas = renamed["components"]["schemas"]
    schemas["Permission"] = schemas.pop("Scope")
    spec.clear()
    spec.update(renamed)
    return "Scope"


def rename_key_header(spec: Spec) -> str:
    (scheme,) = spec["components"]["securitySchemes"].values()
    old = str(scheme["name"])
    scheme["name"] = "x-tapti-key"
    return old


def rename_path_parameter(spec: Spec) -> str:
    """``id`` to ``user_id``: the same URLs, but ``sync_detailed(id=...)`` breaks, and Optic
    alone printed no checks at all, so the check could never pass."""
    path, method = OPERATION
    item = spec["paths"].pop(path)
    spec["paths"][path.replace("{id}", "{user_id}")] = item
    (parameter,) = item[method]["parameters"]
    parameter["name"] = "user_id"
    return "id"


SDK_BREAKS = [rename_operation, rename_scope_schema, rename_key_header, rename_path_parameter]


@pytest.mark.parametrize("change", SDK_BREAKS)
def test_an_sdk_breaking_change_optic_passes_fails(
    repo: Path, change: Callable[[Spec], str]
) -> None:
    broken = edit_spec(repo, change)
    result = run(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Checks: 8/8 passed" in result.stdout  # Optic alone would let it through
    assert f"  - {broken}: " in result.stdout  # the printed list names it
    assert "check-breaking: FAILED: breaking change since 0.1.0" in result.stderr
    assert "to 0.2.0 or later" in result.stderr
    assert f"naming {broken}" in result.stderr


def edit_text(repo: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must stand once) in the scratch spec's text: for YAML's own
    forms, which editing the spec as data would write out."""
    path = repo / SPEC
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_optic_reads_a_merge_key_as_the_generator_does(repo: Path) -> None:
    """Optic's YAML reader applies no ``<<:``: an enum merged into a request field passed with
    no bump, and the wrapper then raised a raw AttributeError (probe 31)."""
    edit_text(
        repo,
        "        callback_url:\n          type: string\n",
        "        callback_url:\n          <<:\n            enum: [https://a.example/cb]\n"
        "          type: string\n",
    )
    result = run(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot add enum or const to request property callback_url" in result.stdout


# Rewrites the generator reads as the same description, which Optic took for a break (probe 31).
SAME_TO_THE_GENERATOR = {
    "anchors-and-merge-keys": (
        "    CreateSdkTokenResponse:\n      type: object\n"
        "      description: SDK token created successfully\n",
        "    CreateSdkTokenResponse:\n      <<: &token_base\n        type: object\n"
        "        description: SDK token created successfully\n",
    ),
    "json-with-a-charset": (
        "          content:\n            application/json:\n              schema:\n"
        '                $ref: "#/components/schemas/CreateSdkTokenResponse"\n',
        "          content:\n            application/json; charset=utf-8:\n              schema:\n"
        '                $ref: "#/components/schemas/CreateSdkTokenResponse"\n',
    ),
}


@pytest.mark.parametrize(("old", "new"), SAME_TO_THE_GENERATOR.values(), ids=SAME_TO_THE_GENERATOR)
def test_a_rewrite_the_generator_reads_the_same_passes(repo: Path, old: str, new: str) -> None:
    edit_text(repo, old, new)
    result = run(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check-breaking: OK: no breaking change since 0.1.0" in result.stdout


def test_an_empty_changelog_heading_fails(repo: Path) -> None:
    edit_spec(repo, rename_operation)
    set_version(repo, "0.2.0")
    add_changelog_entry(repo, "0.2.0", text="")  # headings, no words
    result = run(repo)
    assert result.returncode == 1
    assert "the '## [0.2.0]' entry of CHANGELOG.md is empty" in result.stderr


def test_an_entry_that_does_not_name_what_broke_fails(repo: Path) -> None:
    edit_spec(repo, rename_operation)
    set_version(repo, "0.2.0")
    add_changelog_entry(repo, "0.2.0", text="- The operation was renamed.\n")
    result = run(repo)
    assert result.returncode == 1
    assert "does not name what broke for SDK users: create_sdk_token" in result.stderr


def test_an_entry_naming_what_broke_passes_and_a_later_break_needs_its_own_mention(
    repo: Path,
) -> None:
    edit_spec(repo, rename_operation)
    set_version(repo, "0.2.0")
    add_changelog_entry(repo, "0.2.0", text="- `create_sdk_token` is now `issue_sdk_token`.\n")
    passed = run(repo)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "released as 0.2.0 with a CHANGELOG entry" in passed.stdout

    edit_spec(repo, rename_key_header)  # a second break, under the already bumped version
    again = run(repo)
    assert again.returncode == 1
    assert "does not name what broke for SDK users: x-api-key" in again.stderr


# --- the surface itself, without Optic ---------------------------------------------------------


def load_spec() -> Spec:
    document: Spec = yaml.safe_load((ROOT / SPEC).read_text(encoding="utf-8"))
    return document


def _changed(change: Callable[[Spec], object]) -> Spec:
    spec = copy.deepcopy(load_spec())
    change(spec)
    return spec


def breaks(change: Callable[[Spec], object]) -> list[Any]:
    result: list[Any] = sdk_surface.breaking_changes(load_spec(), _changed(change))
    return result


def test_the_surface_is_what_the_generator_made_of_the_spec() -> None:
    """Derived from the YAML alone, it must name what generated/ really holds."""
    import tapti_api_client.models as models  # noqa: PLC0415

    spec = load_spec()
    for entry in sdk_surface.operation_functions(spec):
        tag, function = entry.split(".")
        module = importlib.import_module(f"tapti_api_client.api.{tag}.{function}")
        assert callable(module.sync_detailed)
    assert sdk_surface.model_names(spec) == set(models.__all__)
    members = {
        f"{name}.{member}"
        for name in models.__all__
        if isinstance(getattr(models, name), enum.EnumMeta)
        for member in getattr(models, name).__members__
    }
    assert sdk_surface.enum_members(spec) == members
    fields = {
        f"{name}.{field.name}": field.default is attrs.NOTHING
        for name in models.__all__
        if attrs.has(getattr(models, name))
        for field in attrs.fields(getattr(models, name))
        if field.name != "additional_properties"
    }
    assert sdk_surface.model_fields(spec) == fields
    assert sdk_surface.key_headers(spec) == {("x-api-key", "header")}
    arguments = {}
    for entry in sdk_surface.operation_functions(spec):
        tag, function = entry.split(".")
        module = importlib.import_module(f"tapti_api_client.api.{tag}.{function}")
        for name, parameter in inspect.signature(module.sync_detailed).parameters.items():
            if name != "client":
                arguments[f"{entry}.{name}"] = parameter.default is inspect.Parameter.empty
    assert sdk_surface.operation_arguments(spec) == arguments


@pytest.mark.parametrize(
    "value",
    [
        "createSdkToken",
        "get_users-list",
        "SDKToken",
        "HTTPStatus",
        "class",
        "id",
        "type",
        "2fa",
        "_private",
        "x-api-key",
        "user.name",
        "oauthPortalURL",
    ],
)
def test_names_follow_the_generators_rules(value: str) -> None:
    strings = importlib.import_module("openapi_python_client.strings")
    assert sdk_surface.python_name(value) == strings.PythonIdentifier(value, prefix="field_")
    assert sdk_surface.class_name(value) == strings.ClassName(value, prefix="field_")


def test_inline_classes_are_named_after_their_parent() -> None:
    spec = copy.deepcopy(load_spec())
    request = spec["components"]["schemas"]["CreateSdkTokenRequest"]
    request["properties"]["mode"] = {"type": "string", "enum": ["FAST", "slow-ish"]}
    request["properties"]["window"] = {"type": "object", "properties": {"start": {}}}
    names = sdk_surface.model_names(spec)
    assert {"CreateSdkTokenRequestMode", "CreateSdkTokenRequestWindow"} <= names
    assert {"CreateSdkTokenRequestMode.FAST", "CreateSdkTokenRequestMode.SLOW_ISH"} <= (
        sdk_surface.enum_members(spec)
    )


def request_schema(spec: Spec) -> Spec:
    schema: Spec = spec["components"]["schemas"]["CreateSdkTokenRequest"]
    return schema


def request_field(spec: Spec, name: str) -> Spec:
    field: Spec = spec["components"]["schemas"]["CreateSdkTokenRequest"]["properties"][name]
    return field


def path_parameter(spec: Spec) -> Spec:
    (parameter,) = operation(spec)["parameters"]
    schema: Spec = parameter["schema"]
    return schema


# (the change, what it sets): each makes requests the released SDK sends refusable.
NARROWED: list[tuple[str, Callable[[Spec], Spec], dict[str, Any]]] = [
    ("callback_url", lambda s: request_field(s, "callback_url"), {"maxLength": 100}),
    ("callback_url", lambda s: request_field(s, "callback_url"), {"minLength": 12}),
    ("redirect_url", lambda s: request_field(s, "redirect_url"), {"pattern": "^https://"}),
    ("redirect_url", lambda s: request_field(s, "redirect_url"), {"format": "uri"}),
    ("user_platforms", lambda s: request_field(s, "user_platforms"), {"maxItems": 3}),
    ("enabled_scopes", lambda s: request_field(s, "enabled_scopes"), {"uniqueItems": True}),
    ("id", path_parameter, {"maxLength": 64}),
    # JSON Schema's other assertions, which the check does not reason about (probe 31).
    ("redirect_url", lambda s: request_field(s, "redirect_url"), {"not": {"pattern": "^http:"}}),
    ("user_platforms", lambda s: request_field(s, "user_platforms"), {"contains": {"const": "X"}}),
    ("body", request_schema, {"unevaluatedProperties": False}),
]


@pytest.mark.parametrize(
    ("name", "where", "rule"), NARROWED, ids=[f"{n}-{next(iter(r))}" for n, _, r in NARROWED]
)
def test_a_narrowed_request_rule_breaks(
    name: str, where: Callable[[Spec], Spec], rule: dict[str, Any]
) -> None:
    """Optic passes each of these; every one can make a request the released SDK sends fail."""
    found = breaks(lambda spec: where(spec).update(rule))
    assert [b.name for b in found] == [name], found
    assert f"{next(iter(rule))} none -> " in found[0].what


def test_a_bound_made_tighter_breaks_and_one_made_looser_does_not() -> None:
    def bounded(**rules: Any) -> Spec:
        spec = copy.deepcopy(load_spec())
        request_field(spec, "callback_url").update(rules)
        return spec

    released = bounded(maxLength=200, minLength=10, pattern="^https://")
    looser = bounded(maxLength=300, minLength=5)  # the pattern dropped
    tighter = bounded(maxLength=150, minLength=10, pattern="^https://")
    assert sdk_surface.breaking_changes(released, looser) == []
    (found,) = sdk_surface.breaking_changes(released, tighter)
    assert found.name == "callback_url"
    assert "maxLength 200 -> 150" in found.what


def with_field(**field: Any) -> Callable[[Spec], None]:
    """A change adding request field ``extra`` as given (to both specs, by ``judged``)."""
    return lambda spec: request_schema(spec)["properties"].update({"extra": field})


def with_query(*parameters: Spec, on_path: bool = False) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        path, method = OPERATION
        holder = spec["paths"][path] if on_path else spec["paths"][path][method]
        holder.setdefault("parameters", []).extend(copy.deepcopy(list(parameters)))

    return change


def judged(before: Callable[[Spec], None], after: Callable[[Spec], None]) -> list[str]:
    """The names ``breaking_changes`` reports from a spec changed by ``before`` to the same
    spec changed by ``after`` instead."""
    released, current = copy.deepcopy(load_spec()), copy.deepcopy(load_spec())
    before(released)
    after(current)
    return [found.name for found in sdk_surface.breaking_changes(released, current)]


LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}}
STRING = {"type": "string"}


def bounded_object(**max_lengths: int | None) -> Spec:
    """An object whose string properties are bounded to the given ``maxLength`` (``None``:
    unbounded)."""
    properties = {
        name: {**STRING, **({} if limit is None else {"maxLength": limit})}
        for name, limit in max_lengths.items()
    }
    return {"type": "object", "properties": properties}


# (the rule before, the rule after, whether requests the released SDK sends may be refused)
BOUND_CASES: list[tuple[str, Callable[[Spec], None], Callable[[Spec], None], bool]] = [
    ("inside allOf", with_field(**STRING), with_field(allOf=[{"maxLength": 9}], **STRING), True),
    ("beside a $ref", with_field(**STRING), with_field(**{"$ref": "#/x", "maxLength": 9}), True),
    (
        "in an anyOf branch",
        with_field(anyOf=[STRING, {"type": "null"}]),
        with_field(anyOf=[{**STRING, "maxLength": 9}, {"type": "null"}]),
        True,
    ),
    (
        "items of a nullable array",
        with_field(type=["array", "null"], items=STRING),
        with_field(type=["array", "null"], items={**STRING, "maxLength": 9}),
        True,
    ),
    (
        "a map's values",
        with_field(type="object", additionalProperties={**STRING, "maxLength": 99}),
        with_field(type="object", additionalProperties={**STRING, "maxLength": 9}),
        True,
    ),
    (
        "a path item's parameter",
        with_query(LIMIT, on_path=True),
        with_query({**LIMIT, "schema": {"type": "integer", "maximum": 10}}, on_path=True),
        True,
    ),
    (
        "a query parameter named as the path's",
        with_query({**LIMIT, "name": "id"}),
        with_query({**LIMIT, "name": "id", "schema": {"type": "integer", "maximum": 10}}),
        True,
    ),
    (
        "an exponent PyYAML reads as text",
        with_query({**LIMIT, "schema": {"type": "number", "maximum": "1e6"}}),
        with_query({**LIMIT, "schema": {"type": "number", "maximum": "5e5"}}),
        True,
    ),
    (
        "OpenAPI 3.0's exclusiveMaximum made true",
        with_query({**LIMIT, "schema": {"maximum": 100, "exclusiveMaximum": False}}),
        with_query({**LIMIT, "schema": {"maximum": 100, "exclusiveMaximum": True}}),
        True,
    ),
    ("minLength 0", with_field(**STRING), with_field(minLength=0, **STRING), False),
    (
        "maximum moved to a looser exclusiveMaximum",
        with_query(LIMIT),
        with_query({**LIMIT, "schema": {"type": "integer", "exclusiveMaximum": 1000}}),
        False,
    ),
    (
        "multipleOf 10 to 5",
        with_field(type="integer", multipleOf=10),
        with_field(type="integer", multipleOf=5),
        False,
    ),
    ("format password", with_field(**STRING), with_field(format="password", **STRING), False),
    (
        "anyOf branches reordered",
        with_field(anyOf=[{**STRING, "maxLength": 100}, {"type": "integer"}]),
        with_field(anyOf=[{"type": "integer"}, {**STRING, "maxLength": 100}]),
        False,
    ),
    (
        "a branch of another type put in front of a narrowed one",
        with_field(anyOf=[{**STRING, "maxLength": 100}]),
        with_field(anyOf=[{"type": "null"}, {**STRING, "maxLength": 10}]),
        True,
    ),
    (
        "multipleOf 1 to 0.01, exactly",
        with_field(type="number", multipleOf=1),
        with_field(type="number", multipleOf=0.01),
        False,
    ),
    (
        "bounded beside, declared again in an allOf part",
        with_field(**STRING, maxLength=2048),
        lambda spec: (
            with_field(**STRING, maxLength=10)(spec),
            request_schema(spec).update(allOf=[{"properties": {"extra": dict(STRING)}}]),
        ),
        True,
    ),
    (
        "uniqueItems false",
        with_field(type="array"),
        with_field(type="array", uniqueItems=False),
        False,
    ),
    (
        "OpenAPI 3.0's exclusiveMaximum made false",
        with_query({**LIMIT, "schema": {"maximum": 100, "exclusiveMaximum": True}}),
        with_query({**LIMIT, "schema": {"maximum": 100, "exclusiveMaximum": False}}),
        False,
    ),
    (
        "OpenAPI 3.0's exclusiveMinimum made false",
        with_query({**LIMIT, "schema": {"minimum": 1, "exclusiveMinimum": True}}),
        with_query({**LIMIT, "schema": {"minimum": 1, "exclusiveMinimum": False}}),
        False,
    ),
    (
        "OpenAPI 3.0's exclusiveMinimum made true",
        with_query({**LIMIT, "schema": {"minimum": 1, "exclusiveMinimum": False}}),
        with_query({**LIMIT, "schema": {"minimum": 1, "exclusiveMinimum": True}}),
        True,
    ),
    (
        # In 3.0 the flag qualifies the maximum beside it; in a part of its own it bounds nothing.
        "OpenAPI 3.0's exclusiveMaximum moved beside the maximum it did not qualify",
        with_query({**LIMIT, "schema": {"allOf": [{"maximum": 100}, {"exclusiveMaximum": True}]}}),
        with_query({**LIMIT, "schema": {"maximum": 100, "exclusiveMaximum": True}}),
        True,
    ),
    (
        "format int32 to int64",
        with_field(type="integer", format="int32"),
        with_field(type="integer", format="int64"),
        False,
    ),
    (
        "format int64 to int32",
        with_field(type="integer", format="int64"),
        with_field(type="integer", format="int32"),
        True,
    ),
    (
        "format float to double",
        with_field(type="number", format="float"),
        with_field(type="number", format="double"),
        False,
    ),
    ("enum of one value to const", with_field(enum=["a"]), with_field(const="a"), False),
    ("const to enum of that value", with_field(const="a"), with_field(enum=["a"]), False),
    ("enum of two values to const", with_field(enum=["a", "b"]), with_field(const="a"), True),
    (
        "multipleOf 2 and 3 in allOf to multipleOf 6",
        with_field(type="integer", allOf=[{"multipleOf": 2}, {"multipleOf": 3}]),
        with_field(type="integer", multipleOf=6),
        False,
    ),
    (
        "multipleOf 2 and 3 in allOf to multipleOf 12",
        with_field(type="integer", allOf=[{"multipleOf": 2}, {"multipleOf": 3}]),
        with_field(type="integer", multipleOf=12),
        True,
    ),
    (
        "two string branches swapped",
        with_field(anyOf=[{**STRING, "maxLength": 5}, {**STRING, "pattern": "^a"}]),
        with_field(anyOf=[{**STRING, "pattern": "^a"}, {**STRING, "maxLength": 5}]),
        False,
    ),
    (
        "a string branch dropped beside another",
        with_field(anyOf=[{**STRING, "maxLength": 5}, {**STRING, "pattern": "^a"}]),
        with_field(anyOf=[{**STRING, "maxLength": 5}]),
        True,
    ),
    (
        "a string branch added in front",
        with_field(anyOf=[{**STRING, "maxLength": 5}]),
        with_field(anyOf=[{**STRING, "pattern": "^a"}, {**STRING, "maxLength": 5}]),
        False,
    ),
    (
        "an object branch narrowed where its twin was swapped in",
        with_field(anyOf=[bounded_object(a=5, b=None), bounded_object(a=None, b=5)]),
        with_field(anyOf=[bounded_object(a=None, b=5), bounded_object(a=5, b=5)]),
        True,
    ),
    (
        # "abcdefg" matched only the pattern, and now both: oneOf refuses it.
        "a oneOf string branch widened to overlap its twin",
        with_field(oneOf=[{**STRING, "maxLength": 5}, {**STRING, "pattern": "^a"}]),
        with_field(oneOf=[{**STRING, "maxLength": 10}, {**STRING, "pattern": "^a"}]),
        True,
    ),
    (
        "two oneOf string branches swapped",
        with_field(oneOf=[{**STRING, "maxLength": 5}, {**STRING, "pattern": "^a"}]),
        with_field(oneOf=[{**STRING, "pattern": "^a"}, {**STRING, "maxLength": 5}]),
        False,
    ),
    (
        "an anyOf of twin string branches made a oneOf",
        with_field(anyOf=[{**STRING, "maxLength": 5}, {**STRING, "pattern": "^a"}]),
        with_field(oneOf=[{**STRING, "maxLength": 5}, {**STRING, "pattern": "^a"}]),
        True,
    ),
]


@pytest.mark.parametrize(
    ("before", "after", "breaks_users"),
    [case[1:] for case in BOUND_CASES],
    ids=[case[0] for case in BOUND_CASES],
)
def test_request_rules_are_judged_where_and_as_they_apply(
    before: Callable[[Spec], None], after: Callable[[Spec], None], breaks_users: bool
) -> None:
    def referenced(spec: Spec) -> None:  # the target of the "$ref" case
        spec["x"] = dict(STRING)

    def both(change: Callable[[Spec], None]) -> Callable[[Spec], None]:
        return lambda spec: (referenced(spec), change(spec))

    found = judged(both(before), both(after))
    expected = {"extra", "limit", "id", "a", "b"}  # a and b: the properties of bounded_object cases
    assert bool(set(found) & expected) == breaks_users, found


def test_a_bound_made_exclusive_says_so() -> None:
    # "upper bound 100 -> 100" read as no change at all.
    inclusive = with_query({**LIMIT, "schema": {"maximum": 100, "exclusiveMaximum": False}})
    released, current = copy.deepcopy(load_spec()), copy.deepcopy(load_spec())
    inclusive(released)
    with_query({**LIMIT, "schema": {"exclusiveMaximum": 100}})(current)
    (found,) = sdk_surface.breaking_changes(released, current)
    assert "(upper bound <= 100 -> < 100)" in found.what


@pytest.mark.parametrize(
    "change",
    [
        lambda s: request_schema(s).update(
            allOf=[{"$ref": "#/components/schemas/CreateSdkTokenRequest"}]
        ),
        lambda s: request_schema(s)["properties"].update(
            callback_url={"$ref": "#/components/schemas/CreateSdkTokenRequest/required/0"}
        ),
        lambda s: request_schema(s)["properties"].update(
            callback_url={"$ref": "#/components/schemas/CreateSdkTokenRequest/required/\u00b2"}
        ),
        lambda s: request_schema(s)["properties"]["callback_url"].update(maxLength=10**400),
    ],
    ids=["allOf-cycle", "pointer-through-a-list", "odd-digit", "huge-number"],
)
def test_an_odd_description_is_read_without_a_crash(change: Callable[[Spec], None]) -> None:
    # make check-breaking would end with exit 2 ("the check itself failed"): not a verdict.
    assert isinstance(breaks(change), list)


def test_a_narrowed_response_rule_does_not_break() -> None:
    # The SDK reads what it gets; a response that may hold less breaks no one.
    found = breaks(
        lambda spec: response_schema(spec)["properties"]["oauth_portal_url"].update(
            {"maxLength": 2048, "pattern": "^https://"}
        )
    )
    assert found == []


def test_a_new_required_field_breaks_and_a_new_optional_one_does_not() -> None:
    def add(required: bool) -> Callable[[Spec], None]:
        def change(spec: Spec) -> None:
            request = spec["components"]["schemas"]["CreateSdkTokenRequest"]
            request["properties"]["expires_in"] = {"type": "integer"}
            if required:
                request["required"].append("expires_in")

        return change

    assert breaks(add(required=False)) == []
    (broken,) = breaks(add(required=True))
    assert broken.name == "CreateSdkTokenRequest.expires_in"
    assert "new required constructor argument" in broken.what


def test_a_required_field_made_optional_does_not_break_and_a_removed_one_does() -> None:
    def optional(spec: Spec) -> None:
        spec["components"]["schemas"]["CreateSdkTokenRequest"]["required"].remove("redirect_url")

    def removed(spec: Spec) -> None:
        optional(spec)
        del spec["components"]["schemas"]["CreateSdkTokenRequest"]["properties"]["redirect_url"]

    assert breaks(optional) == []
    assert [item.name for item in breaks(removed)] == ["CreateSdkTokenRequest.redirect_url"]


def test_an_operation_argument_gone_or_newly_required_breaks() -> None:
    def query(required: bool) -> Callable[[Spec], None]:
        def change(spec: Spec) -> None:
            parameter = {"name": "dryRun", "in": "query", "required": required}
            operation(spec)["parameters"].append({**parameter, "schema": {"type": "boolean"}})

        return change

    assert breaks(query(required=False)) == []
    (broken,) = breaks(query(required=True))
    assert (broken.name, "newly required") == ("dry_run", broken.what[-14:])
    (gone,) = breaks(lambda spec: operation(spec).pop("requestBody"))
    assert gone.name == "body"
    assert "argument body of operation create_sdk_token is gone" in gone.what
    assert [item.name for item in breaks(rename_path_parameter)] == ["id", "user_id"]


def _signatures(package: Path) -> tuple[dict[str, bool], dict[str, tuple[str, ...]]]:
    """Each generated ``sync_detailed``'s arguments (required or not) and positional ones."""
    arguments: dict[str, bool] = {}
    positional: dict[str, tuple[str, ...]] = {}
    for module in (package / "api").rglob("*.py"):
        if module.name == "__init__.py":
            continue
        entry = f"{module.parent.name}.{module.stem}"
        tree = ast.parse(module.read_text(encoding="utf-8"))
        (function,) = [
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name == "sync_detailed"
        ]
        given = function.args
        positional[entry] = tuple(argument.arg for argument in given.args)
        defaults = [None] * (len(given.args) - len(given.defaults)) + list(given.defaults)
        for argument, default in zip(given.args, defaults, strict=True):
            arguments[f"{entry}.{argument.arg}"] = default is None
        for argument, default in zip(given.kwonlyargs, given.kw_defaults, strict=True):
            if argument.arg != "client":
                arguments[f"{entry}.{argument.arg}"] = default is None
    return arguments, positional


def test_the_arguments_derived_are_those_the_generator_writes_for_awkward_parameters(
    tmp_path: Path,
) -> None:
    """Names that collide across locations or with the generator's own, defaults, a parameter
    without a schema, path-level parameters, a body in two media types: regenerated for real."""
    spec = copy.deepcopy(load_spec())
    path, _ = OPERATION
    string = {"type": "string"}
    spec["paths"][path]["parameters"] = [{"name": "trace", "in": "header", "schema": string}]
    operation(spec)["parameters"] += [
        {"name": "id", "in": "query", "required": True, "schema": string},
        {"name": "client", "in": "header", "schema": string},
        {"name": "from", "in": "query", "schema": string},
        {"name": "mode", "in": "query", "required": True, "schema": {**string, "default": "x"}},
        {"name": "filter", "in": "query", "content": {"application/json": {"schema": string}}},
        {"name": "dry-run", "in": "query", "schema": {"type": "boolean"}},
        {"name": "dry_run", "in": "header", "schema": {"type": "boolean"}},
    ]
    content = operation(spec)["requestBody"]["content"]
    content["application/x-www-form-urlencoded"] = content["application/json"]
    repo = scratch_copy(tmp_path)
    (repo / SPEC).write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    result = generate(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    arguments, positional = _signatures(repo / "generated" / "tapti_api_client")
    assert "users.create_sdk_token.id_path" in arguments  # the collision happened
    assert sdk_surface.operation_arguments(spec) == arguments
    assert sdk_surface.path_arguments(spec) == positional


def test_path_arguments_in_another_order_break() -> None:
    def two_path_parameters(spec: Spec, order: str) -> None:
        path, method = OPERATION
        item = spec["paths"].pop(path)
        spec["paths"][f"/users/{order}/sdk-token"] = item
        platform = {"name": "platform", "in": "path", "required": True, "schema": {}}
        item[method]["parameters"].append(platform)

    released = copy.deepcopy(load_spec())
    two_path_parameters(released, "{id}/{platform}")
    current = copy.deepcopy(load_spec())
    two_path_parameters(current, "{platform}/{id}")
    (broken,) = sdk_surface.breaking_changes(released, current)
    assert broken.name == "create_sdk_token"
    assert "path arguments in another order: (id, platform) to (platform, id)" in broken.what


def test_optic_sees_a_renamed_path_parameter_under_its_released_name() -> None:
    spec = copy.deepcopy(load_spec())
    rename_path_parameter(spec)
    wire, renames = sdk_surface.as_released_path_names(load_spec(), spec)
    assert renames == {"user_id": "id"}
    assert wire == load_spec()
    assert sdk_surface.as_released_path_names(load_spec(), load_spec()) == (load_spec(), {})


def test_the_optic_copy_writes_out_a_renamed_parameter_given_by_reference() -> None:
    spec = copy.deepcopy(load_spec())
    rename_path_parameter(spec)
    (parameter,) = operation_at(spec, "/users/{user_id}/sdk-token")["parameters"]
    spec["components"]["parameters"] = {"UserId": parameter}
    operation_at(spec, "/users/{user_id}/sdk-token")["parameters"] = [
        {"$ref": "#/components/parameters/UserId"}
    ]
    wire, _ = sdk_surface.as_released_path_names(load_spec(), spec)
    (written,) = wire["paths"]["/users/{id}/sdk-token"][OPERATION[1]]["parameters"]
    assert written["name"] == "id"
    assert written["in"] == "path"


def test_the_optic_copy_never_merges_two_paths() -> None:
    spec = copy.deepcopy(load_spec())
    path, method = OPERATION
    spec["paths"]["/users/{user_id}/sdk-token"] = {"get": copy.deepcopy(operation(spec))}
    spec["paths"]["/users/{user_id}/sdk-token"]["get"]["operationId"] = "readSdkToken"
    wire, renames = sdk_surface.as_released_path_names(load_spec(), spec)
    assert set(wire["paths"]) == set(spec["paths"])
    assert method in wire["paths"][path]
    assert renames == {}


def test_a_removed_enum_member_breaks_and_a_renamed_class_is_one_break() -> None:
    assert [item.name for item in breaks(lambda s: request_enum(s).remove("X"))] == ["Platform.X"]
    assert [item.name for item in breaks(rename_scope_schema)] == ["Scope"]


def test_security_changes() -> None:
    def bearer(spec: Spec) -> None:
        spec["components"]["securitySchemes"]["apiKey"] = {"type": "http", "scheme": "bearer"}

    def second_alternative(spec: Spec) -> None:
        spec["components"]["securitySchemes"]["bearer"] = {"type": "http", "scheme": "bearer"}
        operation(spec)["security"].append({"bearer": []})

    def only_the_new_one(spec: Spec) -> None:
        second_alternative(spec)
        operation(spec)["security"] = [{"bearer": []}]

    def anonymous_too(spec: Spec) -> None:
        operation(spec)["security"].append({})

    assert [item.name for item in breaks(bearer)] == ["apiKey", "x-api-key"]
    assert breaks(second_alternative) == []
    assert breaks(anonymous_too) == []
    # The scheme kept but accepted nowhere: its header is gone from the API too.
    broken, header = breaks(only_the_new_one)
    assert (broken.name, broken.what) == (
        "create_sdk_token",
        "operation create_sdk_token no longer accepts apiKey",
    )
    assert header.name == "x-api-key"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("`Scope` is now `Permission`", True),
        ("tapti_api_client.models.Scope was renamed", True),
        ("Scope.PROFILE_READ is gone", True),
        ("ScopeName changed", False),
        ("the scope enum", False),
        ("", False),
    ],
)
def test_a_name_counts_as_mentioned_only_as_a_whole_word(text: str, named: bool) -> None:
    broken = [sdk_surface.Break("Scope", "class Scope is gone")]
    assert check_breaking.unnamed(text, broken) == ([] if named else ["Scope"])


def test_a_header_name_is_not_mentioned_by_a_longer_one() -> None:
    broken = [sdk_surface.Break("x-api-key", "gone")]
    assert check_breaking.unnamed("renamed x-api-key-v2", broken) == ["x-api-key"]
    assert check_breaking.unnamed("`x-api-key` is now `x-tapti-key`", broken) == []


def test_a_released_version_whose_spec_was_not_recorded_fails(repo: Path) -> None:
    # 0.2.0 was released (dated, with later changes under [Unreleased]) without
    # `make release-spec`: the check went on comparing with 0.1.0, and a break made after 0.2.0
    # passed as 0.2.0's.
    set_version(repo, "0.2.0")
    add_changelog_entry(repo, "0.2.0")
    changelog = repo / "CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace("## [Unreleased]\n", "## [Unreleased]\n\n- Later work.\n")
    )
    result = run(repo)
    assert result.returncode == 1
    assert "0.2.0 is released" in result.stderr
    assert "still says 0.1.0" in result.stderr
    assert run(repo, "--release").returncode == 0
    assert run(repo).returncode == 0, run(repo).stderr


# --- what Optic does not see, found by a probe of the check ----------------------------------


def test_a_field_renamed_on_the_wire_under_the_same_python_name_breaks() -> None:
    def camel(spec: Spec) -> None:
        request = spec["components"]["schemas"]["CreateSdkTokenRequest"]
        request["properties"]["redirectUrl"] = request["properties"].pop("redirect_url")
        request["required"].remove("redirect_url")  # optional: Optic takes it for an addition

    (broken,) = breaks(camel)
    assert broken.name == "CreateSdkTokenRequest.redirect_url"
    assert "sent and read as 'redirectUrl', not 'redirect_url'" in broken.what


@pytest.mark.parametrize("schema", ["CreateSdkTokenRequest", "CreateSdkTokenResponse"])
def test_a_model_closed_to_extra_properties_breaks(schema: str) -> None:
    def closed(spec: Spec) -> None:
        spec["components"]["schemas"][schema]["additionalProperties"] = False

    (broken,) = breaks(closed)
    assert broken.name == schema
    assert "now refuses properties it does not list (additionalProperties: false)" in broken.what


def test_a_new_success_status_breaks_and_a_removed_one_does_not() -> None:
    def also_201(spec: Spec) -> None:
        responses = operation(spec)["responses"]
        responses["201"] = copy.deepcopy(responses["200"])

    (broken,) = breaks(also_201)
    assert broken.name == "create_sdk_token"
    assert "may now answer 201, which the released SDK refuses" in broken.what
    with_201 = copy.deepcopy(load_spec())
    also_201(with_201)
    assert sdk_surface.breaking_changes(with_201, load_spec()) == []  # 201 no longer documented


def test_a_moved_server_breaks_and_the_sdks_default_follows_the_spec() -> None:
    def moved(spec: Spec) -> None:
        spec["servers"] = [{"url": "https://api.tapti.ai/v2"}]

    (broken,) = breaks(moved)
    assert broken.name == "https://api.tapti.ai/v2"
    assert sdk_surface.server_url(load_spec()) == tapti_ext.DEFAULT_BASE_URL


def test_a_server_of_a_path_or_an_operation_breaks() -> None:
    """The generator ignores them: every call still goes to the base URL (probe 31)."""
    path = OPERATION[0]

    def on_path(spec: Spec) -> None:
        spec["paths"][path]["servers"] = [{"url": "https://auth.tapti.ai/v2"}]

    def on_operation(spec: Spec) -> None:
        operation(spec)["servers"] = [{"url": "https://auth.tapti.ai/v2"}]

    for change in (on_path, on_operation):
        (broken,) = breaks(change)
        assert broken.name == "create_sdk_token"
        assert "now served at https://auth.tapti.ai/v2" in broken.what


def test_the_key_moved_to_a_new_scheme_breaks_though_the_old_one_is_kept() -> None:
    """A scheme no operation accepts, left with the old header, hid the move (probe 31)."""

    def moved(spec: Spec) -> None:
        schemes = spec["components"]["securitySchemes"]
        schemes["legacyApiKey"] = dict(schemes["apiKey"])
        schemes["apiKey"]["name"] = "x-tapti-key"

    (broken,) = breaks(moved)
    assert broken.name == "x-api-key"
    assert "is gone" in broken.what


def test_respelling_the_key_header_or_renaming_its_scheme_breaks_nothing() -> None:
    def capitalised(spec: Spec) -> None:
        (scheme,) = spec["components"]["securitySchemes"].values()
        scheme["name"] = "X-API-Key"

    def renamed(spec: Spec) -> None:
        schemes = spec["components"]["securitySchemes"]
        schemes["ApiKeyAuth"] = schemes.pop("apiKey")
        operation(spec)["security"] = [{"ApiKeyAuth": []}]

    assert breaks(capitalised) == []
    assert breaks(renamed) == []


def test_a_plain_field_made_an_enum_breaks_and_one_moved_behind_a_reference_does_not() -> None:
    """An enum on a str field: the generated to_dict then read .value of the str a released
    caller passes, a raw AttributeError, and no name was listed (probe 31)."""

    def enum(spec: Spec) -> None:
        request_field(spec, "callback_url")["enum"] = ["https://a.example/cb"]

    def referenced(spec: Spec) -> None:
        spec["components"]["schemas"]["Url"] = {"type": "string"}
        request_schema(spec)["properties"]["redirect_url"] = {"$ref": "#/components/schemas/Url"}

    (broken,) = breaks(enum)
    assert broken.name == "CreateSdkTokenRequest.callback_url"
    assert broken.what.endswith("is no longer a plain str")
    assert breaks(referenced) == []  # the generator writes str for it, as before


def test_a_request_field_made_nullable_does_not_break_and_a_nested_one_made_an_enum_does() -> None:
    """Review 31: a type list or anyOf with null was taken for a class; a field of an inline
    object, or of a titled schema, was missed."""

    def type_list(spec: Spec) -> None:
        request_field(spec, "callback_url")["type"] = ["string", "null"]

    def any_of(spec: Spec) -> None:
        nullable = {"anyOf": [{"type": "string"}, {"type": "null"}]}
        request_schema(spec)["properties"]["callback_url"] = nullable

    def with_options(spec: Spec) -> None:
        options = {"type": "object", "properties": {"mode": {"type": "string"}}}
        request_schema(spec)["properties"]["options"] = options

    def mode_an_enum(spec: Spec) -> None:
        with_options(spec)
        request_schema(spec)["properties"]["options"]["properties"]["mode"]["enum"] = ["a"]

    assert breaks(type_list) == []
    assert breaks(any_of) == []
    [broken] = judged(with_options, mode_an_enum)
    assert broken == "CreateSdkTokenRequestOptions.mode"


def test_a_2xx_range_is_every_2xx_status() -> None:
    """Review 31: '2XX' was compared as a status of its own, so 2XX -> 200 broke."""
    path, method = OPERATION

    def ranged(spec: Spec) -> None:
        responses = spec["paths"][path][method]["responses"]
        responses["2XX"] = responses.pop("200")

    assert sdk_surface.breaking_changes(_changed(ranged), load_spec()) == []
    (broken,) = breaks(ranged)
    assert "may now answer 99 statuses from 201 to 299" in broken.what


def test_servers_on_an_operation_naming_the_base_url_break_nothing() -> None:
    path = OPERATION[0]
    base = tapti_ext.DEFAULT_BASE_URL
    assert breaks(lambda spec: spec["paths"][path].update(servers=[{"url": base}])) == []


def test_a_recursive_array_schema_is_read_without_a_crash() -> None:
    def nested(spec: Spec) -> None:
        schemas = spec["components"]["schemas"]
        schemas["Nested"] = {"type": "array", "items": {"$ref": "#/components/schemas/Nested"}}
        request_schema(spec)["properties"]["nested"] = {"$ref": "#/components/schemas/Nested"}

    assert breaks(nested) == []


@pytest.mark.parametrize(("format_", "now"), [("date-time", "datetime"), ("uuid", "UUID")])
def test_a_format_that_changes_a_fields_python_type_breaks(format_: str, now: str) -> None:
    def formatted(spec: Spec) -> None:
        response_schema(spec)["properties"]["oauth_portal_url"]["format"] = format_

    (broken,) = breaks(formatted)
    assert broken.name == "CreateSdkTokenResponse.oauth_portal_url"
    assert broken.what.endswith(f"is now a {now}, not a str")
    assert (
        breaks(
            lambda spec: response_schema(spec)["properties"]["oauth_portal_url"].update(
                format="uri"
            )
        )
        == []
    )  # still a str


def test_an_answer_that_may_hold_more_types_breaks() -> None:
    # The released SDK parses a 2xx by the types it was generated for: a oneOf, a null or an
    # object where a string was is refused after the API did the work (probe 11, M6).
    pending = {"type": "object", "properties": {"job_id": {"type": "string"}}}

    def body_one_of(spec: Spec) -> None:
        response = operation(spec)["responses"]["200"]["content"]["application/json"]
        response["schema"] = {"oneOf": [response["schema"], pending]}

    def field_widened(spec: Spec) -> None:
        field = response_schema(spec)["properties"]["oauth_portal_url"]
        field["oneOf"] = [{"type": "string"}, {"type": "object"}]
        del field["type"]

    def field_nullable(spec: Spec) -> None:
        response_schema(spec)["properties"]["oauth_portal_url"]["type"] = ["string", "null"]

    (broken,) = breaks(body_one_of)
    assert broken.name == "create_sdk_token"
    assert "answer create_sdk_token 200 may now hold union" in broken.what

    def field_untyped(spec: Spec) -> None:
        del response_schema(spec)["properties"]["oauth_portal_url"]["type"]

    changes = (
        (field_widened, "object, union"),
        (field_nullable, "null"),
        (field_untyped, "any type"),
    )
    for change, added in changes:
        (broken,) = breaks(change)
        assert broken.name == "oauth_portal_url"
        assert f"200.oauth_portal_url may now hold {added}, which the released SDK" in broken.what


def test_an_answer_that_may_hold_fewer_types_breaks_nothing() -> None:
    def nullable(spec: Spec) -> None:
        response_schema(spec)["properties"]["oauth_portal_url"]["type"] = ["string", "null"]

    def union(spec: Spec) -> None:
        field = response_schema(spec)["properties"]["oauth_portal_url"]
        field["oneOf"] = [{"type": "string"}, {"type": "object"}]
        del field["type"]

    for widen in (nullable, union):  # the released spec had them; the current one narrows
        widened = copy.deepcopy(load_spec())
        widen(widened)
        assert sdk_surface.breaking_changes(widened, load_spec()) == []


def test_an_answer_rewritten_in_other_words_breaks_nothing() -> None:
    # The generator writes the same code for both (review 14, N4): no type, the same parse.
    def object_without_type(spec: Spec) -> None:
        del response_schema(spec)["type"]  # its properties say it is an object

    def string_as_an_untyped_enum(spec: Spec) -> None:
        field = response_schema(spec)["properties"]["oauth_portal_url"]
        del field["type"]
        field["enum"] = ["https://portal.example/a", "https://portal.example/b"]

    assert breaks(object_without_type) == []
    assert breaks(string_as_an_untyped_enum) == []

    def untyped_items(spec: Spec) -> None:  # the generator reads it as any type
        response_schema(spec)["properties"]["oauth_portal_url"] = {"items": {"type": "string"}}

    (broken,) = breaks(untyped_items)
    assert "200.oauth_portal_url may now hold any type" in broken.what


def test_a_union_that_gains_a_branch_of_no_type_breaks() -> None:
    def union(*branches: dict[str, Any]) -> Spec:
        spec = copy.deepcopy(load_spec())
        field = response_schema(spec)["properties"]["oauth_portal_url"]
        del field["type"]
        field["oneOf"] = list(branches)
        return spec

    typed = ({"type": "string"}, {"type": "integer"})
    (broken,) = sdk_surface.breaking_changes(union(*typed), union(*typed, {}))
    assert "200.oauth_portal_url may now hold any type, which the released SDK" in broken.what
    assert sdk_surface.breaking_changes(union(*typed), union(*typed)) == []
    # Branches of no type beside the schema's own type narrow it: still a string, or a union.
    narrowed = union({"minLength": 1}, {"maxLength": 9})
    response_schema(narrowed)["properties"]["oauth_portal_url"]["type"] = "string"
    kinds = sdk_surface.answer_kinds(narrowed)
    assert kinds["create_sdk_token 200.oauth_portal_url"] == {"string", "union"}
