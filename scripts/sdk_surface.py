"""What SDK users import and call, read from an OpenAPI document, and what a new document breaks.

Optic compares HTTP contracts; it does not see that renaming an operationId renames the function
``from tapti_api_client.api.users import create_sdk_token``, that renaming a schema renames a class,
or that renaming the API-key header makes every call of the released SDK a 401. This module derives
those names from the parsed spec the way openapi-python-client 0.29.1 names them (its
``strings.py``: snake_case modules and fields, PascalCase classes, upper-case enum members; its
parser's names for colliding parameters, ``id_path`` and ``id_query``), so
``scripts/check_breaking.py`` can compare the released spec with the current one without running
the generator. tests/test_breaking.py checks the derivation against the committed generated/.

One function per aspect; each returns plain names, and ``breaking_changes`` compares two specs.
Inline ``oneOf``/``anyOf`` options are not followed (the generator's union naming is not modelled).
"""

from __future__ import annotations

import builtins
import dataclasses
import itertools
import keyword
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

__all__ = [
    "Break",
    "answer_kinds",
    "as_released_path_names",
    "breaking_changes",
    "closed_models",
    "enum_members",
    "field_types",
    "field_wire_names",
    "key_headers",
    "model_fields",
    "model_names",
    "operation_arguments",
    "operation_functions",
    "operation_security",
    "path_arguments",
    "request_bounds",
    "security_schemes",
    "server_url",
    "success_statuses",
]

Spec = Mapping[str, Any]

# openapi-python-client's naming rules (strings.py), restated so the check needs only the YAML.
_DELIMITERS = "\\. _-"
_RESERVED = (set(dir(builtins)) | {"self", "true", "false", "datetime"}) - {"id"}
_FIELD_PREFIX = "field_"  # the generator's default config.field_prefix
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PATH_PARAMETER = re.compile(r"\{([^}]*)\}")


@dataclass(frozen=True, order=True)
class Break:
    """One change that breaks code written against the released SDK."""

    name: str  # what the CHANGELOG entry of the new version must name
    what: str  # the line printed for it


def _words(value: str) -> list[str]:
    value = "".join(c for c in value if c.isidentifier() or c.isdecimal() or c in _DELIMITERS)
    if any(c.isupper() for c in value):
        value = " ".join(re.split("([A-Z]?[a-z]+)", value))
    return re.findall(f"[^{re.escape(_DELIMITERS)}]+", value)


def _fix_reserved(value: str) -> str:
    return f"{value}_" if value in _RESERVED or keyword.iskeyword(value) else value


def snake_case(value: str) -> str:
    return "_".join(_words(value)).lower()


def pascal_case(value: str) -> str:
    return "".join(word if word.isupper() else word.capitalize() for word in _words(value))


def python_name(value: str, prefix: str = _FIELD_PREFIX) -> str:
    """A module, function or field name, as the generator's ``PythonIdentifier``."""
    kept = "".join(c for c in value if c.isidentifier() or c.isdecimal() or c in _DELIMITERS)
    name = _fix_reserved(snake_case(kept))
    return f"{prefix}{name}" if not name.isidentifier() or kept.startswith("_") else name


def class_name(value: str) -> str:
    """A model or enum class name, as the generator's ``ClassName``."""
    name = _fix_reserved(pascal_case(value))
    return name if name.isidentifier() else _fix_reserved(pascal_case(f"{_FIELD_PREFIX}{name}"))


def _is_class(spec: Spec, node: Any, seen: frozenset[str] = frozenset()) -> bool:
    """Whether the generator makes ``node`` a class (an enum, a model), or a union holding one:
    a plain value a caller passes there no longer fits. ``null`` beside a plain type does."""
    reference = node.get("$ref") if isinstance(node, Mapping) else None
    if isinstance(reference, str):
        if reference in seen:
            return False
        seen |= {reference}
    node = _resolve(spec, node)
    if not isinstance(node, Mapping):
        return False
    if any(value is not None for value in node.get("enum") or []):
        return True
    if node.get("type") == "object" or "properties" in node:
        return True
    branches = [*(node.get("anyOf") or []), *(node.get("oneOf") or []), *(node.get("allOf") or [])]
    return any(_is_class(spec, branch, seen) for branch in branches)


# --- reading the document -------------------------------------------------------------------


def _resolve(spec: Spec, node: Any) -> Any:
    seen: set[str] = set()
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        reference = node["$ref"]
        if reference in seen or not reference.startswith("#/"):
            return {}
        seen.add(reference)
        node = spec
        for part in reference[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):  # a pointer through a list (bundlers write them)
                index = int(key) if re.fullmatch("[0-9]{1,9}", key) else len(node)
                node = node[index] if index < len(node) else {}
            else:
                node = node.get(key, {}) if isinstance(node, Mapping) else {}
    return node


def _operations(spec: Spec) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for path, item in (spec.get("paths") or {}).items():
        for method in _METHODS:
            operation = _resolve(spec, item).get(method)
            if isinstance(operation, Mapping):
                yield path, method, operation


def _function(path: str, method: str, operation: Mapping[str, Any]) -> str:
    if operation.get("operationId"):
        return python_name(str(operation["operationId"]))
    unsafe = path.replace("{", "").replace("}", "").replace("/", "_").strip("_")
    return python_name(f"{method}_{unsafe}")


@dataclass
class _Class:
    fields: dict[str, bool]  # python name -> required
    members: tuple[str, ...] | None = None  # an enum's member names
    wire: dict[str, str] | None = None  # python name -> the JSON name it is sent and read as
    types: dict[str, str] | None = None  # python name -> its Python type, where plain (_plain_type)
    classed: frozenset[str] = frozenset()  # python names of fields of a class type (_is_class)
    closed: bool = False  # additionalProperties: false (no additional_properties attribute)


def _enum_members(schema: Mapping[str, Any]) -> tuple[str, ...]:
    values = [value for value in schema["enum"] if value is not None]
    names = schema.get("x-enum-varnames") or []
    use_names = len(names) == len(values)
    members = []
    for index, value in enumerate(values):
        if use_names:
            key = str(names[index])
        elif isinstance(value, int):
            key = f"VALUE_{value}" if value >= 0 else f"VALUE_NEGATIVE_{-value}"
        elif isinstance(value, str) and value[:1].isalpha():
            key = value.upper()
        else:
            key = f"VALUE_{index}"
        members.append(snake_case(key).upper())
    return tuple(members)


