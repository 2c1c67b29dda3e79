"""Parsed answers whose reprs never show an SDK token, at any depth.

A token travels in a portal URL's ``sdk_token`` query parameter, or in a field whose name says
``token``. Logging a parsed answer (``log.info("%r", token.response)``, a traceback's locals, a
debugger) must not print one, however deep it sits: a field added to the spec may nest it
(``delivery.portal_url``), and a newer server may send it in ``additional_properties``.

``masked`` gives every generated model of an answer a class that only adds a masking ``repr``
(still an instance of the generated class, equal to an unmasked copy), and turns its lists and
dicts into subclasses with masking reprs. Values read explicitly (``response.oauth_portal_url``)
are the API's own strings, untouched.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator
from enum import Enum
from functools import cache
from typing import Any, Final, SupportsIndex, TypeVar, cast

import attrs
from tapti_api_client.types import UNSET, Unset

from ._constants import MASK, has_json_type, json_type_of
from ._errors import MAX_NESTING, masked_url, without_secret

__all__ = ["FieldTypeError", "NestingError", "ShapeError", "is_masked", "masked"]

_T = TypeVar("_T")
_MISSING: Final = object()  # a field a hand-built model leaves unset
_LEAVES: Final = frozenset({str, int, float, bool, type(None)})  # nothing to mask below
_ABSENT: Final = "absent"  # what ``Unset`` allows: the field left out
# The annotations a field's value is checked against, by name, and the JSON type each allows.
# A field annotated otherwise (a model, a list, an enum) is its parser's to judge.
_SCALARS: Final = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "None": "null",
    "Unset": _ABSENT,
}


def _secret_name(name: object) -> bool:
    return isinstance(name, str) and "token" in name.lower()


def _secret_field(name: str) -> bool:
    # additional_properties holds fields by their own names, judged one by one below.
    return name != "additional_properties" and _secret_name(name)


class ShapeError(ValueError):
    """A parsed answer the SDK refuses; the message is the SDK's own and quotes no value."""


