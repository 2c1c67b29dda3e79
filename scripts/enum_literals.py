"""Write the spec's string enums as ``Literal`` types for tapti_ext (``tapti_ext/_names.py``).

``platforms=["youtub"]`` should fail a type checker, not only the call. A ``Literal`` cannot be
computed from an enum at type-checking time, so the names are written out, from the spec, by
``make generate`` (through ``scripts/generate.py``), and ``make check-generated`` fails when they
drift: a platform added to the spec reaches the types without a hand edit.
"""

from __future__ import annotations

from typing import Any

HEADER = '''"""Platform and scope names as ``Literal`` types: a misspelt name fails type checking.

Written by ``make generate`` from the string enums of openapi/tapti.yaml; do not edit. Each name
is listed in lower and upper case; at run time any case is accepted.
"""

from typing import Literal, TypeAlias

__all__ = [{names}]
'''


def literal_module(spec: dict[str, Any]) -> str:
    """The module text: one ``<Schema>Name`` alias per string enum among the component schemas."""
    schemas = spec.get("components", {}).get("schemas", {})
    enums = {
        name: [str(value) for value in schema["enum"]]
        for name, schema in sorted(schemas.items())
        if schema.get("type") == "string" and schema.get("enum")
    }
    names = ", ".join(f'"{name}Name"' for name in enums)
    parts = [HEADER.format(names=names)]
    for name, values in enums.items():
        spellings = dict.fromkeys([*(v.lower() for v in values), *(v.upper() for v in values)])
        members = "".join(f'    "{spelling}",\n' for spelling in spellings)
        parts.append(f"\n{name}Name: TypeAlias = Literal[\n{members}]\n")
    return "".join(parts)