def _object_parts(
    spec: Spec, schema: Mapping[str, Any], seen: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], set[str]]:
    """The properties and required names of an object schema, ``allOf`` parts merged in (a
    part that holds the schema again is merged once)."""
    properties = dict(schema.get("properties") or {})
    required = set(schema.get("required") or [])
    for part in schema.get("allOf") or []:
        reference = part.get("$ref") if isinstance(part, Mapping) else None
        if reference in seen:
            continue
        more, also = _object_parts(
            spec, _resolve(spec, part), seen | {reference} if isinstance(reference, str) else seen
        )
        properties.update(more)
        required |= also
    return properties, required


def _collect(spec: Spec, node: Any, name: str, parent: str, found: dict[str, _Class]) -> None:
    """The classes the generator makes of ``node`` (named ``name`` inside ``parent``)."""
    if not isinstance(node, Mapping) or "$ref" in node:
        return  # a component is collected under its own name
    title = str(node.get("title") or name)
    cls = class_name(f"{pascal_case(parent)}{pascal_case(title)}" if parent else title)
    if node.get("enum") and any(value is not None for value in node["enum"]):
        found[cls] = _Class({}, _enum_members(node))
        return
    if node.get("type") == "array":
        _collect(spec, node.get("items"), f"{name}_item", parent, found)
        return
    if node.get("type") == "object" or "properties" in node or "allOf" in node:
        properties, required = _object_parts(spec, node)
        found[cls] = _Class(
            {python_name(p): p in required for p in properties},
            wire={python_name(p): p for p in properties},
            types={python_name(p): t for p, s in properties.items() if (t := _plain_type(spec, s))},
            classed=frozenset(python_name(p) for p, s in properties.items() if _is_class(spec, s)),
            closed=node.get("additionalProperties") is False,
        )
        for prop, child in properties.items():
            _collect(spec, child, prop, cls, found)


# The generator's Python type of a string by its format (others stay str), and of the other
# plain types. Classes, enums and unions are compared by name elsewhere, or not at all.
_STRING_FORMATS = {"date-time": "datetime", "date": "date", "uuid": "UUID", "binary": "File"}
_PLAIN_TYPES = {"integer": "int", "number": "float", "boolean": "bool"}


def _plain_type(spec: Spec, node: Any, seen: frozenset[str] = frozenset()) -> str | None:
    """The Python type of a plain schema; a reference to one is that type too (the generator
    writes ``str`` for a ``$ref`` to a string schema), a class, enum or union is ``None``."""
    reference = node.get("$ref") if isinstance(node, Mapping) else None
    if isinstance(reference, str):
        if reference in seen:  # an array of itself: no plain type
            return None
        seen |= {reference}
    node = _resolve(spec, node)
    if not isinstance(node, Mapping) or node.get("enum"):
        return None
    kind = node.get("type")
    if kind == "string":
        return _STRING_FORMATS.get(str(node.get("format")), "str")
    if kind == "array":
        inner = _plain_type(spec, node.get("items"), seen)
        return f"list[{inner}]" if inner else None
    return _PLAIN_TYPES.get(str(kind))


def _classes(spec: Spec) -> dict[str, _Class]:
    found: dict[str, _Class] = {}
    for name, schema in ((spec.get("components") or {}).get("schemas") or {}).items():
        _collect(spec, schema, name, "", found)
    for path, method, operation in _operations(spec):
        function = _function(path, method, operation)
        body = _resolve(spec, operation.get("requestBody") or {})
        media = (body.get("content") or {}).get("application/json") or {}
        _collect(spec, media.get("schema"), "body", function, found)
        for code, response in (operation.get("responses") or {}).items():
            content = (_resolve(spec, response).get("content") or {}).get("application/json")
            _collect(spec, (content or {}).get("schema"), f"response_{code}", function, found)
    return found


# --- the surface, one aspect per function -----------------------------------------------------


def operation_functions(spec: Spec) -> set[str]:
    """``tag.function`` of each operation: ``from tapti_api_client.api.<tag> import <function>``."""
    return {_entry(path, method, operation) for path, method, operation in _operations(spec)}


def operation_arguments(spec: Spec) -> dict[str, bool]:
    """``tag.function.argument`` -> whether it is required, for each argument an operation
    function takes besides ``client``: its parameters, then ``body`` where the operation has a
    request body (optional unless required with one content type, as the generator makes it)."""
    arguments: dict[str, bool] = {}
    for path, method, operation in _operations(spec):
        function = _entry(path, method, operation)
        for parameter in _parameters(spec, path, operation):
            arguments[f"{function}.{parameter.python}"] = parameter.required
        body = _resolve(spec, operation.get("requestBody"))
        if body:
            single = len(body.get("content") or {}) == 1
            arguments[f"{function}.body"] = bool(body.get("required")) and single
    return arguments


def path_arguments(spec: Spec) -> dict[str, tuple[str, ...]]:
    """``tag.function`` -> its path arguments in the order it takes them, the path's, as
    positional arguments: swapping two changes what a call sends."""
    order: dict[str, tuple[str, ...]] = {}
    for path, method, operation in _operations(spec):
        names = {p.name: p.python for p in _parameters(spec, path, operation) if p.where == "path"}
        in_path = _PATH_PARAMETER.findall(path)
        order[_entry(path, method, operation)] = tuple(names.get(name, name) for name in in_path)
    return order


def _entry(path: str, method: str, operation: Mapping[str, Any]) -> str:
    tag = python_name(str((operation.get("tags") or ["default"])[0]), "tag")
    return f"{tag}.{_function(path, method, operation)}"


@dataclass
class _Parameter:
    where: str  # path, query, header or cookie
    name: str  # as the spec spells it
    python: str  # the generated argument's name
    required: bool


