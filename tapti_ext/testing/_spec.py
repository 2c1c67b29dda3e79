"""The OpenAPI document the mock serves: its routes, a validator and a response builder.

The mock reads ``_openapi.json``, the JSON copy of ``openapi/tapti.yaml`` that ``make generate``
writes beside this module (``make check-generated`` fails when it is stale), so the wheel needs
neither pyyaml nor the YAML file. Nothing here names a property of the Tapti API: a property of
any type the generator supports (string, integer, number, boolean, arrays, enums, nested objects,
``date-time``, ``date``, ``uuid``, unions, nullable values) is validated and built from its schema.

The validator covers the JSON Schema subset an OpenAPI 3.0/3.1 description of a JSON API uses:
``$ref`` (local), ``type`` (one or a list), ``nullable``, ``enum``, ``const``, ``allOf``,
``anyOf``, ``oneOf``, ``properties``/``required``/``additionalProperties``, ``items``, the
length, size and range keywords, ``pattern`` and the formats the generated models parse.
"""

from __future__ import annotations

import copy
import json
import operator
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final, TypeGuard
from urllib.parse import unquote

from .._constants import has_json_type

__all__ = [
    "Credentials",
    "FieldError",
    "Filter",
    "Operation",
    "Route",
    "Spec",
    "is_json_media_type",
    "json_schema_of",
    "load_spec",
]

Schema = Mapping[str, Any]
FieldError = dict[str, str]  # {"field": ..., "message": ...}, the mock's 422 entries

_SPEC_FILE: Final = Path(__file__).with_name("_openapi.json")
_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "query")
_JSON: Final = "application/json"
# Deep enough for any real body; stops a recursive schema from building forever.
_MAX_DEPTH: Final = 12
_TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}
_DATE_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Credentials:
    """One security alternative of an operation: each of its schemes must carry the key."""

    key_headers: tuple[str, ...]  # apiKey schemes in a header, names in lower case
    bearer: bool  # an http bearer scheme: "Authorization: Bearer <key>"
    # False when a scheme of the alternative is one the mock cannot check (a key in the query
    # or a cookie, basic auth, OAuth flows): such an alternative is never met, so a request
    # is never let through for lack of a check.
    checkable: bool = True


@dataclass(frozen=True, slots=True)
class Filter:
    """An enum query parameter named as a property of the items of a list answer."""

    name: str
    allowed: tuple[Any, ...]  # the values the parameter's enum lists
    several: bool  # the items' property is an array: an item matches on any of its values


@dataclass(frozen=True, slots=True)
class Operation:
    """One method of one path, reduced to what the mock checks and answers."""

    method: str  # upper case
    body_schema: Schema | None  # the application/json request body schema
    body_required: bool
    body_name: str  # for messages: the schema's component name when it has one
    security: tuple[Credentials, ...]  # any one alternative will do; () allows anonymous calls
    parameters: tuple[Schema, ...]  # path, query and header parameters, resolved
    status: int  # the success status the mock answers
    response_schema: Schema | None
    # Enum query parameters that name a property of the items of a list answer: the mock answers
    # only the items that match, as a filter would.
    filters: tuple[Filter, ...] = ()


_PARAMETER: Final = re.compile(r"{[^{}]+}")  # a path template's parameter
_CONTROLS: Final = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1


@dataclass(frozen=True, slots=True)
class Route:
    """A path template and the operations declared on it."""

    template: str
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]
    operations: Mapping[str, Operation]

    @property
    def allow(self) -> str:
        """The ``Allow`` header for a 405: the declared methods."""
        return ", ".join(self.operations)

    def match(self, path: str) -> dict[str, str] | None:
        """The decoded path parameters when ``path`` (without its query) is this route's.

        Not for a parameter the SDK refuses to send (``..``, a control character, blank, bytes
        that are not UTF-8): a server normalising the path would route it elsewhere, or refuse
        it, and a client written by hand should not pass against the mock alone. (The SDK's own
        check lives beside the generated client, which the mock must not need.)"""
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        params = {}
        for name, value in zip(self.parameters, found.groups(), strict=True):
            try:
                decoded = unquote(value, errors="strict")
            except UnicodeDecodeError:
                return None
            if decoded in {".", ".."} or not decoded.strip() or _CONTROLS.search(decoded):
                return None
            params[name] = decoded
        return params


