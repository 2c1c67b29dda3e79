"""What ``tapti.call`` takes: a generated operation module, typed by its own signature.

``OperationModule[P, R]`` is a protocol that each module of ``tapti_api_client.api`` satisfies
as it is (type checkers accept modules as protocol implementations): ``P`` is what its
``_get_kwargs`` takes, the operation's path, query, header and body parameters, and ``R`` what
its ``_parse_response`` returns for a success. The error model and ``None`` are left out of
``R``: the SDK raises a typed error for any non-2xx answer, so a call never returns them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, cast

from tapti_api_client._unknown import KEEP_UNKNOWN

from ._errors import InvalidInputError

if TYPE_CHECKING:
    import httpx2
    from tapti_api_client.client import AuthenticatedClient, Client
    from tapti_api_client.models.error_body import ErrorBody

__all__ = ["OperationModule", "RequiredFieldError", "request_model"]

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)
_M = TypeVar("_M")


class OperationModule(Protocol[P, R_co]):
    """A generated operation module, e.g. ``tapti_api_client.api.users.create_sdk_token``."""

    __name__: str

    def _get_kwargs(self, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]: ...

    def _parse_response(
        self, *, client: AuthenticatedClient | Client, response: httpx2.Response
    ) -> R_co | ErrorBody | None: ...


def request_model(
    model: type[_M], fields: Mapping[str, Any], extra_body: Mapping[str, Any] | None, what: str
) -> _M:
    """A generated request model from the wire ``fields`` this code knows, and from
    ``extra_body`` the ones the spec made required since: for when the generated constructor
    refuses the fields this code knows (a bare ``TypeError`` a user could do nothing about).

    A required field in neither is an ``InvalidInputError`` that names it and says how to
    pass it. Only the fields the model requires are read from ``extra_body`` here (as the API's
    answers are: an enum value the spec does not list yet is kept); the whole of it is merged
    into the request as usual.
    """
    data, given, missing = dict(fields), extra_body or {}, []
    while True:
        try:
            built = _from_dict(model, data)
        except KeyError as exc:  # the generated from_dict pops each required field
            name = exc.args[0] if exc.args else None
            if isinstance(name, str) and name not in data:
                if name in given:
                    data[name] = given[name]
                else:
                    missing.append(name)
                    data[name] = None  # a stand-in, to find the next missing field
                continue
            if missing:  # a stand-in did not fit: the fields found so far are named
                break
            raise InvalidInputError(
                f"{what}: extra_body does not fit the request (missing field {exc})"
            ) from None
        except (TypeError, ValueError, AttributeError) as exc:
            if missing:
                break
            raise InvalidInputError(
                f"{what}: extra_body does not fit the request ({type(exc).__name__})"
            ) from None
        if not missing:
            return built
        break
    raise RequiredFieldError(what, missing)


def _from_dict(model: type[_M], data: dict[str, Any]) -> _M:
    keep = KEEP_UNKNOWN.set(True)
    try:
        return cast("_M", model.from_dict(data))  # type: ignore[attr-defined]
    finally:
        KEEP_UNKNOWN.reset(keep)


class RequiredFieldError(InvalidInputError, TypeError):
    """A request field the spec made required that this code does not send, nor the caller.

    A ``TypeError`` too, as the generated constructor's error was: code that caught that keeps
    working.
    """

    def __init__(self, what: str, names: list[str]) -> None:
        quoted = ", ".join(repr(name) for name in names)
        example = ", ".join(f'"{name}": ...' for name in names)
        verb = "is" if len(names) == 1 else "are"
        super().__init__(
            f"{what}: {quoted} {verb} required by the API and not sent by this version of the "
            f"SDK; pass {'it' if len(names) == 1 else 'them'} with extra_body={{{example}}}"
        )
        self.names = tuple(names)