class NestingError(ShapeError):
    """An answer nests deeper than ``MAX_NESTING``: no answer of this API, and its repr could
    not be printed (each level costs the repr stack frames)."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_NESTING} levels")


class FieldTypeError(ShapeError):
    """A field holds what its annotation does not allow. The generated ``from_dict`` takes
    whatever the body holds, so ``{"oauth_portal_url": 5}`` reached ``tapti.call``'s caller as a
    model whose ``str`` field was an int (probe 35)."""

    def __init__(self, kind: type, name: str, value: object, allowed: tuple[str, ...]) -> None:
        # In JSON's words, the answer's own (a command-line user reads them too).
        wanted = " or ".join(json for json in allowed if json != _ABSENT) or _ABSENT
        held = json_type_of(value) or "another type"
        super().__init__(f"{kind.__name__}.{name} holds {held}, not {wanted}")


def masked(value: _T, secret: bool = False, depth: int = 0, key: str = "") -> _T:
    """``value`` (a parsed answer) with masking reprs all the way down; models are changed in
    place, lists and dicts replaced. ``secret``: every string below is a token (its name says so).
    ``key``: masked in each model's ``additional_properties`` (what the server sent beyond the
    spec's fields, where an echo of the key would land), in any spelling.
    """
    kind: type = type(value)
    if kind in _LEAVES:
        return value
    if depth > MAX_NESTING:
        raise NestingError
    fields = _model_fields(kind)
    if fields is not None:
        for name, secret_name, allowed in fields:
            child = getattr(value, name, _MISSING)
            if allowed and child is not _MISSING:
                fitted = _as_annotated(child, allowed)
                if fitted is _MISSING:
                    raise FieldTypeError(_unmasked(kind), name, child, allowed)
                if fitted is not child:
                    object.__setattr__(value, name, fitted)
                    child = fitted
            if child is not _MISSING and type(child) not in _LEAVES:
                new = masked(child, secret or secret_name, depth + 1, key)
                if key and new and name == "additional_properties":
                    new = _members_for(kind, new, key)
                if new is not child:
                    object.__setattr__(value, name, new)
        value.__class__ = _masked_class(_unmasked(kind), secret)
        return value
    if isinstance(value, list):
        children = (masked(item, secret, depth + 1, key) for item in value)
        return cast("_T", _MaskedList(children, secret))
    if isinstance(value, dict):
        items = {
            name: masked(child, secret or _secret_name(name), depth + 1, key)
            for name, child in value.items()
        }
        return cast("_T", _MaskedDict(items, secret))
    return value


def _members_for(kind: type, members: Any, key: str) -> Any:
    """What a model keeps in ``additional_properties``: the members with ``key`` masked, done
    on their first read (``_unread_members``) where the model's class allows it, else now.

    Why on first read: masking looks at every string a server sent beyond the spec, four scans
    of each; on a 900 KiB answer that was most of what the SDK cost over httpx2, paid by every
    call, though few callers ever read those members.
    """
    if _members_slot(_unmasked(kind)) is None:
        return masked(without_secret(members, key), False, 1)
    return _UnreadMembers(members, key)


def is_masked(value: object) -> bool:
    """Whether ``masked`` went over this model already."""
    return "_tapti_base" in type(value).__dict__


@cache
def _model_fields(kind: type) -> tuple[tuple[str, bool, tuple[str, ...]], ...] | None:
    """A model's fields, each with whether its name says it holds a token and the JSON types
    its annotation allows (empty: not checked here); None: no model."""
    if not attrs.has(kind):
        return None
    return tuple(
        (field.name, _secret_field(field.name), _allowed(field.type))
        for field in attrs.fields(_unmasked(kind))
    )


def _allowed(annotation: object) -> tuple[str, ...]:
    """What ``str``, ``int | None``, ``None | str | Unset``... allow; empty for any other, and
    for none at all (attrs says ``None`` of a field declared without one)."""
    if annotation is None:
        return ()
    if not isinstance(annotation, str):  # a class, or ``str | None`` as an object
        annotation = getattr(annotation, "__name__", None) or str(annotation)
    allowed = tuple(_SCALARS.get(name.strip(), "") for name in annotation.split("|"))
    return () if "" in allowed else allowed


def _as_annotated(value: object, allowed: tuple[str, ...]) -> object:
    """``value`` as its field's annotation allows it, or ``_MISSING``: it allows no such value.
    Two readings follow the spec's meaning: ``5.0`` is an integer (JSON Schema's, as the mock
    judges it: ``has_json_type``), kept as an int where only an integer may stand; and ``null``
    in an optional field that may not be null is the field left out, so a newer server's null
    never fails a call."""
    if isinstance(value, Unset):
        return value if _ABSENT in allowed else _MISSING
    if not any(has_json_type(value, json) for json in allowed if json != _ABSENT):
        return UNSET if value is None and _ABSENT in allowed else _MISSING
    if type(value) is float and "number" not in allowed:
        return int(value)  # whole: an integer, by the test above
    return value


def _unmasked(cls: type) -> type:
    return cast("type", cls.__dict__.get("_tapti_base", cls))


@cache
def _members_slot(base: type) -> Any:
    """The slot holding ``base``'s ``additional_properties`` (attrs' slotted classes, as the
    generator writes them), or None: no such field, or no slot to read past a property."""
    for klass in base.__mro__:
        found = klass.__dict__.get("additional_properties")
        if found is not None:
            return found if isinstance(found, types.MemberDescriptorType) else None
    return None


def _unread_members(slot: Any) -> property:
    """``additional_properties`` read through a masked model: its members, their echoes of the
    key masked on the first read and kept so. Every door reads through it: the attribute,
    ``model[name]``, ``to_dict()``, ``repr``, equality, pickling."""

    def read(model: Any) -> Any:
        members = slot.__get__(model)
        if type(members) is _UnreadMembers:
            members = without_secret(members, members.key)  # a _MaskedDict: one walk, reprs kept
            slot.__set__(model, members)
        return members

    return property(read, slot.__set__, slot.__delete__)


@cache
def _masked_class(base: type, secret: bool) -> type:
    """``base`` with a masking ``repr``: no new slot, so an instance can take it on in place."""
    slot = _members_slot(base)
    members = {"additional_properties": _unread_members(slot)} if slot is not None else {}
    namespace = {
        **members,
        "__slots__": (),
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "__doc__": base.__doc__,
        "_tapti_base": base,
        "_tapti_secret": secret,
        "__repr__": _model_repr,
        "__rich_repr__": _model_rich_repr,
        "__eq__": _model_eq,
        "__hash__": base.__hash__,
        "__reduce_ex__": _model_reduce,
    }
    return type(base.__name__, (base,), namespace)


def _model_repr(self: Any) -> str:
    return _render(self, type(self)._tapti_secret)


def _model_eq(self: Any, other: object) -> Any:  # a bool, or NotImplemented
    base = type(self)._tapti_base
    if _unmasked(type(other)) is not base:
        return NotImplemented
    return all(
        bool(getattr(self, field.name, _MISSING) == getattr(other, field.name, _MISSING))
        for field in attrs.fields(base)
    )


def _model_reduce(self: Any, _protocol: int) -> tuple[Any, ...]:
    # By the generated class, which pickle can find by name; masked again when rebuilt.
    cls = type(self)
    return (_rebuilt, (cls._tapti_base, cls._tapti_secret, self.__getstate__()))


def _rebuilt(base: type, secret: bool, state: Any) -> Any:
    model: Any = object.__new__(base)
    model.__setstate__(state)
    model.__class__ = _masked_class(base, secret)
    return model


class _MaskedList(list[Any]):
    __slots__ = ("_secret",)

    def __init__(self, items: Iterable[Any] = (), secret: bool = False) -> None:
        super().__init__(items)
        self._secret = secret

    def __repr__(self) -> str:
        return _render(self, self._secret)

    def alike(self, items: list[Any]) -> _MaskedList:
        """``items`` with this list's masking repr (``without_secret`` copies through it)."""
        return _MaskedList(items, self._secret)