def _parameters(spec: Spec, path: str, operation: Mapping[str, Any]) -> list[_Parameter]:
    """The parameters the generator makes arguments of: the operation's, then those of the path
    item it does not redefine; one described by ``content`` rather than ``schema`` is left out.
    A required one with a default becomes optional."""
    shared = _resolve(spec, spec["paths"][path]).get("parameters") or []
    found: dict[tuple[str, str], _Parameter] = {}
    for raw in [*(operation.get("parameters") or []), *shared]:
        parameter = _resolve(spec, raw)
        where, name = str(parameter.get("in")), str(parameter.get("name"))
        if "schema" not in parameter or (where, name) in found:
            continue
        has_default = "default" in _resolve(spec, parameter["schema"])
        required = where == "path" or (bool(parameter.get("required")) and not has_default)
        found[where, name] = _Parameter(where, name, python_name(name), required)
    return _told_apart(list(found.values()))


def _told_apart(parameters: list[_Parameter]) -> list[_Parameter]:
    """The generator's names for parameters whose names collide: ``client`` and ``url`` (its own
    arguments) and a name shared across locations get the location appended (``id_path``,
    ``id_query``); within one location, each keeps its name as the spec spells it."""
    for parameter in parameters:
        if parameter.python in {"client", "url"}:
            parameter.python = python_name(f"{parameter.python}_{parameter.where}")
    groups: dict[str, list[_Parameter]] = {}
    for parameter in parameters:
        groups.setdefault(parameter.python, []).append(parameter)
    for group in groups.values():
        if len(group) < 2:
            continue
        across = len({parameter.where for parameter in group}) > 1
        for parameter in group:
            renamed = f"{parameter.python}_{parameter.where}" if across else parameter.name
            parameter.python = python_name(renamed) if across else renamed
    return parameters


def model_names(spec: Spec) -> set[str]:
    """The classes of ``tapti_api_client.models``: models and enums."""
    return set(_classes(spec))


def enum_members(spec: Spec) -> set[str]:
    """``Enum.MEMBER`` for each member of each enum class."""
    return {
        f"{name}.{member}" for name, cls in _classes(spec).items() for member in cls.members or ()
    }


def model_fields(spec: Spec) -> dict[str, bool]:
    """``Model.field`` -> whether the constructor requires it (a required property)."""
    return {
        f"{name}.{field}": required
        for name, cls in _classes(spec).items()
        for field, required in cls.fields.items()
    }


def field_wire_names(spec: Spec) -> dict[str, str]:
    """``Model.field`` -> the JSON name the field is sent and read under."""
    return {
        f"{name}.{field}": wire
        for name, cls in _classes(spec).items()
        for field, wire in (cls.wire or {}).items()
    }


def field_types(spec: Spec) -> dict[str, str]:
    """``Model.field`` -> its Python type, for fields of a plain type (``str``, ``datetime``,
    ``int``, ``list[str]``...): a format added to a string changes what users get."""
    return {
        f"{name}.{field}": kind
        for name, cls in _classes(spec).items()
        for field, kind in (cls.types or {}).items()
    }


def closed_models(spec: Spec) -> set[str]:
    """Models whose schema refuses properties it does not list (``additionalProperties:
    false``): the generator gives them no ``additional_properties``, and the API refuses what
    ``extra_body`` adds."""
    return {name for name, cls in _classes(spec).items() if cls.closed}


# What the generator reads a 2XX range as (its HTTPStatusPattern, case-sensitive): every 2xx.
EVERY_2XX: Final = frozenset(str(code) for code in range(200, 300))


def success_statuses(spec: Spec) -> dict[str, set[str]]:
    """``tag.function`` -> the 2xx statuses it documents: the SDK refuses any other 2xx."""
    found: dict[str, set[str]] = {}
    for path, method, operation in _operations(spec):
        codes = {str(code) for code in operation.get("responses") or {}}
        listed = {code for code in codes if code.startswith("2") and code.isdigit()}
        found[_entry(path, method, operation)] = set(EVERY_2XX) if "2XX" in codes else listed
    return found


def answer_kinds(spec: Spec) -> dict[str, frozenset[str]]:
    """``function status`` and each place under it (``.field``, ``[]`` an array's items) ->
    the JSON types a 2xx answer may hold there: ``string``, ``null`` (``nullable`` or a type
    list), and ``union`` with its branches' types where ``oneOf``/``anyOf`` stand; empty where
    any type may stand. The released SDK parses by them. Places under a union's branches and
    a map's values are not followed."""
    found: dict[str, frozenset[str]] = {}
    for path, method, operation in _operations(spec):
        function = _function(path, method, operation)
        for code, response in (operation.get("responses") or {}).items():
            if str(code).startswith("2"):
                content = _resolve(spec, response).get("content") or {}
                schema = (content.get("application/json") or {}).get("schema")
                _walk_kinds(spec, schema, f"{function} {code}", found, frozenset())
    return found


def _walk_kinds(
    spec: Spec, node: Any, where: str, found: dict[str, frozenset[str]], seen: frozenset[str]
) -> None:
    parts, seen = _schema_parts(spec, node, seen)
    if not parts or where in found:
        return
    kinds = _types(parts)
    branches = [
        _types(_schema_parts(spec, branch, seen)[0])
        for part in parts
        for branch in [*(part.get("oneOf") or []), *(part.get("anyOf") or [])]
    ]
    if branches:  # parsed another way than a plain type
        # A branch of no type takes anything, unless the schema beside it names the type.
        any_type = not kinds and not all(branches)
        kinds = set() if any_type else {"union", *kinds, *itertools.chain(*branches)}
    found[where] = frozenset(kinds)
    for part in parts:
        for name, child in (part.get("properties") or {}).items():
            _walk_kinds(spec, child, f"{where}.{name}", found, seen)
        if isinstance(part.get("items"), Mapping):
            _walk_kinds(spec, part["items"], f"{where}[]", found, seen)


