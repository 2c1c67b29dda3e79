"""``tapti api``: every generated operation as a command, with no line of code per operation.

The operations are the modules of the generated ``tapti_api_client.api`` package. An operation's
path parameters are the positional parameters of its generated ``_get_kwargs``; its query and
header parameters are the keyword-only ones, turned from text into what the generated code expects
by their annotations; ``--body`` goes through the request model's ``from_dict``. The spec shipped
with the package (read by ``testing._spec``, written by ``make generate`` with the code) gives the
options their names and help. So an operation added to the spec is a command after a regeneration.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import enum
import importlib
import inspect
import json
import pkgutil
import re
import shlex
import sys
import types
import typing
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Final, NamedTuple

from ._cli import (
    REPEATABLE,
    add_connection_options,
    bad_input,
    client,
    epilog,
    split_values,
    to_json,
    write_result,
)
from ._constants import MAX_BODY_BYTES
from .testing._spec import json_schema_of, load_spec

__all__ = ["add_operations"]

_FAILED_CONVERSIONS: Final = (ValueError, TypeError, KeyError, AttributeError, RecursionError)
_BOOLEANS: Final = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
# How text becomes each scalar type the generated code takes: metavar, what it must be, parser.
_SCALARS: Final[dict[Any, tuple[str, str, Callable[[str], Any]]]] = {
    str: ("TEXT", "text", str),
    int: ("INTEGER", "an integer", int),
    float: ("NUMBER", "a number", float),
    bool: ("true|false", "true or false", lambda text: _BOOLEANS[text.strip().lower()]),
    datetime.datetime: (
        "DATE-TIME",
        "a date-time such as 2026-01-31T12:00:00Z",
        datetime.datetime.fromisoformat,
    ),
    datetime.date: ("DATE", "a date such as 2026-01-31", datetime.date.fromisoformat),
}


class Parameter(NamedTuple):
    keyword: str  # the name in the generated _get_kwargs
    flag: str  # "--limit"; for a path parameter its metavar, "ID"
    kind: Any  # the annotation, e.g. Platform | Unset
    required: bool
    help: str


class Operation(NamedTuple):
    name: str  # the command: the module's name with "-" for "_"
    module: types.ModuleType
    summary: str
    route: str  # "POST /users/{id}/sdk-token", for the help
    path: tuple[Parameter, ...]
    options: tuple[Parameter, ...]
    body: Parameter | None
    example_body: object  # built from the request schema, for the help's example
    # The spec's check of a request body: what is wrong with it, field by field.
    check_body: Callable[[object], list[dict[str, str]]] | None


def _key(name: str) -> str:
    """``createSdkToken``, ``create_sdk_token`` and ``X-Create`` compare equal once keyed."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _operations() -> dict[str, Operation]:
    """Every operation of the generated package, by command name."""
    import tapti_api_client.api as package  # noqa: PLC0415  (only `tapti api` pays for it)

    described = _spec_operations()
    # The options every operation has: a parameter of one of these names is --query-NAME.
    taken = {flag.lower() for flag in add_connection_options(argparse.ArgumentParser())}
    taken |= {"-h", "--help"}
    found = {}
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(info.name)
        if callable(getattr(module, "_get_kwargs", None)) and hasattr(module, "_parse_response"):
            name = info.name.rpartition(".")[2]
            found[name.replace("_", "-")] = _operation(
                module, described.get(_key(name), {}), taken | {"--body"}
            )
    return dict(sorted(found.items()))