class _MaskedDict(dict[Any, Any]):
    __slots__ = ("_secret",)

    def __init__(self, items: dict[Any, Any] | None = None, secret: bool = False) -> None:
        super().__init__(items or {})
        self._secret = secret

    def __repr__(self) -> str:
        return _render(self, self._secret)

    def alike(self, items: dict[Any, Any]) -> _MaskedDict:
        """``items`` with this dict's masking repr (``without_secret`` copies through it)."""
        return _MaskedDict(items, self._secret)


class _UnreadMembers(_MaskedDict):
    """A model's ``additional_properties`` not yet read, with the key still to mask in them.
    Only the generated class's own slot hands it out (``_unread_members``), to introspection
    that asks for it by name; even then its repr and its pickle hold the key masked."""

    __slots__ = ("key",)

    def __init__(self, members: dict[Any, Any], key: str) -> None:
        super().__init__(members, members._secret if type(members) is _MaskedDict else False)
        self.key = key

    def __repr__(self) -> str:
        return _render(without_secret(dict(self), self.key), self._secret)

    def __reduce_ex__(self, _protocol: SupportsIndex) -> tuple[Any, ...]:
        return (dict, (without_secret(dict(self), self.key),))


def _render(value: object, secret: bool) -> str:
    """The repr of ``value`` with every token masked."""
    if isinstance(value, Enum):
        return repr(value)
    if isinstance(value, str):
        return repr(MASK if secret else masked_url(value))
    if attrs.has(type(value)):
        return _render_model(value, secret)
    if isinstance(value, dict):
        pairs = (
            f"{_render(key, secret)}: {_render(child, secret or _secret_name(key))}"
            for key, child in value.items()
        )
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(item, secret) for item in value) + "]"
    return repr(value)


def _render_model(model: object, secret: bool) -> str:
    shown = (f"{name}={_render(value, hidden)}" for name, value, hidden in _shown(model, secret))
    return f"{_unmasked(type(model)).__name__}({', '.join(shown)})"


def _model_rich_repr(self: Any) -> Iterator[tuple[str, object]]:
    """The fields rich shows, masked: rich (and structlog, through it) expand an attrs model
    field by field, past its ``repr``. Lists, dicts and models below have masking reprs."""
    for name, value, hidden in _shown(self, type(self)._tapti_secret):
        plain = isinstance(value, str) and not isinstance(value, Enum)
        yield name, (MASK if hidden else masked_url(value)) if plain else value


def _shown(model: object, secret: bool) -> Iterator[tuple[str, Any, bool]]:
    """A model's fields as its repr shows them (the set ones), each with whether every string
    below it is a token."""
    for field in attrs.fields(_unmasked(type(model))):
        value = getattr(model, field.name, _MISSING)
        if value is _MISSING or isinstance(value, Unset):
            continue
        if field.name != "additional_properties":
            yield field.name, value, secret or _secret_name(field.name)
        elif value:
            yield field.name, value, secret