class Spec:
    """An OpenAPI document: its routes, and validation and examples for its schemas."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        # A concrete path before a templated one, as OpenAPI matches them: /users/me is not
        # /users/{id} with id "me", though either pattern matches it.
        self.routes: tuple[Route, ...] = tuple(
            sorted(self._routes(), key=lambda route: -len(_PARAMETER.sub("", route.template)))
        )
        # Every header an apiKey scheme names: what the mock never records or logs in clear.
        self.secret_headers: frozenset[str] = frozenset(
            str(scheme["name"]).lower()
            for scheme in self._schemes().values()
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header"
        )

    # --- reading the document ---------------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        """``node`` with local ``$ref`` chains followed (``#/components/...``)."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            reference: str = node["$ref"]
            if reference in seen or not reference.startswith("#/"):
                raise ValueError(f"unsupported or circular $ref {reference!r}")
            seen.add(reference)
            node = self.document
            for part in reference[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def route_for(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route serving ``method path`` (the raw path, without its query) and its
        parameters: the most specific that declares the method, as the SDK files a request,
        else the most specific of any method (whose answer is a 405)."""
        fallback = None
        for route in self.routes:
            parameters = route.match(path)
            if parameters is not None:
                if method in route.operations:
                    return route, parameters
                fallback = fallback or (route, parameters)
        return fallback

    def _routes(self) -> Iterator[Route]:
        for template, raw_item in self.document.get("paths", {}).items():
            item = self.resolve(raw_item)
            operations = {
                method.upper(): self._operation(method, item[method], item)
                for method in _METHODS
                if method in item
            }
            names = re.findall(r"{([^{}]+)}", template)
            literal = _PARAMETER.split(template)
            # One non-empty raw segment per parameter: "/users/a/b/sdk-token" is not a route.
            pattern = "([^/]+)".join(re.escape(part) for part in literal)
            yield Route(template, re.compile(pattern), tuple(names), operations)

    def _operation(self, method: str, operation: Schema, item: Schema) -> Operation:
        body = self.resolve(operation.get("requestBody", {}))
        body_schema = json_schema_of(body)
        reference = body_schema.get("$ref", "") if isinstance(body_schema, Mapping) else ""
        status, response_schema = self._success(operation)
        parameters = tuple(self._parameters(operation, item))
        return Operation(
            method=method.upper(),
            body_schema=body_schema,
            body_required=bool(body.get("required", False)),
            body_name=reference.rsplit("/", 1)[-1] or "the request body schema",
            security=self._security(operation),
            parameters=parameters,
            status=status,
            response_schema=response_schema,
            filters=tuple(self._filters(parameters, response_schema)),
        )

    def _parameters(self, operation: Schema, item: Schema) -> Iterator[Schema]:
        # Operation-level parameters override path-level ones of the same name and place.
        merged: dict[tuple[str, str], Schema] = {}
        for raw in [*item.get("parameters", []), *operation.get("parameters", [])]:
            parameter = self.resolve(raw)
            merged[parameter["name"], parameter["in"]] = parameter
        return (p for p in merged.values() if p["in"] in ("path", "query", "header"))

    def _schemes(self) -> dict[str, Schema]:
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        return {name: self.resolve(scheme) for name, scheme in schemes.items()}

    def _security(self, operation: Schema) -> tuple[Credentials, ...]:
        requirements = operation.get("security", self.document.get("security", []))
        if not requirements or any(not requirement for requirement in requirements):
            return ()  # no requirement, or an empty one: anonymous calls are allowed
        schemes = self._schemes()
        return tuple(self._credentials(requirement, schemes) for requirement in requirements)

    @staticmethod
    def _credentials(requirement: Schema, schemes: Mapping[str, Schema]) -> Credentials:
        headers: list[str] = []
        bearer, checkable = False, True
        for name in requirement:
            scheme = schemes.get(name, {})
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                headers.append(str(scheme["name"]).lower())
            elif scheme.get("type") == "http" and str(scheme.get("scheme")).lower() == "bearer":
                bearer = True
            else:
                checkable = False
        return Credentials(tuple(headers), bearer, checkable)

    def _filters(self, parameters: Sequence[Schema], response: Schema | None) -> Iterator[Filter]:
        listed = self.resolve(response or {})
        items = self.resolve(listed.get("items", {})) if listed.get("type") == "array" else {}
        properties = items.get("properties", {}) if isinstance(items, Mapping) else {}
        for parameter in parameters:
            schema = self.resolve(parameter.get("schema", {}))
            if schema.get("type") == "array":
                schema = self.resolve(schema.get("items", {}))
            name = parameter["name"]
            if parameter["in"] == "query" and name in properties and "enum" in schema:
                several = self.resolve(properties[name]).get("type") == "array"
                yield Filter(name, tuple(schema["enum"]), several)

    def has_example(self, schema: Any) -> bool:
        """Whether ``schema`` gives its own value (an example, a default, a const), rather than
        one the mock builds from its type."""
        resolved = self.resolve(schema)
        return isinstance(resolved, Mapping) and _given_example(resolved) is not _NONE

    def _success(self, operation: Schema) -> tuple[int, Schema | None]:
        """The first 2xx the operation lists, else 200 (for ``2XX`` too), and its schema."""
        # "2XX" as the generator reads it: case-sensitive.
        responses = {str(code): value for code, value in operation.get("responses", {}).items()}
        codes = sorted(int(code) for code in responses if code.isdigit())
        status = next((code for code in codes if 200 <= code < 300), None)
        response = self.resolve(responses.get("2XX" if status is None else str(status), {}))
        return status or 200, json_schema_of(response)

    # --- validation -------------------------------------------------------------------------

    def validate(self, schema: Any, value: object, where: str = "") -> list[FieldError]:
        """Every way ``value`` misses ``schema``, as ``{"field", "message"}`` entries.

        ``where`` names the value: ``""`` for the body (reported as ``"body"``), then
        ``name``, ``name.child`` and ``name[0]`` below it.
        """
        errors: list[FieldError] = []
        self._check(schema, value, where, errors, 0)
        return errors

    def _check(
        self, schema: Any, value: object, where: str, errors: list[FieldError], depth: int
    ) -> None:
        schema = self.resolve(_with_siblings(schema))
        if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
            return  # `true`, `{}` or a schema nested beyond any real body: anything goes
        if value is None and schema.get("nullable") is True:
            return
        start = len(errors)
        self._check_combinators(schema, value, where, errors, depth)
        types = _types(schema)
        if types and not any(has_json_type(value, name) for name in types):
            errors.append(_error(where, "must be " + " or ".join(_TYPE_NAMES[t] for t in types)))
            return
        if len(errors) > start:
            return
        if "const" in schema and not _same(value, schema["const"]):
            errors.append(_error(where, f"must be {json.dumps(schema['const'])}"))
        elif "enum" in schema and not any(_same(value, item) for item in schema["enum"]):
            listing = ", ".join(sorted(str(item) for item in schema["enum"]))
            errors.append(_error(where, f"must be one of {listing}"))
        elif isinstance(value, str):
            _check_string(schema, value, where, errors)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            _check_number(schema, value, where, errors)
        elif isinstance(value, list):
            self._check_array(schema, value, where, errors, depth)
        elif isinstance(value, dict):
            self._check_object(schema, value, where, errors, depth)

    def _check_combinators(
        self, schema: Schema, value: object, where: str, errors: list[FieldError], depth: int
    ) -> None:
        for part in schema.get("allOf", []):
            self._check(part, value, where, errors, depth + 1)
        for keyword in ("anyOf", "oneOf"):
            if keyword not in schema:
                continue
            matches = sum(
                not self._errors_at(part, value, where, depth) for part in schema[keyword]
            )
            if matches == 0:
                errors.append(_error(where, "must match one of the schemas allowed here"))
            elif keyword == "oneOf" and matches > 1:
                errors.append(_error(where, "must match exactly one of the schemas allowed here"))
        if "not" in schema and not self._errors_at(schema["not"], value, where, depth):
            errors.append(_error(where, "must not match the schema refused here"))

    def _evaluated(self, schema: Schema, depth: int = 0) -> set[str] | None:
        """The property names ``schema`` and its ``allOf`` parts evaluate, or ``None`` where
        others may be (a branch, a pattern, a part's own additional properties): then
        ``unevaluatedProperties`` is not judged, and the body passes as it did."""
        if depth > _MAX_DEPTH or any(
            key in schema for key in ("anyOf", "oneOf", "patternProperties", "if")
        ):
            return None
        names = set(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            resolved = self.resolve(_with_siblings(part))
            if not isinstance(resolved, Mapping) or _OPENS_A_PART & resolved.keys():
                return None
            more = self._evaluated(resolved, depth + 1)
            if more is None:
                return None
            names |= more
        return names

    def _errors_at(self, schema: Any, value: object, where: str, depth: int) -> list[FieldError]:
        errors: list[FieldError] = []
        self._check(schema, value, where, errors, depth + 1)
        return errors

    def _check_array(
        self, schema: Schema, value: list[Any], where: str, errors: list[FieldError], depth: int
    ) -> None:
        _check_size(schema, len(value), ("minItems", "maxItems", "items"), where, errors)
        if schema.get("uniqueItems") is True:
            seen = [json.dumps(item, sort_keys=True) for item in value]
            if len(set(seen)) != len(seen):
                errors.append(_error(where, "must not repeat an item"))
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                self._check(items, item, f"{where}[{index}]", errors, depth + 1)
        wanted = schema.get("contains")
        if (
            wanted is not None
            and schema.get("minContains") != 0
            and all(self._errors_at(wanted, item, where, depth) for item in value)
        ):
            errors.append(_error(where, "must hold an item of the kind asked for here"))

    def _check_object(
        self,
        schema: Schema,
        value: dict[str, Any],
        where: str,
        errors: list[FieldError],
        depth: int,
    ) -> None:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = [name for name in schema.get("required", []) if name not in properties]
        for name, child in properties.items():
            if name in value:
                self._check(child, value[name], _child(where, name), errors, depth + 1)
            elif name in schema.get("required", []):
                errors.append(_error(_child(where, name), "is required"))
        errors.extend(_error(_child(where, n), "is required") for n in required if n not in value)
        limits = ("minProperties", "maxProperties", "properties")
        _check_size(schema, len(value), limits, where, errors)
        extra, known = schema.get("additionalProperties", True), set(properties)
        if schema.get("unevaluatedProperties") is False and "additionalProperties" not in schema:
            evaluated = self._evaluated(schema)
            if evaluated is not None:
                extra, known = False, evaluated
        for name in (name for name in value if name not in known):
            if extra is False:
                errors.append(_error(_child(where, name), "is not a property of this object"))
            elif isinstance(extra, Mapping):
                self._check(extra, value[name], _child(where, name), errors, depth + 1)

    # --- building values --------------------------------------------------------------------

    def example(self, schema: Any, depth: int = 0) -> object:
        """A value ``schema`` accepts: its example when it has one, else one built from it.

        Objects get their required properties and the optional ones that show an example, so
        a property the spec adds reaches the response without a mock edit.
        """
        schema = self.resolve(_with_siblings(schema))
        if not isinstance(schema, Mapping):
            return None
        given = _given_example(schema)
        if given is not _NONE:
            return copy.deepcopy(given)
        if "allOf" in schema:
            return self._merged(schema["allOf"], depth)
        options = schema.get("oneOf") or schema.get("anyOf")
        if options:
            return self.example(_first_not_null(self, options), depth + 1)
        return self._built(schema, depth)

    def _merged(self, parts: Sequence[Any], depth: int) -> object:
        merged: dict[str, Any] = {}
        for part in parts:
            value = self.example(part, depth + 1)
            if not isinstance(value, dict):
                return value
            merged.update(value)
        return merged

    def _built(self, schema: Schema, depth: int) -> object:
        kind = next((t for t in _types(schema) if t != "null"), None) or _implied_type(schema)
        if kind == "object":
            return self._built_object(schema, depth)
        if kind == "array":
            count = max(int(schema.get("minItems", 1)), 1) if depth < _MAX_DEPTH else 0
            return [self.example(schema.get("items", {}), depth + 1) for _ in range(count)]
        if kind == "string":
            return _built_string(schema)
        if kind in ("integer", "number"):
            return _built_number(schema, kind)
        return False if kind == "boolean" else None

    def _built_object(self, schema: Schema, depth: int) -> dict[str, Any]:
        if depth >= _MAX_DEPTH:
            return {}
        required = set(schema.get("required", []))
        built: dict[str, Any] = {}
        for name, child in schema.get("properties", {}).items():
            resolved = self.resolve(child)
            shown = isinstance(resolved, Mapping) and (
                "example" in resolved or bool(resolved.get("examples"))
            )
            if name in required or shown:
                built[name] = self.example(resolved, depth + 1)
        return built


@cache
def load_spec() -> Spec:
    """The spec shipped with the package, read once."""
    with _SPEC_FILE.open(encoding="utf-8") as file:
        return Spec(json.load(file))


# --- helpers -----------------------------------------------------------------------------------

# A part holding one of these may evaluate properties it does not name.
_OPENS_A_PART: Final = frozenset({"additionalProperties", "unevaluatedProperties"})
# Keywords that say something of a schema but refuse no value.
_ANNOTATIONS: Final = frozenset(
    {
        "description",
        "title",
        "summary",
        "examples",
        "example",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
        "externalDocs",
        "xml",
        "nullable",
    }
)


# Keywords that judge what the whole evaluated, the reference's target with the rest.
_OF_THE_WHOLE: Final = frozenset({"unevaluatedProperties", "unevaluatedItems"})


def _with_siblings(schema: Any) -> Any:
    """A ``$ref`` with assertions beside it (kept by OpenAPI 3.1) as ``allOf`` its target and
    them, the annotations on top (an ``example`` there is the one shown); else ``schema``."""
    if not isinstance(schema, Mapping) or "$ref" not in schema:
        return schema
    if schema.keys() - {"$ref"} <= _ANNOTATIONS:
        return schema
    on_top = _ANNOTATIONS | _OF_THE_WHOLE
    kept = {k: v for k, v in schema.items() if k in on_top}
    rules = {k: v for k, v in schema.items() if k != "$ref" and k not in on_top}
    return {**kept, "allOf": [{"$ref": schema["$ref"]}, rules]}


def is_json_media_type(media_type: str | None) -> bool:
    """``application/json``, with or without parameters (``; charset=utf-8``), in any case: in
    a request's ``Content-Type`` and in the description's content keys alike."""
    return media_type is not None and media_type.partition(";")[0].strip().lower() == _JSON


def json_schema_of(holder: Schema) -> Schema | None:
    """The schema of a request body's or a response's JSON content: its media type may carry
    parameters (``application/json; charset=utf-8``), which the generator reads as JSON too."""
    for media, content in (holder.get("content") or {}).items():
        if is_json_media_type(str(media)) and isinstance(content, Mapping):
            schema: Schema | None = content.get("schema")
            return schema
    return None


_NONE: Final = object()


def _given_example(schema: Schema) -> object:
    """The value the schema itself offers (``const``, an example, the default), or ``_NONE``."""
    for keyword in ("const", "example", "default"):
        if keyword in schema:
            return schema[keyword]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    return _NONE


def _error(where: str, message: str) -> FieldError:
    return {"field": where or "body", "message": message}


def _child(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _types(schema: Schema) -> list[str]:
    declared = schema.get("type")
    names = [declared] if isinstance(declared, str) else list(declared or [])
    if names and schema.get("nullable") is True and "null" not in names:
        names.append("null")  # OpenAPI 3.0's spelling of a nullable value
    return [name for name in names if name in _TYPE_NAMES]


def _implied_type(schema: Schema) -> str | None:
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _same(value: object, expected: object) -> bool:
    """JSON equality: ``true`` is not ``1``, though ``1`` is ``1.0``."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return type(value) is type(expected) and value == expected
    return value == expected


def _check_size(
    schema: Schema,
    size: int,
    limits: tuple[str, str, str],  # the low and high keywords, and what is counted
    where: str,
    errors: list[FieldError],
) -> None:
    low, high, unit = limits
    if _is_number(schema.get(low)) and size < schema[low]:
        errors.append(_error(where, f"must have at least {schema[low]} {unit}"))
    if _is_number(schema.get(high)) and size > schema[high]:
        errors.append(_error(where, f"must have at most {schema[high]} {unit}"))


def _check_string(schema: Schema, value: str, where: str, errors: list[FieldError]) -> None:
    _check_size(schema, len(value), ("minLength", "maxLength", "characters"), where, errors)
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and re.search(pattern, value) is None:
        errors.append(_error(where, f"must match the pattern {pattern}"))
    expected = schema.get("format")
    if expected in _FORMATS and not _FORMATS[expected](value):
        errors.append(_error(where, f"must be a valid {expected}"))


def _is_date_time(value: str) -> bool:
    if _DATE_TIME.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    if _DATE.fullmatch(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


# The formats the generated models convert (so a bad value would break the client's parsing).
_FORMATS: Final = {"date-time": _is_date_time, "date": _is_date, "uuid": _is_uuid}


_BOUNDS: Final = (
    ("minimum", operator.ge, "at least"),
    ("maximum", operator.le, "at most"),
    ("exclusiveMinimum", operator.gt, "more than"),
    ("exclusiveMaximum", operator.lt, "less than"),
)


def _check_number(schema: Schema, value: float, where: str, errors: list[FieldError]) -> None:
    for keyword, holds, words in _BOUNDS:
        bound = schema.get(keyword)
        # OpenAPI 3.0 wrote exclusiveMinimum: true beside minimum; 3.1 gives the bound itself.
        if _is_number(bound) and not holds(value, bound):
            errors.append(_error(where, f"must be {words} {bound}"))
    step = schema.get("multipleOf")
    if _is_number(step) and step > 0 and abs(value / step - round(value / step)) > 1e-9:
        errors.append(_error(where, f"must be a multiple of {step}"))


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _built_number(schema: Schema, kind: str) -> int | float:
    """The smallest value the bounds allow, or 0: a plain, valid number."""
    value: float = 0
    if _is_number(schema.get("minimum")):
        value = schema["minimum"]
    if _is_number(schema.get("exclusiveMinimum")):
        value = max(value, schema["exclusiveMinimum"] + 1)
    if _is_number(schema.get("maximum")):
        value = min(value, schema["maximum"])
    return int(value) if kind == "integer" else float(value)


def _built_string(schema: Schema) -> str:
    kind = schema.get("format")
    now = datetime.now(UTC).replace(microsecond=0)
    if kind == "date-time":
        text = (now + timedelta(minutes=15)).isoformat()  # a plausible expiry
    elif kind == "date":
        text = now.date().isoformat()
    elif kind == "uuid":
        text = str(uuid.uuid4())
    else:
        text = _PLAIN_STRINGS.get(str(kind), "string")
    minimum = schema.get("minLength")
    if isinstance(minimum, int) and len(text) < minimum:
        text = text.ljust(minimum, "x")
    return text


_PLAIN_STRINGS: Final = {"email": "user@example.com", "uri": "https://example.com"}


def _first_not_null(spec: Spec, options: Sequence[Any]) -> Any:
    for option in options:
        resolved = spec.resolve(option)
        if not (isinstance(resolved, Mapping) and _types(resolved) == ["null"]):
            return option
    return options[0]
