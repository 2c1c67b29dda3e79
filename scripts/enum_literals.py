"""Write what tapti_ext takes from the spec as Python names (``tapti_ext/_names.py``).

``platforms=["youtub"]`` should fail a type checker, not only the call. A ``Literal`` cannot be
computed from an enum at type-checking time, so the names are written out, from the spec, by
``make generate`` (through ``scripts/generate.py``), and ``make check-generated`` fails when they
drift: a platform added to the spec reaches the types without a hand edit.

The header that carries the API key is written the same way, from the spec's apiKey security
scheme: renaming it in the spec renames what the SDK sends, with no hand edit (and
``make check-breaking`` makes the rename a new version with a CHANGELOG entry).

So is each operation's method, path template and documented 2xx statuses: a plain literal the
SDK reads at import, where parsing the shipped JSON spec cost every process's first call 0.3 ms.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from sdk_surface import EVERY_2XX, class_name, key_headers  # a sibling script: one reading

HEADER = '''"""Names from openapi/tapti.yaml: platform and scope names as ``Literal`` types (a
misspelt name fails type checking), the header that carries the API key, and the operations.

Written by ``make generate`` from the spec's string enums, security schemes and paths; do not edit.
Each enum name is listed in lower and upper case; at run time any case is accepted.
"""

from typing import Final, Literal, TypeAlias

__all__ = [{names}]

# The apiKey security scheme's header, where every request carries the API key.
API_KEY_HEADER: Final = "{header}"

# Each operation: method, path template, the 2xx statuses it documents. A 2xx it does not document
# is no success (its body is not the operation's model); the template is what a trace shows of a
# path whose parameters name a user.
OPERATIONS: Final[tuple[tuple[str, str, tuple[int, ...]], ...]] = (
{operations})
'''


class SpecError(Exception):
    """The spec lacks what the SDK needs from it."""


def _string_enum(schema: Mapping[str, Any]) -> bool:
    """An enum of strings, however typed: ``string``, OpenAPI 3.1's ``[string]`` or
    ``[string, "null"]``, or no type at all."""
    kinds = schema.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    values = [value for value in schema.get("enum") or [] if value is not None]
    return (
        bool(values)
        and kinds <= {"string", "null", None}
        and all(isinstance(value, str) for value in values)
    )


def literal_module(spec: dict[str, Any]) -> str:
    """The module text: the key header, and one ``<Schema>Name`` alias per string enum among the
    component schemas."""
    schemas = spec.get("components", {}).get("schemas", {})
    # Named as the generator names the enum's class (its title, else its key): tapti_ext imports
    # PlatformName beside Platform, however the spec spells the schema.
    enums = {
        class_name(str(schema.get("title") or name)): [
            str(v) for v in schema["enum"] if v is not None
        ]
        for name, schema in sorted(schemas.items())
        if _string_enum(schema)
    }
    exported = ["API_KEY_HEADER", "OPERATIONS", *(f"{n}Name" for n in enums)]
    names = ", ".join(f'"{name}"' for name in exported)
    operations = "".join(
        f"    ({json.dumps(method)}, {json.dumps(template)}, {_statuses(success)}),\n"
        for method, template, success in documented_operations(spec)
    )
    parts = [HEADER.format(names=names, header=api_key_header(spec), operations=operations)]
    for name, values in enums.items():
        spellings = dict.fromkeys([*(v.lower() for v in values), *(v.upper() for v in values)])
        members = "".join(f'    "{spelling}",\n' for spelling in spellings)
        parts.append(f"\n{name}Name: TypeAlias = Literal[\n{members}]\n")
        parts.append(f'"""A {name} named in lower or upper case (any case at run time)."""\n')
    return "".join(parts)


def documented_operations(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, list[int]]]:
    """Each operation in the spec's order: method, path template, the 2xx statuses it lists.
    ``2XX`` lists them all, as the generated parser reads it (``default`` lists none)."""
    for template, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, Mapping) and "responses" in operation:
                codes = [str(code) for code in operation["responses"]]
                if "2XX" in codes:  # as the generator reads it: case-sensitive
                    yield method.upper(), template, sorted(map(int, EVERY_2XX))
                    continue
                success = sorted({int(c) for c in codes if c.isdigit() and c.startswith("2")})
                yield method.upper(), template, success


def _statuses(success: list[int]) -> str:
    every = {str(status) for status in success} == EVERY_2XX
    return "tuple(range(200, 300))" if every else repr(tuple(success))


def api_key_header(spec: Mapping[str, Any]) -> str:
    """The header of the apiKey scheme the operations require: the SDK holds one key, so there
    must be exactly one such header (lower case, as HTTP/2 sends names)."""
    headers = sorted(name for name, place in key_headers(spec) if place == "header")
    if len(headers) != 1:
        found = ", ".join(headers) or "none"
        raise SpecError(
            "the SDK sends one API key: the operations' security must name exactly one apiKey "
            f"scheme in a header (found: {found})"
        )
    header = headers[0]
    if not header.isascii() or not header.replace("-", "").replace("_", "").isalnum():
        raise SpecError(f"the apiKey header name {header!r} is not a plain HTTP header name")
    return header
