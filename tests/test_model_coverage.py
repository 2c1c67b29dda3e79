"""No field of the API is dropped silently: each property of each generated model is accounted for.

A property the spec adds is parsed by the generated model after ``make generate``; whether the
SDK does anything with it is a decision, and this test makes someone take it. Every property of
every model in ``tapti_api_client.models`` must be either used by the hand-written layer
(``tapti_ext/``) or listed in ``KNOWINGLY_UNUSED`` with the reason. A new field that is neither
fails here, by name.

"Used" is judged per model field, not per word: ``Connection.id`` counts as used only where
tapti_ext reads or sets ``.id`` on a value mypy knows is a ``Connection`` (or a subclass of it),
or passes ``id=`` to its constructor. Matching words anywhere in the code missed such fields,
since ``id`` or ``code`` occur everywhere. mypy (a dev dependency, run in-process with a small
plugin) supplies the types; it checks the package in a few seconds.

``tapti_ext/testing`` does not count as a use: the mock is the API's stand-in, not the code that
hands a field to a user. The generator's ``additional_properties`` bag on each model is not a
property of the spec and is not listed.
"""

from __future__ import annotations

import os
import re
import site
import sysconfig
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import attrs
import pytest
import tapti_api_client
import tapti_api_client.models as generated_models
import yaml
from mypy import build
from mypy.modulefinder import BuildSource
from mypy.nodes import TypeInfo
from mypy.options import Options
from mypy.plugin import AttributeContext, FunctionContext, Plugin
from mypy.types import Type

import tapti_ext

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(tapti_ext.__file__).resolve().parent
# The generator's bag for keys the spec does not declare: on every model, never a spec property.
GENERATOR_FIELDS = frozenset({"additional_properties"})

# {model: {property: why the hand-written layer does not touch it}}. Keep the reasons true: an
# entry that becomes used, or whose property leaves the spec, fails the test too.
KNOWINGLY_UNUSED: dict[str, dict[str, str]] = {}


@dataclass(frozen=True)
class Model:
    """A generated model as the guard sees it."""

    fullname: str  # module.Class, as mypy names the class
    name: str  # Class, as the guard reports it and KNOWINGLY_UNUSED lists it
    fields: frozenset[str]


def spec_models(models: Iterable[type]) -> list[Model]:
    """The attrs models among ``models`` (enums have no fields) with their spec properties."""
    return [
        Model(
            f"{model.__module__}.{model.__qualname__}",
            model.__name__,
            frozenset(f.name for f in attrs.fields(model) if f.name not in GENERATOR_FIELDS),
        )
        for model in models
        if attrs.has(model)
    ]


# --- which fields the package uses, by type ----------------------------------------------------


class _FieldUses(Plugin):
    """Records ``(model, field)`` for each ``value.field`` on a value of a model type, and each
    argument given to a model's constructor (or a subclass's), in the package's own files."""

    def __init__(self, options: Options, package: Path, models: Sequence[Model]) -> None:
        super().__init__(options)
        self._package = package
        self._models = {model.fullname: model for model in models}
        self.found: set[tuple[str, str]] = set()

    def _counts(self, path: str) -> bool:
        where = Path(path).resolve()
        return where.is_relative_to(self._package) and (
            "testing" not in where.relative_to(self._package).parts
        )

    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, field = fullname.rpartition(".")  # the class that defines the field
        model = self._models.get(owner)
        if model is None or field not in model.fields:
            return None

        def record(ctx: AttributeContext) -> Type:
            if self._counts(ctx.api.path):
                self.found.add((model.name, field))
            return ctx.default_attr_type

        return record

    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        symbol = self.lookup_fully_qualified(fullname)
        if symbol is None or not isinstance(symbol.node, TypeInfo):
            return None
        bases = [self._models[c.fullname] for c in symbol.node.mro if c.fullname in self._models]
        if not bases:
            return None

        def record(ctx: FunctionContext) -> Type:
            if self._counts(ctx.api.path):
                pairs = zip(ctx.callee_arg_names, ctx.args, strict=True)  # one per parameter
                given = {name for name, args in pairs if args}
                self.found.update((m.name, f) for m in bases for f in m.fields & given)
            return ctx.default_return_type

        return record


def _sources(package: Path) -> list[BuildSource]:
    sources = []
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        sources.append(BuildSource(str(path), ".".join(parts)))
    return sources


def used_fields(
    package: Path, models: Sequence[Model], search_path: Sequence[Path] = ()
) -> set[tuple[str, str]]:
    """``(model, field)`` for every field ``package`` reads, sets or constructs a model with.

    ``search_path`` is where mypy finds the models; by default the ``tapti_api_client`` that
    this interpreter imports (under a regenerated copy of the project, the copy's).
    """
    generated = Path(tapti_api_client.__file__).resolve().parent.parent
    options = Options()
    options.incremental = False
    options.cache_dir = os.devnull
    options.follow_imports = "silent"  # types from everywhere, errors from nowhere else
    # Installed packages (make matrix tests the wheel) are found in site-packages anyway, and
    # mypy refuses a site-packages folder on its search path.
    installed = {Path(p).resolve() for p in (*site.getsitepackages(), site.getusersitepackages())}
    installed.add(Path(sysconfig.get_paths()["purelib"]).resolve())
    folders = (package.parent, *(search_path or [generated]))
    options.mypy_path = [str(p) for p in folders if p.resolve() not in installed]
    plugin = _FieldUses(options, package.resolve(), models)
    result = build.build(_sources(package), options, extra_plugins=[plugin])
    unresolved = [line for line in result.errors if "import-not-found" in line]
    assert not unresolved, f"mypy could not find the models, so nothing is typed: {unresolved}"
    return plugin.found


