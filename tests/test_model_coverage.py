"""No field of the API is dropped silently: each property of each generated model is accounted for.

A property the spec adds is parsed by the generated model after ``make generate``; whether the
SDK does anything with it is a decision, and this test makes someone take it. Every property of
every model in ``tapti_api_client.models`` must be either used by the hand-written layer
(``tapti_ext/``: named in its code, not only in a comment or docstring) or listed in
``KNOWINGLY_UNUSED`` with the reason. A new field that is neither fails here, by name.

``tapti_ext/testing`` does not count as a use: the mock is the API's stand-in, not the code that
hands a field to a user. The generator's ``additional_properties`` bag on each model is not a
property of the spec and is not listed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import tapti_api_client.models as generated_models
import yaml

import tapti_ext

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(tapti_ext.__file__).resolve().parent
# The generator's bag for keys the spec does not declare: on every model, never a spec property.
GENERATOR_FIELDS = frozenset({"additional_properties"})

# (model, property) -> why the hand-written layer does not touch it. Keep the reasons true:
# an entry that becomes used, or whose property leaves the spec, fails the test too.
KNOWINGLY_UNUSED: dict[tuple[str, str], str] = {}


def used_names(package: Path) -> set[str]:
    """Every identifier, attribute, keyword and exact string constant in ``package``'s code.

    Comments are not in the AST and docstrings (bare string statements) are skipped, so a
    field mentioned only in prose does not count as used.
    """
    names: set[str] = set()
    for source in sorted(package.rglob("*.py")):
        if "testing" in source.relative_to(package).parts:
            continue
        names.update(_names_in(ast.parse(source.read_text(encoding="utf-8"))))
    return names


def _names_in(tree: ast.AST) -> Iterator[str]:
    prose = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if id(node) in prose:
            continue
        if isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.keyword) and node.arg is not None:
            yield node.arg
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # e.g. a JSON key
            yield node.value


def model_properties(models: Iterable[type]) -> Iterator[tuple[str, str]]:
    """``(model, property)`` for each attrs field of each model (enums have none)."""
    for model in models:
        if attrs.has(model):
            for field in attrs.fields(model):
                if field.name not in GENERATOR_FIELDS:
                    yield model.__name__, field.name


def unaccounted(
    models: Iterable[type], used: set[str], knowingly_unused: Mapping[tuple[str, str], str]
) -> tuple[list[str], list[str]]:
    """The properties neither used nor listed, and the listed entries that are no longer true."""
    found = list(model_properties(models))
    missing = [f"{m}.{p}" for m, p in found if p not in used and (m, p) not in knowingly_unused]
    stale = [
        f"{m}.{p}"
        for m, p in knowingly_unused
        if (m, p) not in found or p in used or not knowingly_unused[m, p].strip()
    ]
    return missing, stale


def all_models() -> list[type]:
    return [getattr(generated_models, name) for name in generated_models.__all__]


# --- the guard ---------------------------------------------------------------------------------


def test_every_property_of_every_generated_model_is_used_or_knowingly_unused() -> None:
    missing, stale = unaccounted(all_models(), used_names(PACKAGE), KNOWINGLY_UNUSED)
    assert not missing, (
        f"generated model properties that tapti_ext never uses: {missing}. Use each one "
        "(e.g. expose it on SdkToken), or add it to KNOWINGLY_UNUSED in this file with the reason."
    )
    assert not stale, f"KNOWINGLY_UNUSED entries that are used, gone or without a reason: {stale}"


def _python_name(json_name: str) -> str:
    # The generator's snake_case for a property name (camelCase and dashes to underscores).
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", json_name)
    return re.sub(r"\W", "_", spaced).lower()


def _spec_schemas() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "openapi" / "tapti.yaml").read_text(encoding="utf-8"))
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def test_the_models_inspected_hold_every_property_of_the_spec() -> None:
    # The guard sees what the generator made of the spec; check it sees all of it (and that a
    # stale generated/ is not hiding a property: make check-generated says so too).
    inspected = set(model_properties(all_models()))
    expected = {
        (name, _python_name(prop))
        for name, schema in _spec_schemas().items()
        for prop in schema.get("properties", {})
    }
    assert expected, "the spec declares no properties: the guard would check nothing"
    assert expected <= inspected, sorted(expected - inspected)


def test_used_names_ignore_comments_and_docstrings(tmp_path: Path) -> None:
    (tmp_path / "module.py").write_text(
        '"""Mentions expires_at in prose."""\n'
        "# and expires_at in a comment\n"
        "def f(token):\n"
        '    """expires_at"""\n'
        "    return token.response.portal_link, dict(scope_list=1), {'limits': 2}\n",
        encoding="utf-8",
    )
    (tmp_path / "testing").mkdir()
    (tmp_path / "testing" / "mock.py").write_text("x = body.get('ignored_in_mock')\n")
    names = used_names(tmp_path)
    assert {"portal_link", "scope_list", "limits"} <= names
    assert "expires_at" not in names
    assert "ignored_in_mock" not in names


# --- the guard guards: a self-test on fake models ------------------------------------------------


@attrs.define
class FakeResponse:
    portal_link: str
    expires_at: str
    additional_properties: dict[str, Any] = attrs.field(init=False, factory=dict)


@attrs.define
class FakeRequest:
    callback_url: str


FAKE_MODELS = [FakeResponse, FakeRequest]
USED = {"portal_link", "callback_url"}


def test_a_new_field_neither_used_nor_listed_fails() -> None:
    missing, stale = unaccounted(FAKE_MODELS, USED, {})
    assert missing == ["FakeResponse.expires_at"]
    assert stale == []


def test_a_listed_field_passes() -> None:
    listed = {("FakeResponse", "expires_at"): "reaches users as token.response.expires_at"}
    assert unaccounted(FAKE_MODELS, USED, listed) == ([], [])


def test_a_used_field_passes() -> None:
    assert unaccounted(FAKE_MODELS, {*USED, "expires_at"}, {}) == ([], [])


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (("FakeResponse", "portal_link"), "used after all"),
        (("FakeResponse", "gone_field"), "the property left the spec"),
        (("FakeRequest", "callback_url"), "used after all"),
    ],
)
def test_a_stale_listing_fails(entry: tuple[str, str], why: str) -> None:
    listed = {("FakeResponse", "expires_at"): "reason", entry: why}
    assert unaccounted(FAKE_MODELS, USED, listed) == ([], [f"{entry[0]}.{entry[1]}"])


def test_a_listing_without_a_reason_fails() -> None:
    listed = {("FakeResponse", "expires_at"): "  "}
    assert unaccounted(FAKE_MODELS, USED, listed) == ([], ["FakeResponse.expires_at"])
