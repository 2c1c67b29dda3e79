"""What ``tapti.call`` takes: a generated operation module, typed by its own signature.

``OperationModule[P, R]`` is a protocol that each module of ``tapti_api_client.api`` satisfies
as it is (type checkers accept modules as protocol implementations): ``P`` is what its
``_get_kwargs`` takes, the operation's path, query, header and body parameters, and ``R`` what
its ``_parse_response`` returns for a success. The error model and ``None`` are left out of
``R``: the SDK raises a typed error for any non-2xx answer, so a call never returns them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    import httpx2
    from tapti_api_client.client import AuthenticatedClient, Client
    from tapti_api_client.models.error_body import ErrorBody

__all__ = ["OperationModule"]

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)


class OperationModule(Protocol[P, R_co]):
    """A generated operation module, e.g. ``tapti_api_client.api.users.create_sdk_token``."""

    __name__: str

    def _get_kwargs(self, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]: ...

    def _parse_response(
        self, *, client: AuthenticatedClient | Client, response: httpx2.Response
    ) -> R_co | ErrorBody | None: ...