def unaccounted(
    models: Iterable[Model],
    used: set[tuple[str, str]],
    knowingly_unused: Mapping[str, Mapping[str, str]],
) -> tuple[list[str], list[str]]:
    """The properties neither used nor listed, and the listed entries that are no longer true."""
    found = {(model.name, field) for model in models for field in model.fields}
    listed = {(m, f): why for m, fields in knowingly_unused.items() for f, why in fields.items()}
    missing = [f"{m}.{f}" for m, f in sorted(found) if (m, f) not in used and (m, f) not in listed]
    stale = [
        f"{m}.{f}"
        for (m, f), why in sorted(listed.items())
        if (m, f) not in found or (m, f) in used or not why.strip()
    ]
    return missing, stale


def all_models() -> list[type]:
    return [getattr(generated_models, name) for name in generated_models.__all__]


# --- the guard ---------------------------------------------------------------------------------


def test_every_property_of_every_generated_model_is_used_or_knowingly_unused() -> None:
    models = spec_models(all_models())
    missing, stale = unaccounted(models, used_fields(PACKAGE, models), KNOWINGLY_UNUSED)
    assert not missing, (
        f"generated model properties that tapti_ext never uses: {missing}. Use each one on its "
        "model (e.g. expose it on SdkToken), or add it to KNOWINGLY_UNUSED in this file with "
        "the reason."
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
    inspected = {(m.name, field) for m in spec_models(all_models()) for field in m.fields}
    expected = {
        (name, _python_name(prop))
        for name, schema in _spec_schemas().items()
        for prop in schema.get("properties", {})
    }
    assert expected, "the spec declares no properties: the guard would check nothing"
    assert expected <= inspected, sorted(expected - inspected)


# --- the guard guards: a synthetic package, judged by field and not by word -------------------

FAKE_MODELS = """
import attrs

@attrs.define
class Connection:
    id: str
    platform: str
    handle: str

@attrs.define
class ApiError:
    code: str
    message: str
    retryable: bool
"""

# Every field name occurs in this code as a word (a variable, a dict key, a keyword of
# something else, a docstring, another class's attribute); only some are used on their model.
FAKE_SDK = '''
"""Uses id, code and retryable in prose only."""
from fakemodels import ApiError, Connection

class _Shown(Connection):
    pass

class Other:
    def __init__(self) -> None:
        self.id = 1
        self.retryable = True

def describe(connection: Connection, error_body: dict[str, str]) -> str:
    id = error_body.get("id")  # and in a comment: connection.id
    code = error_body["code"]
    words = dict(retryable=Other().retryable, id=Other().id)
    return f"{connection.platform} {id} {code} {words}"

def shown(connection: _Shown) -> str:
    return connection.handle

def error() -> ApiError:
    return ApiError("c", message="m", retryable=False)
'''

FAKE_TESTING = """
from fakemodels import Connection

def mock(connection: Connection) -> str:
    return connection.id
"""


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Model], set[tuple[str, str]]]:
    root = tmp_path_factory.mktemp("coverage")
    (root / "fakemodels").mkdir()
    (root / "fakemodels" / "__init__.py").write_text(FAKE_MODELS, encoding="utf-8")
    (root / "fakesdk" / "testing").mkdir(parents=True)
    (root / "fakesdk" / "__init__.py").write_text(FAKE_SDK, encoding="utf-8")
    (root / "fakesdk" / "testing" / "__init__.py").write_text(FAKE_TESTING, encoding="utf-8")
    models = [
        Model("fakemodels.Connection", "Connection", frozenset({"id", "platform", "handle"})),
        Model("fakemodels.ApiError", "ApiError", frozenset({"code", "message", "retryable"})),
    ]
    return models, used_fields(root / "fakesdk", models, [root])


def test_a_field_is_used_only_on_its_own_model(
    fake: tuple[list[Model], set[tuple[str, str]]],
) -> None:
    _, used = fake
    assert used == {
        ("Connection", "platform"),  # read on a Connection
        ("Connection", "handle"),  # read on a subclass of Connection
        ("ApiError", "code"),  # given positionally to the constructor
        ("ApiError", "message"),  # given by keyword
        ("ApiError", "retryable"),
    }


def test_a_field_neither_used_nor_listed_fails_though_its_name_is_everywhere(
    fake: tuple[list[Model], set[tuple[str, str]]],
) -> None:
    models, used = fake
    assert unaccounted(models, used, {}) == (["Connection.id"], [])


def test_a_listed_field_passes(fake: tuple[list[Model], set[tuple[str, str]]]) -> None:
    models, used = fake
    listed = {"Connection": {"id": "the SDK never looks a connection up by id"}}
    assert unaccounted(models, used, listed) == ([], [])


@pytest.mark.parametrize(
    ("model", "field", "why"),
    [
        ("Connection", "platform", "used after all"),
        ("Connection", "gone_field", "the property left the spec"),
        ("GoneModel", "id", "the model left the spec"),
        ("Connection", "id", "  "),  # no reason given
    ],
)
def test_a_stale_or_empty_listing_fails(
    fake: tuple[list[Model], set[tuple[str, str]]], model: str, field: str, why: str
) -> None:
    models, used = fake
    listed: dict[str, dict[str, str]] = {"Connection": {"id": "reason"}}
    listed.setdefault(model, {})[field] = why
    missing, stale = unaccounted(models, used, listed)
    assert (missing, stale) == ([], [f"{model}.{field}"])


def test_the_generated_models_are_found_by_their_mypy_names() -> None:
    # The plugin matches mypy's full names to these; a mismatch would make every field unused.
    for model in spec_models(all_models()):
        assert model.fullname.startswith("tapti_api_client.models."), model
        assert model.fullname.rsplit(".", 1)[1] == model.name