def _spec_operations() -> dict[str, dict[str, Any]]:
    """What the spec says of each operation, by keyed operationId."""
    spec = load_spec()
    found: dict[str, dict[str, Any]] = {}
    for template, raw_item in spec.document.get("paths", {}).items():
        item = spec.resolve(raw_item)
        for method, operation in item.items():
            if not isinstance(operation, Mapping) or "operationId" not in operation:
                continue  # the path's parameters, summary...
            raw = [*item.get("parameters", []), *operation.get("parameters", [])]
            body = spec.resolve(operation.get("requestBody", {}))
            schema = json_schema_of(body)
            found[_key(operation["operationId"])] = {
                "summary": operation.get("summary") or "",
                "route": f"{method.upper()} {template}",
                "parameters": {_key(p["name"]): p for p in map(spec.resolve, raw)},
                "example": None if schema is None else spec.example(schema),
                "check_body": None if schema is None else partial(spec.validate, schema),
            }
    return found


def _operation(
    module: types.ModuleType, described: Mapping[str, Any], taken: set[str]
) -> Operation:
    get_kwargs = module._get_kwargs  # what the generated code says of the call
    hints = typing.get_type_hints(get_kwargs)
    given = described.get("parameters", {})
    path: list[Parameter] = []
    options: list[Parameter] = []
    body = None
    for parameter in inspect.signature(get_kwargs).parameters.values():
        kind = hints.get(parameter.name, str)
        required = parameter.default is inspect.Parameter.empty
        spec = given.get(_key(parameter.name), {})
        text = " ".join(str(spec.get("description", "")).split())
        if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            name = str(spec.get("name", parameter.name)).upper()
            text = _help(text or "a path parameter", kind)
            path.append(Parameter(parameter.name, name, kind, True, text))
        elif parameter.name == "body":
            body = Parameter("body", "--body", kind, required, "")
        else:
            text = _help(text or f"a {spec.get('in', 'query')} parameter", kind)
            options.append(
                Parameter(parameter.name, _flag(spec, parameter.name, taken), kind, required, text)
            )
    doc = (getattr(module, "sync_detailed", None) or get_kwargs).__doc__ or ""
    first = doc.strip().partition("\n")[0]  # "Args:" where the spec gives no summary
    return Operation(
        name=module.__name__.rpartition(".")[2].replace("_", "-"),
        module=module,
        summary=described.get("summary")
        or ("" if first.endswith(":") else first)
        or described.get("route", ""),
        route=described.get("route", ""),
        path=tuple(path),
        options=tuple(options),
        body=body,
        example_body=described.get("example"),
        check_body=described.get("check_body"),
    )


def _flag(spec: Mapping[str, Any], keyword: str, taken: set[str]) -> str:
    """The option for a query or header parameter: its name in the spec, unless taken."""
    name = str(spec.get("name") or keyword.replace("_", "-"))
    return f"--{spec.get('in', 'query')}-{name}" if f"--{name}".lower() in taken else f"--{name}"


# --- from command-line text to what the generated code expects ------------------------------


def _members(kind: Any) -> list[Any]:
    """The types a value may have: a union's members, without ``Unset`` and ``None``."""
    from tapti_api_client.types import Unset  # noqa: PLC0415

    if typing.get_origin(kind) in {typing.Union, types.UnionType}:
        return [member for member in typing.get_args(kind) if member not in {Unset, type(None)}]
    return [kind]


def _item(kind: Any) -> Any:
    """``X`` for ``list[X]``, else ``None``."""
    return typing.get_args(kind)[0] if typing.get_origin(kind) is list else None


def _enum_values(kind: Any) -> str | None:
    """An enum's values as the CLI takes them (in any case), or None for another type."""
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        from ._inputs import listed  # noqa: PLC0415  (with the models it lists)

        return listed(kind)
    return None


def _scalar(kind: Any) -> tuple[str, str, Callable[[str], Any]]:
    """How text becomes ``kind`` (a list's items): its metavar, what it must be, the parser."""
    kind = _item(kind) or kind
    values = _enum_values(kind)
    if values is not None:  # read as the library reads them: in any case, ASCII only
        from ._inputs import enum_member  # noqa: PLC0415  (with the models it reads)

        return "VALUE", f"one of {values}", lambda text: enum_member(kind, text, "value")
    if hasattr(kind, "from_dict"):
        return "JSON", "a JSON object", lambda text: kind.from_dict(json.loads(text))
    return _SCALARS.get(kind, _SCALARS[str])  # another type: the generated code gets the text