def _types(parts: list[Mapping[str, Any]]) -> set[str]:
    """The JSON types the parts name (``null`` for OpenAPI 3.0's ``nullable``), or imply where
    they name none: ``properties`` an object (the generator writes the same model), an ``enum``
    its values' types (all it can hold). The generator reads ``items`` or
    ``additionalProperties`` alone as any type, so they imply nothing here."""
    kinds: set[str] = set()
    for part in parts:
        kind = part.get("type")
        kinds.update(map(str, kind) if isinstance(kind, list) else [str(kind)] if kind else [])
        if part.get("nullable") is True:
            kinds.add("null")
    if kinds - {"null"}:
        return kinds
    for part in parts:
        if "properties" in part:
            kinds.add("object")
        values = part.get("enum") or ([part["const"]] if "const" in part else [])
        kinds.update(_json_type(value) for value in values)
    return kinds


# An enum value's JSON type, bool before int (a bool is an int); YAML's dates are JSON strings.
_JSON_TYPES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


def _json_type(value: object) -> str:
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "string")


# The keywords that bound what a request may hold (Optic judges none of them). Numeric bounds
# are compared as one bound per side, exclusive or not; length and count bounds by value; the
# other rules are narrowed by any rule that was not there, save where _rules_out knows better.
_UPPER_LIMITS = ("maxLength", "maxItems", "maxProperties")
_LOWER_LIMITS = ("minLength", "minItems", "minProperties")  # 0 when absent
_EXACT_RULES = (
    "pattern",
    "format",
    "multipleOf",
    "const",
    "uniqueItems",
    # JSON Schema's other assertions (OpenAPI 3.1): any new one may refuse what passed; the
    # check does not reason about them, so each is a narrowing (probe 31).
    "not",
    "contains",
    "minContains",
    "maxContains",
    "prefixItems",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
# Read only to judge another rule: an enum of the one value a new const names was that const.
# (A request enum that loses a value is Optic's to find, and its member _gone_members'.)
_CONTEXT_RULES = ("enum",)
# Each side's inclusive keyword and its exclusive one (a flag in OpenAPI 3.0, a number in 3.1).
_NUMERIC = {"upper": ("maximum", "exclusiveMaximum"), "lower": ("minimum", "exclusiveMinimum")}
# Formats that only tell a user interface how to show a value: no server refuses by them.
_ANNOTATION_FORMATS = frozenset({"password"})
# Each format -> the formats whose every value it takes: where one of those was already there,
# it refuses nothing more.
_WIDER_FORMATS = {"int64": frozenset({"int32"}), "double": frozenset({"float"})}


@dataclass
class _Place:
    """What bounds one place in a request, and the places under it."""

    rules: dict[str, Any]  # each keyword's values (_rules)
    # The places under it: ".name" a property, "[]" an array's items, ".*" a map's values.
    children: dict[str, _Place] = dataclasses.field(default_factory=dict)
    # anyOf/oneOf branches by type (_kind), in order: judged as a set, not by position.
    branches: dict[str, list[_Place]] = dataclasses.field(default_factory=dict)
    one_of: bool = False  # some branches are oneOf's: a value must match exactly one


def request_bounds(spec: Spec) -> dict[str, _Place]:
    """``function body`` or ``function query parameter name`` -> what bounds it and the places
    under it: each keyword's values, from the node, its ``$ref``, and its ``allOf`` parts."""
    found: dict[str, _Place] = {}
    for path, method, operation in _operations(spec):
        function = _function(path, method, operation)
        body = _resolve(spec, operation.get("requestBody") or {})
        media = (body.get("content") or {}).get("application/json") or {}
        places = [(f"{function} body", media.get("schema"))]
        shared = _resolve(spec, spec["paths"][path]).get("parameters") or []
        for raw in [*(operation.get("parameters") or []), *shared]:
            parameter = _resolve(spec, raw)
            where, name = str(parameter.get("in")), str(parameter.get("name"))
            name = name.lower() if where == "header" else name
            places.append((f"{function} {where} parameter {name}", parameter.get("schema")))
        for where, schema in places:
            place = _bounds(spec, schema, frozenset())
            if place and where not in found:  # the operation's own redefines the path item's
                found[where] = place
    return found


def _bounds(spec: Spec, node: Any, seen: frozenset[str]) -> _Place | None:
    """What bounds ``node``, a schema or a list of schemas that all apply there (a property
    every ``allOf`` part declares is bounded by all of them); ``None`` where nothing is."""
    parts: list[Mapping[str, Any]] = []
    for one in node if isinstance(node, list) else [node]:
        more, seen = _schema_parts(spec, one, seen)
        parts += more
    if not parts:
        return None
    place = _Place(_rules(parts))
    children: dict[str, list[Any]] = {}
    for part in parts:
        if isinstance(part.get("items"), Mapping):
            children.setdefault("[]", []).append(part["items"])
        if isinstance(part.get("additionalProperties"), Mapping):
            children.setdefault(".*", []).append(part["additionalProperties"])
        for name, child in (part.get("properties") or {}).items():
            children.setdefault(f".{name}", []).append(child)
        for branch in [*(part.get("anyOf") or []), *(part.get("oneOf") or [])]:
            bounded = _bounds(spec, branch, seen)
            if bounded:
                place.branches.setdefault(_kind(spec, branch, seen), []).append(bounded)
        place.one_of |= bool(part.get("oneOf"))
    for suffix, schemas in children.items():
        bounded = _bounds(spec, schemas, seen)
        if bounded:
            place.children[suffix] = bounded
    return place


def _kind(spec: Spec, branch: Any, seen: frozenset[str]) -> str:
    """A branch's ``type`` (``string``, ``array-null`` for a list), else ``any``."""
    for part in _schema_parts(spec, branch, seen)[0]:
        kind = part.get("type")
        if isinstance(kind, list):
            return "-".join(sorted(map(str, kind)))
        if kind is not None:
            return str(kind)
    return "any"


def _schema_parts(
    spec: Spec, node: Any, seen: frozenset[str]
) -> tuple[list[Mapping[str, Any]], frozenset[str]]:
    """``node`` and what applies with it: the target of its ``$ref`` (beside which OpenAPI
    3.1 keeps its other keywords) and its ``allOf`` parts, each reference followed once; with
    the references followed so far (a schema that holds itself is not walked again)."""
    parts: list[Mapping[str, Any]] = []
    pending, visited = [node], set(seen)
    while pending and len(parts) < 64:
        current = pending.pop()
        if not isinstance(current, Mapping):
            continue
        reference = current.get("$ref")
        if isinstance(reference, str):
            if reference in visited:
                continue
            visited.add(reference)
            pending.append(_resolve(spec, {"$ref": reference}))
        parts.append(current)
        pending += [p for p in current.get("allOf") or [] if isinstance(p, Mapping)]
    return parts, frozenset(visited)


def _rules(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Every value each rule has in the parts; numeric bounds as ``upper`` and ``lower``
    (``_ordered``), read part by part: OpenAPI 3.0's exclusive flag qualifies only the
    ``maximum`` (``minimum``) beside it."""
    rules: dict[str, Any] = {}
    for part in parts:
        for key in (*_UPPER_LIMITS, *_LOWER_LIMITS, *_EXACT_RULES, *_CONTEXT_RULES):
            if key in part:
                rules.setdefault(key, []).append(part[key])
        for side in _NUMERIC:
            bounds = [*_bounds_openapi_30(part, side), *_bounds_openapi_31(part, side)]
            if bounds:
                rules.setdefault(side, []).extend(bounds)
    return rules


def _number(value: Any) -> Fraction | None:
    """A bound as an exact number (PyYAML reads ``1e6`` as text; ``0.1`` must stay a tenth for
    ``multipleOf``); ``None`` when it is none."""
    if isinstance(value, bool):
        return None
    try:
        return Fraction(str(value))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None


def server_url(spec: Spec) -> str | None:
    """The first ``servers`` URL: the SDK's ``DEFAULT_BASE_URL`` (a test keeps them equal)."""
    return _first_url(spec.get("servers"))


def _first_url(servers: Any) -> str | None:
    first = servers[0] if isinstance(servers, list) and servers else None
    url = first.get("url") if isinstance(first, Mapping) else None
    return str(url).rstrip("/") if url else None


def operation_servers(spec: Spec) -> dict[str, str]:
    """``tag.function`` -> the URL a path's or an operation's own ``servers`` sends it to. The
    generator ignores those: every call goes to the base URL, which the API no longer serves."""
    moved: dict[str, str] = {}
    base = server_url(spec)
    for path, method, operation in _operations(spec):
        item = _resolve(spec, (spec.get("paths") or {}).get(path) or {})
        url = _first_url(operation.get("servers")) or _first_url(item.get("servers"))
        if url and url != base:  # the base URL again moves nothing
            moved[_entry(path, method, operation)] = url
    return moved


def key_headers(spec: Spec) -> set[tuple[str, str]]:
    """``(name, in)`` of each apiKey security scheme an operation accepts: where the SDK sends
    the key (a header's name in lower case: HTTP ignores its case). A scheme no operation names
    is left out: one kept under another name with the old header hid a move (probe 31)."""
    named = {
        name
        for accepted in operation_security(spec).values()
        for names in accepted
        for name in names
    }
    schemes = _schemes(spec)
    used = [_resolve(spec, schemes[name]) for name in sorted(named & schemes.keys())]
    return {_key_place(scheme) for scheme in used if scheme.get("type") == "apiKey"}


def _key_place(scheme: Mapping[str, Any]) -> tuple[str, str]:
    name, place = str(scheme.get("name")), str(scheme.get("in"))
    return (name.lower() if place == "header" else name), place


def security_schemes(spec: Spec) -> dict[str, str]:
    """Each security scheme's name -> its kind (an apiKey's name is ``key_headers``). The
    scheme's own name never reaches the wire or the generated code: schemes are compared by kind.
    """
    described: dict[str, str] = {}
    for name, raw in _schemes(spec).items():
        scheme = _resolve(spec, raw)
        parts = [scheme.get("type"), scheme.get("scheme"), scheme.get("in")]
        described[name] = " ".join(str(part).lower() for part in parts if part)
    return described


def operation_security(spec: Spec) -> dict[str, set[frozenset[str]]]:
    """``tag.function`` -> the security alternatives it accepts (an empty one: anonymous)."""
    default = spec.get("security") or []
    accepted: dict[str, set[frozenset[str]]] = {}
    for path, method, operation in _operations(spec):
        requirements = operation.get("security", default) or [{}]
        accepted[_entry(path, method, operation)] = {frozenset(r) for r in requirements}
    return accepted


def _schemes(spec: Spec) -> Mapping[str, Any]:
    return (spec.get("components") or {}).get("securitySchemes") or {}


def as_released_path_names(released: Spec, current: Spec) -> tuple[Spec, dict[str, str]]:
    """``current`` with each path parameter named as in ``released`` where a path differs only
    in those names, and the renames made (``{current: released}``).

    A path parameter's name never reaches the wire, only the SDK's argument name
    (``operation_arguments`` reports that), and Optic cannot judge such a rename: it prints no
    checks at all. Given this copy, it judges the rest of the HTTP contract.
    """
    shapes = {_PATH_PARAMETER.sub("{}", path): path for path in released.get("paths") or {}}
    current_paths = current.get("paths") or {}
    renames: dict[str, str] = {}
    paths: dict[str, Any] = {}
    for path, item in current_paths.items():
        old_path = shapes.get(_PATH_PARAMETER.sub("{}", path), path)
        if old_path != path and (old_path in current_paths or old_path in paths):
            old_path = path  # that name is another path's: renaming would merge the two
        pairs = zip(_PATH_PARAMETER.findall(path), _PATH_PARAMETER.findall(old_path), strict=True)
        names = {new: old for new, old in pairs if new != old}
        paths[old_path] = _renamed_parameters(current, item, names) if names else item
        renames.update(names)
    return {**current, "paths": paths}, renames


def _renamed_parameters(
    spec: Spec, item: Mapping[str, Any], names: Mapping[str, str]
) -> dict[str, Any]:
    def renamed(holder: Mapping[str, Any]) -> dict[str, Any]:
        parameters = holder.get("parameters")
        if not isinstance(parameters, list):
            return dict(holder)
        return {**holder, "parameters": [_renamed(spec, p, names) for p in parameters]}

    copied = renamed(item)
    for method in _METHODS:
        if isinstance(item.get(method), Mapping):
            copied[method] = renamed(item[method])
    return copied


def _renamed(spec: Spec, parameter: Any, names: Mapping[str, str]) -> Any:
    """The parameter under its released name; one given by ``$ref`` is written out."""
    resolved = _resolve(spec, parameter)
    if isinstance(resolved, Mapping) and resolved.get("in") == "path":
        name = str(resolved.get("name"))
        if name in names:
            return {**resolved, "name": names[name]}
    return parameter


# --- comparing two documents ------------------------------------------------------------------


def breaking_changes(released: Spec, current: Spec) -> list[Break]:
    """Every change from ``released`` to ``current`` that breaks code using the released SDK."""
    found = [
        *_gone_operations(released, current),
        *_argument_breaks(released, current),
        *_gone_names(model_names(released), model_names(current), "class", "models"),
        *_gone_members(released, current),
        *_field_breaks(released, current),
        *_wire_breaks(released, current),
        *_type_breaks(released, current),
        *_closed_breaks(released, current),
        *_bound_breaks(released, current),
        *_status_breaks(released, current),
        *_widened_answers(released, current),
        *_server_breaks(released, current),
        *_operation_server_breaks(released, current),
        *_key_breaks(released, current),
        *_scheme_breaks(released, current),
        *_security_breaks(released, current),
    ]
    return sorted(set(found))


def _gone_operations(released: Spec, current: Spec) -> Iterator[Break]:
    for gone in sorted(operation_functions(released) - operation_functions(current)):
        tag, function = gone.split(".")
        yield Break(
            function,
            f"operation function tapti_api_client.api.{tag}.{function} is gone "
            "(operationId or first tag renamed, or the operation removed)",
        )


def _argument_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    old, new = operation_arguments(released), operation_arguments(current)
    kept = operation_functions(released) & operation_functions(current)
    for entry in sorted(old.keys() | new.keys()):
        function, argument = entry.rsplit(".", 1)
        if function not in kept:
            continue  # a gone operation is reported as one
        name = function.split(".")[1]
        if entry not in new:
            what = "is gone (the parameter renamed or removed)"
            yield Break(argument, f"argument {argument} of operation {name} {what}")
        elif new[entry] and not old.get(entry, False):
            yield Break(argument, f"argument {argument} of operation {name} is newly required")
    old_order, new_order = path_arguments(released), path_arguments(current)
    for function in sorted(kept):
        before, after = old_order[function], new_order[function]
        if before != after and set(before) == set(after):
            name = function.split(".")[1]
            order = f"({', '.join(before)}) to ({', '.join(after)})"
            yield Break(
                name, f"operation {name} takes its path arguments in another order: {order}"
            )


def _gone_names(old: set[str], new: set[str], kind: str, where: str) -> Iterator[Break]:
    for gone in sorted(old - new):
        yield Break(gone, f"{kind} tapti_api_client.{where}.{gone} is gone")


def _gone_members(released: Spec, current: Spec) -> Iterator[Break]:
    kept = model_names(released) & model_names(current)  # a gone enum is reported as a class
    old = {member for member in enum_members(released) if member.split(".")[0] in kept}
    yield from _gone_names(old, enum_members(current), "enum member", "models")


def _field_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    old, new = model_fields(released), model_fields(current)
    kept_models = model_names(released) & model_names(current)
    for field in sorted(old.keys() | new.keys()):
        if field.split(".")[0] not in kept_models:
            continue  # a class that is gone or new is reported (or not) as a class
        if field not in new:
            yield Break(field, f"field {field} is gone: no longer a constructor argument")
        elif new[field] and not old.get(field, False):
            yield Break(field, f"field {field} is a new required constructor argument")


def _wire_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    return _changed_fields(
        field_wire_names(released),
        field_wire_names(current),
        "field {field} is sent and read as {new!r}, not {old!r}: the released SDK still uses "
        "{old!r}",
    )


def _type_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    old, new = field_types(released), field_types(current)
    yield from _changed_fields(old, new, "field {field} is now a {new}, not a {old}")
    # A request field still there whose plain type became a class: an enum (the str a caller
    # passes raised a raw AttributeError in the generated to_dict, probe 31), a model, a union
    # holding one. An answer's field may narrow so: the released SDK still reads it.
    classes = _classes(current)
    for name in sorted(request_models(current) & classes.keys()):
        for field in (f"{name}.{python}" for python in sorted(classes[name].classed)):
            if field in old and field not in new:
                yield Break(field, f"field {field} is no longer a plain {old[field]}")


def request_models(spec: Spec) -> set[str]:
    """The classes a request body is built of, named as ``_collect`` names them: the body's
    own and those of every component schema it reaches."""
    found: dict[str, _Class] = {}
    schemas = (spec.get("components") or {}).get("schemas") or {}
    for path, method, operation in _operations(spec):
        body = _resolve(spec, operation.get("requestBody") or {})
        schema = ((body.get("content") or {}).get("application/json") or {}).get("schema")
        _collect(spec, schema, "body", _function(path, method, operation), found)
        for name in sorted(_components_reached(spec, schema, set())):
            _collect(spec, schemas.get(name), name, "", found)
    return set(found)


def _components_reached(spec: Spec, node: Any, seen: set[str]) -> set[str]:
    """The names of the component schemas ``node`` reaches, however deep."""
    if isinstance(node, list):
        return set().union(*(_components_reached(spec, item, seen) for item in node))
    if not isinstance(node, Mapping):
        return set()
    found: set[str] = set()
    reference = node.get("$ref")
    if isinstance(reference, str) and reference not in seen:
        seen.add(reference)
        if reference.startswith("#/components/schemas/"):
            found.add(reference.rsplit("/", 1)[1])
        found |= _components_reached(spec, _resolve(spec, node), seen)
    for key in ("items", "additionalProperties", "allOf", "anyOf", "oneOf"):
        found |= _components_reached(spec, node.get(key), seen)
    return found | _components_reached(spec, list((node.get("properties") or {}).values()), seen)


def _changed_fields(old: dict[str, str], new: dict[str, str], says: str) -> Iterator[Break]:
    """A break for each field both sides have whose value changed, worded by ``says``."""
    for field in sorted(old.keys() & new.keys()):
        if old[field] != new[field]:
            yield Break(field, says.format(field=field, old=old[field], new=new[field]))


def _closed_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    newly = (closed_models(current) - closed_models(released)) & model_names(released)
    for name in sorted(newly):
        yield Break(
            name,
            f"class {name} now refuses properties it does not list (additionalProperties: "
            "false): it loses additional_properties, and what extra_body adds is refused",
        )


def _bound_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    old, new = request_bounds(released), request_bounds(current)
    for root in sorted(old.keys() & new.keys()):
        for where, narrowed in _narrowings(old[root], new[root], root):
            name = re.split(r"[ .]", re.sub(r"\[\]|\.\*|\|[\w#-]+", "", where))[-1]
            yield Break(
                name,
                f"request {where} accepts less ({', '.join(narrowed)}): requests the released "
                "SDK sends may be refused",
            )


def _narrowings(old: _Place, new: _Place, where: str) -> Iterator[tuple[str, list[str]]]:
    """Each place at or under ``where`` (``[]`` an array's items, ``.*`` a map's values,
    ``|string`` an ``anyOf``/``oneOf`` branch by its type, ``|string#2`` the second of that
    type) where ``new`` lets through less than ``old``, with how."""
    narrowed = _narrowed(old.rules, new.rules)
    if narrowed:
        yield where, narrowed
    for suffix in sorted(old.children.keys() & new.children.keys()):
        yield from _narrowings(old.children[suffix], new.children[suffix], f"{where}{suffix}")
    for kind in sorted(old.branches.keys() & new.branches.keys()):
        yield from _branch_narrowings(old, new, kind, f"{where}|{kind}")


def _branch_narrowings(
    old: _Place, new: _Place, kind: str, where: str
) -> Iterator[tuple[str, list[str]]]:
    """How the branches of one type let through less. A union takes what any branch takes, so
    it takes no less while each old branch is no narrower than some new one, wherever it
    stands. In a oneOf a value must match exactly one branch: a branch made wider, or one added,
    can overlap another and refuse what it took, so where two branches share a type there,
    only reordering them is sure to refuse nothing."""
    before, after = old.branches[kind], new.branches[kind]
    if new.one_of and max(len(before), len(after)) > 1:
        if not (old.one_of and _same_branches(before, after)):
            yield where, [f"oneOf {kind} branches changed: a value may now match two, or none"]
        return
    for index, branch in enumerate(before, 1):
        place = where if index == 1 else f"{where}#{index}"
        found = [list(_narrowings(branch, other, place)) for other in after]
        if all(found):  # no new branch takes all this one took: say how the closest falls short
            yield from min(found, key=len)


def _same_branches(before: list[_Place], after: list[_Place]) -> bool:
    """Whether ``after`` is ``before`` reordered: each branch neither narrower nor wider than
    the one it is paired with."""
    unpaired = list(after)
    for branch in before:
        index = next((i for i, other in enumerate(unpaired) if _equal(branch, other)), None)
        if index is None:
            return False
        del unpaired[index]
    return not unpaired


def _equal(one: _Place, other: _Place) -> bool:
    return not any(_narrowings(one, other, "")) and not any(_narrowings(other, one, ""))


def _narrowed(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Each way ``new`` lets through less than ``old`` did, as ``key old -> new``."""
    said = []
    for key in _UPPER_LIMITS + _LOWER_LIMITS:
        upper = key in _UPPER_LIMITS
        before, after = (_limit(rules.get(key), upper=upper) for rules in (old, new))
        if after is not None and (before is None or (after < before if upper else after > before)):
            said.append(f"{key} {_shown(before)} -> {_shown(after)}")
    for side in _NUMERIC:
        was, now = _numeric_bound(old, side), _numeric_bound(new, side)
        if now is not None and (was is None or (now < was if side == "upper" else now > was)):
            said.append(f"{side} bound {_shown_bound(was, side)} -> {_shown_bound(now, side)}")
    for key in _EXACT_RULES:
        added = [
            v for v in new.get(key, []) if v not in old.get(key, []) and _rules_out(key, v, old)
        ]
        said += [f"{key} {_shown(old.get(key))} -> {value!r}" for value in added]
    return said


def _limit(values: list[Any] | None, *, upper: bool) -> Fraction | None:
    numbers = _numbers(values)
    if not upper:
        numbers = [n for n in numbers if n > 0]  # a lower limit of 0 is none
    return (min(numbers) if upper else max(numbers)) if numbers else None


def _numeric_bound(rules: Mapping[str, Any], side: str) -> tuple[Fraction, int] | None:
    """The tightest bound on one side (``upper`` or ``lower``) of those ``_rules`` read."""
    bounds: list[tuple[Fraction, int]] = rules.get(side) or []
    if not bounds:
        return None
    return min(bounds) if side == "upper" else max(bounds)


def _bounds_openapi_30(part: Mapping[str, Any], side: str) -> list[tuple[Fraction, int]]:
    """One schema's ``maximum`` (``minimum``), exclusive where OpenAPI 3.0's
    ``exclusiveMaximum: true`` beside it says so: in 3.0 that keyword is a flag on the
    inclusive one, and bounds nothing alone. 3.1 writes ``maximum`` the same way, unflagged."""
    inclusive, exclusive = _NUMERIC[side]
    value = _number(part.get(inclusive))
    return [] if value is None else [_ordered(value, side, strict=part.get(exclusive) is True)]


def _bounds_openapi_31(part: Mapping[str, Any], side: str) -> list[tuple[Fraction, int]]:
    """One schema's OpenAPI 3.1 ``exclusiveMaximum: 100`` (``exclusiveMinimum``): a bound of
    its own, always exclusive (3.0's flags are no numbers, so they are not read here)."""
    value = _number(part.get(_NUMERIC[side][1]))
    return [] if value is None else [_ordered(value, side, strict=True)]


def _ordered(value: Fraction, side: str, *, strict: bool) -> tuple[Fraction, int]:
    """A bound as (value, order), comparable as a tuple: at one value an exclusive bound lets
    through less, so it sorts below an inclusive upper bound and above an inclusive lower one."""
    if side == "upper":
        return value, 0 if strict else 1
    return value, 1 if strict else 0


def _numbers(values: list[Any] | None) -> list[Fraction]:
    """The values that are numbers (``_number``), the others (flags, text) left out."""
    return [number for number in map(_number, values or []) if number is not None]


def _rules_out(key: str, value: Any, old: Mapping[str, Any]) -> bool:
    """Whether a rule ``old`` did not have refuses something it let through."""
    if key == "uniqueItems":
        return value is True
    if key in ("unevaluatedItems", "unevaluatedProperties"):
        return value not in (True, {})  # these two let everything through
    if key == "format":
        value = str(value)  # a format is text; str() keeps an odd one from crashing the check
        narrower = _WIDER_FORMATS.get(value, frozenset())
        return value not in _ANNOTATION_FORMATS and not any(
            str(before) in narrower for before in old.get(key, [])
        )
    if key == "const":  # an old enum of this one value let through nothing else
        return not any(
            isinstance(enum, list) and enum and all(_same_value(v, value) for v in enum)
            for enum in old.get("enum", [])
        )
    if key == "multipleOf":  # what old let through divides by all its divisors, so by their lcm
        divisor, common = _number(value), _common_multiple(_numbers(old.get(key)))
        return not divisor or common is None or common % divisor != 0
    return True


def _common_multiple(divisors: list[Fraction]) -> Fraction | None:
    """The least common multiple of the positive divisors (of fractions: the lcm of the
    numerators over the gcd of the denominators); ``None`` when there is none."""
    positive = [divisor for divisor in divisors if divisor > 0]
    if not positive:
        return None
    numerator = math.lcm(*(divisor.numerator for divisor in positive))
    return Fraction(numerator, math.gcd(*(divisor.denominator for divisor in positive)))


def _same_value(one: Any, other: Any) -> bool:
    """Whether two JSON values are one: Python's ``True == 1`` is not JSON's."""
    return bool(one == other) and isinstance(one, bool) == isinstance(other, bool)


def _shown_bound(bound: tuple[Fraction, int] | None, side: str) -> str:
    """``<= 100``, ``< 100``...: an exclusive bound and an inclusive one at one value differ."""
    if bound is None:
        return "none"
    value, order = bound
    strict = order == (0 if side == "upper" else 1)  # as _ordered places it
    return f"{'<' if side == 'upper' else '>'}{'' if strict else '='} {_shown(value)}"


def _shown(value: Any) -> str:
    if value is None or value == []:
        return "none"
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"
    if isinstance(value, list):
        return ", ".join(map(repr, value))
    return repr(value)


def _widened_answers(released: Spec, current: Spec) -> Iterator[Break]:
    """A 2xx answer that may now hold a type it could not (a oneOf, a null, an object where a
    string was): the released SDK refuses it after the API did the work. A place with no type
    took anything already; one that is new is a new field, which the SDK keeps."""
    old, new = answer_kinds(released), answer_kinds(current)
    for where in sorted(old.keys() & new.keys()):
        if not old[where]:
            continue  # any type could stand there already
        added = new[where] - old[where] if new[where] else frozenset({"any type"})
        if added:
            name = where.rpartition(".")[2] if "." in where else where.split()[0]
            yield Break(
                name.removesuffix("[]"),
                f"answer {where} may now hold {', '.join(sorted(added))}, which the released "
                f"SDK refuses (it takes {', '.join(sorted(old[where]))})",
            )


def _status_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    old, new = success_statuses(released), success_statuses(current)
    for operation in sorted(old.keys() & new.keys()):
        added = sorted(new[operation] - old[operation])
        if added:
            function = operation.split(".")[1]
            yield Break(
                function,
                f"operation {function} may now answer {_shown_statuses(added)}, which the "
                f"released SDK refuses as undocumented (it takes "
                f"{_shown_statuses(sorted(old[operation]))})",
            )


def _shown_statuses(codes: list[str]) -> str:
    if set(codes) == EVERY_2XX:
        return "any 2xx (2XX)"
    if len(codes) > 5:  # what a 2XX added to one status
        return f"{len(codes)} statuses from {codes[0]} to {codes[-1]}"
    return ", ".join(codes) or "none"


def _server_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    old, new = server_url(released), server_url(current)
    if old and new and old != new:
        yield Break(
            new,
            f"the API's address moved from {old} to {new}: the released SDK's default base_url "
            f"is {old}",
        )


def _operation_server_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    old, new = operation_servers(released), operation_servers(current)
    for operation in sorted(new.keys() - old.keys()):
        function = operation.split(".")[1]
        yield Break(
            function,
            f"operation {function} is now served at {new[operation]}: the SDK sends every "
            "operation to its base_url",
        )


def _key_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    for name, place in sorted(key_headers(released) - key_headers(current)):
        yield Break(
            name,
            f"API key {place} {name!r} is gone: the released SDK sends the key there and gets 401",
        )


def _scheme_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    old, new = security_schemes(released), security_schemes(current)
    for name in sorted(old):
        if name in new and new[name] != old[name]:
            yield Break(name, f"security scheme {name!r} changed from {old[name]} to {new[name]}")
        elif name not in new and old[name] not in new.values():  # not merely renamed
            yield Break(name, f"security scheme {name!r} ({old[name]}) is gone")


def _security_breaks(released: Spec, current: Spec) -> Iterator[Break]:
    old, new = operation_security(released), operation_security(current)
    old_kinds, new_kinds = security_schemes(released), security_schemes(current)

    def label(name: str, kinds: Mapping[str, str], other: Mapping[str, str]) -> str:
        # A scheme only one side names was renamed, or added or removed: known by its kind.
        return name if name in other else f"({kinds.get(name, name)})"

    for operation in sorted(old.keys() & new.keys()):
        if frozenset() in new[operation]:
            continue  # anonymous calls are accepted: every credential still works
        accepted = {
            frozenset(label(name, new_kinds, old_kinds) for name in alternative)
            for alternative in new[operation]
        }
        for alternative in sorted(old[operation], key=sorted):
            if frozenset(label(name, old_kinds, new_kinds) for name in alternative) in accepted:
                continue
            names = " + ".join(sorted(alternative)) or "no credentials"
            function = operation.split(".")[1]
            yield Break(function, f"operation {function} no longer accepts {names}")