def repeatable(kind: Any) -> bool:
    return any(_item(member) is not None for member in _members(kind))


def _help(description: str, kind: Any) -> str:
    values = _enum_values(_item(_members(kind)[0]) or _members(kind)[0])
    text = description + ("" if values is None else f"; one of: {values}")
    return text + (f" {REPEATABLE}" if repeatable(kind) else "")


def _value(given: str | list[str], parameter: Parameter) -> Any:
    """An option's text as the first of its types that takes it; each value of a list."""
    if isinstance(given, list):  # a repeatable option: each value, comma-separated or not
        return [_value(text, parameter) for text in split_values(given)]
    for kind in _members(parameter.kind):
        with contextlib.suppress(*_FAILED_CONVERSIONS):
            return _scalar(kind)[2](given)
    what = " or ".join(_scalar(kind)[1] for kind in _members(parameter.kind))
    raise bad_input(f"{parameter.flag}: {given!r} is not {what}")


# --- the body -------------------------------------------------------------------------------


class _ShapeError(TypeError):
    """The JSON is not the kind of value (object, array) the body must be."""


def _json_argument(text: str) -> Any:
    """``--body``'s JSON: given inline, as ``@FILE``, or ``-`` for standard input."""
    if text == "-":
        try:  # bytes, decoded as a file's are: the terminal's encoding is no guide to a pipe
            text = _bounded(sys.stdin.buffer, "standard input")
        except (AttributeError, OSError, UnicodeError) as exc:  # no stdin at all (`<&-`)
            reason = getattr(exc, "strerror", None) or (
                "not UTF-8 text" if isinstance(exc, UnicodeError) else "no standard input"
            )
            raise bad_input(f"--body: cannot read standard input ({reason})") from None
    elif text.startswith("@"):
        try:
            with Path(text[1:]).open("rb") as file:
                text = _bounded(file, repr(text[1:]))
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise bad_input(f"--body: cannot read {text[1:]!r} ({reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad_input(
            f"--body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError):  # an integer too long, or absurd nesting
        raise bad_input("--body is not JSON this command can read") from None


def _bounded(source: BinaryIO, named: str) -> str:
    """The text of ``source``, refused past ``MAX_BODY_BYTES``: ``@/dev/zero`` or ``yes |``
    would otherwise fill the memory, with no JSON error for a script to read."""
    data = source.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise bad_input(f"--body: {named} holds more than {MAX_BODY_BYTES} bytes")
    return data.decode("utf-8")


def _from_json(data: Any, kind: Any) -> Any:
    item = _item(kind)
    if item is not None:
        if not isinstance(data, list):
            raise _ShapeError("a JSON array")
        return [_from_json(element, item) for element in data]
    if hasattr(kind, "from_dict"):
        if not isinstance(data, dict):
            raise _ShapeError("a JSON object")
        return kind.from_dict(data)
    return kind(data) if _enum_values(kind) is not None else data


def _body(text: str, body: Parameter, operation: Operation) -> Any:
    """The request model, from ``--body``; a body it cannot be is bad input, said plainly.

    The spec judges first: the generated ``from_dict`` takes ``"callback_url": 5`` as it is,
    and the API would refuse it after the call was made."""
    data = _json_argument(text)
    said = [  # what the spec finds wrong, its first few fields
        f"{'' if found['field'] == 'body' else found['field'] + ' '}{found['message']}"
        for found in (operation.check_body(data) if operation.check_body else [])
    ]
    if said:
        if len(said) > 4:  # "and 1 more" would take the room the one left needs
            said = [*said[:3], f"and {len(said) - 3} more"]
        raise bad_input(f"--body: {'; '.join(said)}")
    problem: Exception | None = None
    for kind in _members(body.kind):
        try:
            return _from_json(data, kind)
        except (*_FAILED_CONVERSIONS, IndexError) as exc:
            problem = problem or exc
    raise bad_input(_body_problem(problem, operation.name)) from None


def _body_problem(problem: Exception | None, operation: str) -> str:
    if isinstance(problem, KeyError):  # the generated from_dict pops each required field
        return f"--body has no {problem.args[0]!r}, a required field of {operation}'s request body"
    if isinstance(problem, _ShapeError):
        return f"--body must be {problem}"
    invalid = re.fullmatch(r"(.*) is not a valid (\w+)", str(problem))
    if isinstance(problem, ValueError) and invalid:  # an enum value the spec does not list
        return f"--body: {invalid[1]} is not a valid {invalid[2].lower()} value"
    return f"--body does not have the shape of {operation}'s request body (a value's type)"


# --- the command ----------------------------------------------------------------------------


def _run(operation: Operation, args: argparse.Namespace) -> None:
    """Call ``operation`` as the arguments say; print its parsed answer as JSON."""
    from ._inputs import check_user_id  # noqa: PLC0415

    # Bad input is refused before the client looks for the key.
    path = [
        check_user_id(_value(getattr(args, f"path_{i}"), p), argument=p.flag)
        for i, p in enumerate(operation.path)
    ]
    keywords = {
        p.keyword: _value(given, p)
        for i, p in enumerate(operation.options)
        if (given := getattr(args, f"option_{i}")) is not None
    }
    if operation.body is not None and args.body is not None:
        keywords["body"] = _body(args.body, operation.body, operation)
    with client(args) as tapti:
        write_result(to_json(tapti.call(operation.module, *path, **keywords)) + "\n")


def add_operations(api: argparse.ArgumentParser) -> None:
    """One subcommand of ``tapti api`` per operation, each ending with an example."""
    found = _operations()
    commands = api.add_subparsers(dest="operation", required=True, metavar="OPERATION")
    for operation in found.values():
        parser = commands.add_parser(
            operation.name,
            help=operation.summary.replace("%", "%%"),
            description=f"{operation.summary}\n\n{operation.route}".strip(),
            epilog=epilog(f"  {_example(operation)}"),
        )
        _add_parameters(parser, operation)
        add_connection_options(parser)
        parser.set_defaults(handler=partial(_run, operation))
    examples = "\n".join(f"  {_example(operation)}" for operation in list(found.values())[:3])
    api.epilog = epilog(f"{examples}\n  tapti api OPERATION --help    # an operation's options")


def _add_parameters(parser: argparse.ArgumentParser, operation: Operation) -> None:
    for i, parameter in enumerate(operation.path):
        parser.add_argument(
            f"path_{i}", metavar=parameter.flag, help=parameter.help.replace("%", "%%")
        )
    for i, parameter in enumerate(operation.options):
        parser.add_argument(
            parameter.flag,
            dest=f"option_{i}",
            required=parameter.required,
            action="append" if repeatable(parameter.kind) else "store",
            metavar=_scalar(_members(parameter.kind)[0])[0],
            help=parameter.help.replace("%", "%%"),  # argparse formats help with %
        )
    if operation.body is not None:
        parser.add_argument(
            "--body",
            required=operation.body.required,
            metavar="JSON",
            help=(
                "the request body: JSON, @FILE to read it from a file, or - for stdin "
                "(1 MiB at most)"
            ),
        )


def _example(operation: Operation) -> str:
    """A command line calling ``operation``, with the required options and an example body."""
    words = ["tapti", "api", operation.name, *(p.flag for p in operation.path)]
    for parameter in operation.options:
        if parameter.required:
            words += [parameter.flag, _scalar(_members(parameter.kind)[0])[0]]
    if operation.body is not None:
        body = operation.example_body
        text = "JSON" if body is None else json.dumps(body, separators=(",", ":"))
        words += ["--body", text]
    return " ".join(shlex.quote(word) if word.startswith("{") else word for word in words)
