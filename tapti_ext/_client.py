"""``Tapti`` and ``AsyncTapti``: the clients people use.

Both take the same arguments, check them once (``BaseTapti``, which also documents them), build
every call the same way (``_call``) and send it through a pipeline (``_pipeline``); only the
pipeline's send, read and wait differ, as in the OpenAI and Anthropic SDKs. Redirects are never
followed, so the API key cannot be carried to another host.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache, partial
from types import UnionType
from typing import (
    Any,
    Final,
    Generic,
    NoReturn,
    ParamSpec,
    Protocol,
    Self,
    SupportsIndex,
    TypeVar,
    cast,
    get_args,
    overload,
)

import httpx2
from tapti_api_client._unknown import KEEP_UNKNOWN
from tapti_api_client.api.users import create_sdk_token as _create_sdk_token
from tapti_api_client.client import AuthenticatedClient
from tapti_api_client.client import Client as _GeneratedClient
from tapti_api_client.models.create_sdk_token_request import CreateSdkTokenRequest
from tapti_api_client.models.error_body import ErrorBody
from tapti_api_client.models.platform import Platform
from tapti_api_client.models.scope import Scope

from . import __version__
from ._call import (
    Answer,
    Call,
    Extras,
    RetryPolicy,
    Sources,
    as_response,
    check_operation_request,
    extras_of,
    model_from,
    request_parts,
)
from ._constants import (
    API_KEY_VARIABLE,
    BASE_URL_VARIABLE,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
)
from ._decode import ACCEPT_ENCODING
from ._errors import (
    InvalidInputError,
    RequiredFieldError,
    TaptiError,
    forget_locals,
    public_async_door,
    public_door,
)
from ._inputs import (
    PlatformLike,
    ScopeLike,
    Timeout,
    check_api_key,
    check_base_url,
    check_flag,
    check_platforms,
    check_scopes,
    check_timeout,
    check_url,
    check_user_id,
    from_argument_or_environment,
)
from ._pipeline import ASYNC_DEFAULT_LIMITS, DEFAULT_LIMITS, AsyncPipeline, Pipeline
from ._portal import (
    APIResponse,
    SdkToken,
    portal_url_on,
    resolve_portal_url,
    token_from_response,
)

__all__ = [
    "NOT_GIVEN",
    "AsyncTapti",
    "AsyncTaptiWithRawResponse",
    "AsyncUser",
    "AsyncUserWithRawResponse",
    "NotGiven",
    "Platforms",
    "Scopes",
    "Tapti",
    "TaptiWithRawResponse",
    "TimeoutLike",
    "User",
    "UserWithRawResponse",
]

_USER_AGENT: Final = f"tapti-python/{__version__} httpx2/{httpx2.__version__}"
_HEADERS: Final = {"user-agent": _USER_AGENT, "accept-encoding": ACCEPT_ENCODING}
# The generated parsers ask their client only whether to raise on undocumented statuses.
_PARSE_CLIENT: Final = _GeneratedClient(base_url=DEFAULT_BASE_URL)


class NotGiven:
    """The type of ``NOT_GIVEN``: an argument left out, told apart from ``None`` (which, for
    ``timeout``, means no limit)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
"""An argument left out: the client's setting applies."""

Platforms = PlatformLike | Iterable[PlatformLike]
"""One platform or several: ``"youtube"``, ``Platform.TIKTOK``, ``["youtube", "tiktok"]``."""
Scopes = ScopeLike | Iterable[ScopeLike]
"""One scope or several: ``"profile_read"``, ``[Scope.PROFILE_READ, "content_read"]``."""
TimeoutLike = float | httpx2.Timeout | None
"""Seconds for the whole call, an ``httpx2.Timeout`` (per phase, as httpx2 reads it), or
``None`` for no limit."""
_Pipe = TypeVar("_Pipe", Pipeline, AsyncPipeline)
# The http_client each client takes (mypy and pyright refuse Tapti(http_client=AsyncClient()));
# named without an underscore for the reference, which shows it in the shared signature.
HttpClientT = TypeVar("HttpClientT", httpx2.Client, httpx2.AsyncClient)
# An operation's parameters and its parsed success model, for call(); named for the reader of
# call()'s signature (help(), the reference), as openai-python names its ResponseT.
Params = ParamSpec("Params")
Result = TypeVar("Result")
Result_co = TypeVar("Result_co", covariant=True)
_M = TypeVar("_M")


class OperationModule(Protocol[Params, Result_co]):
    """What ``call()`` takes: a generated operation module, e.g.
    ``tapti_api_client.api.users.create_sdk_token``, typed by its own signature.

    Each module of ``tapti_api_client.api`` satisfies it as it is (type checkers accept modules
    as protocol implementations): ``Params`` is what its ``_get_kwargs`` takes, and
    ``Result_co`` what its ``_parse_response`` returns for a success. The error model and
    ``None`` are left out: the SDK raises a typed error for any non-2xx answer, so a call never
    returns them.
    """

    __name__: str

    def _get_kwargs(self, *args: Params.args, **kwargs: Params.kwargs) -> dict[str, Any]: ...

    def _parse_response(
        self, *, client: AuthenticatedClient | _GeneratedClient, response: httpx2.Response
    ) -> Result_co | ErrorBody | None: ...


# The two classes below are plain, not NamedTuples: in a cold start, creating a NamedTuple
# class costs ~70-200 µs, a plain one ~5-30 µs.


class _Arguments:
    """A call's arguments, each checked, or ``None`` where not given."""

    __slots__ = ("callback_url", "platforms", "redirect_url", "scopes")

    def __init__(
        self,
        platforms: tuple[Platform, ...] | None,
        scopes: tuple[Scope, ...] | None,
        callback_url: str | None,
        redirect_url: str | None,
    ) -> None:
        self.platforms, self.scopes = platforms, scopes
        self.callback_url, self.redirect_url = callback_url, redirect_url

    @classmethod
    def checked(
        cls,
        platforms: Platforms | None,
        scopes: Scopes | None,
        callback_url: str | None,
        redirect_url: str | None,
    ) -> _Arguments:
        return cls(
            None if platforms is None else check_platforms(platforms),
            None if scopes is None else check_scopes(scopes),
            None if callback_url is None else check_url(callback_url, argument="callback_url"),
            None if redirect_url is None else check_url(redirect_url, argument="redirect_url"),
        )

    def over(self, defaults: _Arguments) -> _Arguments:
        """These arguments, with the client's defaults where one is missing; all or an error."""
        chosen = _Arguments(
            self.platforms or defaults.platforms,
            self.scopes or defaults.scopes,
            self.callback_url or defaults.callback_url,
            self.redirect_url or defaults.redirect_url,
        )
        missing = [name for name in _ARGUMENT_NAMES if not getattr(chosen, name)]
        if missing:
            raise InvalidInputError(
                f"create_sdk_token needs {', '.join(missing)}: pass them to the call "
                "or set them as defaults on the client"
            )
        return chosen


_ARGUMENT_NAMES: Final = ("platforms", "scopes", "callback_url", "redirect_url")


class _Settings:
    """A client's checked configuration; ``with_options`` copies it with changes."""

    __slots__ = ("api_key", "base_url", "defaults", "portal_url", "retry", "sources", "timeout")

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: Timeout | NotGiven,
        retry: RetryPolicy,
        portal_url: str,
        defaults: _Arguments,
        sources: Sources,
    ) -> None:
        self.api_key, self.base_url, self.timeout, self.retry = api_key, base_url, timeout, retry
        self.portal_url, self.defaults, self.sources = portal_url, defaults, sources

    def replace(self, **changes: Any) -> _Settings:
        if unknown := changes.keys() - set(self.__slots__):
            raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
        changed = object.__new__(_Settings)
        for name in self.__slots__:
            setattr(changed, name, changes.get(name, getattr(self, name)))
        return changed

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # Reachable from a client's __dict__ by whatever walks it (a serialiser, a debugger).
        raise TypeError("cannot pickle a client's settings: they hold the API key")

    def __repr__(self) -> str:  # never the key
        return f"_Settings(base_url={self.base_url!r}, timeout={self.timeout!r})"


class BaseTapti(Generic[_Pipe, HttpClientT]):
    """Argument checking, configuration and call preparation shared by both clients."""

    _pipeline: _Pipe
    __signature__: inspect.Signature | None  # help()'s, set for each client below

    # Each client's own: its pipeline, the httpx2 client a caller may lend it, its pool's limits.
    _pipeline_type: type[_Pipe]
    _http_type: type[HttpClientT]
    _limits: httpx2.Limits

    @public_door
    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutLike | NotGiven = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        portal_url: str | None = None,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        http_client: HttpClientT | None = None,
        allow_insecure_http: bool = False,
        propagate_trace_context: bool = True,
    ) -> None:
        """Every argument is checked on construction, before anything is sent; a bad one raises
        ``InvalidInputError``.

        Args:
            api_key: Your Tapti API key, sent as the ``x-api-key`` header to the base URL's origin
                only. Default: the ``TAPTI_API_KEY`` environment variable.
            base_url: The API's root. Default: ``TAPTI_BASE_URL``, else ``https://api.tapti.ai``.
                Plain ``http://`` is refused for another machine unless ``allow_insecure_http``.
            timeout: Seconds a whole call may take, retries and waits included (default 30,
                or your ``http_client``'s own timeout); ``None`` for no limit; an
                ``httpx2.Timeout`` for httpx2's per-phase limits.
            max_retries: How often a failed attempt is retried (connection errors, timeouts, 408,
                409, 429, 5xx); never once a 2xx answer began. Default 2.
            portal_url: The OAuth Portal's base URL for ``oauth_portal_url()``. Default:
                ``TAPTI_PORTAL_URL``, else Tapti's.
            platforms: Default ``platforms`` for ``create_sdk_token``.
            scopes: Default ``scopes`` for ``create_sdk_token``.
            callback_url: Default ``callback_url`` for ``create_sdk_token``.
            redirect_url: Default ``redirect_url`` for ``create_sdk_token``.
            http_client: Your own ``httpx2.Client`` (``httpx2.AsyncClient`` for ``AsyncTapti``), to
                send through instead of the SDK's pool. It stays open when this client closes; its
                own request hooks see the key.
            allow_insecure_http: Allow a plain ``http://`` base URL or portal URL on another
                machine (the key, or the SDK tokens, then travel unencrypted).
            propagate_trace_context: Where your program uses OpenTelemetry (the package's
                ``otel`` extra brings ``opentelemetry-api``), each call is a CLIENT span; this
                sends its W3C trace context (``traceparent``, never your baggage) to the API too.
        """
        if http_client is not None and not isinstance(http_client, self._http_type):
            raise InvalidInputError(_wrong_http_client(http_client, self._http_type))
        check_flag(allow_insecure_http, argument="allow_insecure_http")
        check_flag(propagate_trace_context, argument="propagate_trace_context")
        handling = sys.exception()
        connection: dict[str, Any] = {}  # emptied on the way out: this frame keeps no key
        try:
            connection.update(
                _connection_settings(api_key, base_url, allow_insecure_http=allow_insecure_http)
            )
            self._settings = _Settings(
                **connection,
                timeout=_initial_timeout(timeout, caller_client=http_client is not None),
                retry=RetryPolicy(max_retries=_check_retries(max_retries)),
                portal_url=resolve_portal_url(
                    portal_url,
                    allow_insecure_http=allow_insecure_http,
                    secret=connection["api_key"],
                ),
                defaults=_Arguments.checked(platforms, scopes, callback_url, redirect_url),
            )
            self._pipeline = self._pipeline_type(
                api_key=self._settings.api_key,
                base_url=self._settings.base_url,
                http_client=http_client,
                limits=self._limits,
            )
        except BaseException as exc:
            # The frames below hold the key (perhaps from TAPTI_API_KEY), and a refused URL is
            # quoted: it may be the key, pasted into the wrong variable.
            forget_locals(exc, connection.get("api_key", ""), until=handling)
            raise
        finally:
            connection.clear()
        # With OpenTelemetry: send traceparent to the API (each call is a span either way).
        self._pipeline.propagate_trace_context = propagate_trace_context
        self._settings.sources.proxy = self._pipeline.proxy_described()
        self._settings.sources.trust = self._pipeline.trust_described()
        self._owns_pipeline = True
        self._raw: AuthenticatedClient | None = None

    # Read-only: a changed base_url would skip its https check and take the key with it.
    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def timeout(self) -> Timeout:
        """What bounds a call: seconds for the whole call, an ``httpx2.Timeout`` per phase, or
        ``None`` for no limit. Through your own ``http_client``, given no ``timeout``, that
        client's own ``httpx2.Timeout``, which then applies."""
        return resolved_timeout(self._settings.timeout, self._pipeline)

    @property
    def max_retries(self) -> int:
        return self._settings.retry.max_retries

    @property
    def portal_url(self) -> str:
        return self._settings.portal_url

    @public_door
    def with_options(
        self, *, timeout: TimeoutLike | NotGiven = NOT_GIVEN, max_retries: int | None = None
    ) -> Self:
        """A client with other settings that shares this one's connection pool.

        Closing the copy leaves the pool open: it stays the original client's to close.
        """
        changes: dict[str, Any] = {}
        if not isinstance(timeout, NotGiven):
            changes["timeout"] = check_timeout(timeout)
        if max_retries is not None:
            changes["retry"] = RetryPolicy(max_retries=_check_retries(max_retries))
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._settings = self._settings.replace(**changes)
        clone._owns_pipeline = False
        clone._raw = None
        return clone

    def __copy__(self) -> Self:
        # As with_options() makes one: a copy closed (``with copy.copy(tapti):``) must not
        # close the pool this client still sends through.
        return self.with_options()

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        # Sockets and locks cannot be copied: a settings object holding a client deep-copies
        # to one that shares the pool, as copy.copy does.
        return self.with_options()

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(
            f"cannot pickle {type(self).__name__!r} object: it holds a connection pool and the "
            "API key; make a client in each process"
        )

    @property
    def raw(self) -> AuthenticatedClient:
        """The generated ``AuthenticatedClient`` on this client's configuration, for edge cases.

        Its calls go through this client's pipeline: the same pool, retries, deadline, typed
        errors and key handling. Copies from its ``with_*`` methods share the pool too.
        """
        if self._raw is None:
            from ._raw import raw_client  # noqa: PLC0415  (most programs never need it)

            settings = self._settings
            self._raw = raw_client(
                self._pipeline,
                base_url=settings.base_url,
                timeout=settings.timeout,
                retry=settings.retry,
                headers=_HEADERS,
                sources=settings.sources,
            )
        return self._raw

    @public_door
    def oauth_portal_url(self, sdk_token: str, platform: PlatformLike | None = None) -> str:
        """The portal URL for a bare token, on this client's ``portal_url``."""
        # Its portal URL passed the constructor's checks (this client's key, plain http).
        settings = self._settings
        return portal_url_on(settings.portal_url, sdk_token, platform, secret=settings.api_key)

    def _token_call(
        self,
        bound_id: str | None,
        user_id: object,
        given: tuple[Platforms | None, Scopes | None, str | None, str | None],
        timeout: TimeoutLike | NotGiven,
        extra: tuple[Mapping[str, str] | None, Mapping[str, Any] | None, Mapping[str, Any] | None],
    ) -> Call[SdkToken]:
        handling = sys.exception()
        try:
            chosen = _Arguments.checked(*given).over(self._settings.defaults)
            extras = _token_extras(extra, self._settings.api_key)
        except InvalidInputError as exc:  # a refused URL or header name may quote the key
            forget_locals(exc, self._settings.api_key, until=handling)
            raise
        finally:  # the caller's extras, read: no later traceback through this frame shows them
            del extra
        checked_id = _one_user_id(bound_id, user_id)
        platforms, scopes = chosen.platforms or (), chosen.scopes or ()
        try:
            body = CreateSdkTokenRequest(
                user_platforms=list(platforms),
                enabled_scopes=list(scopes),
                callback_url=chosen.callback_url or "",
                redirect_url=chosen.redirect_url or "",
            )
        except TypeError:  # the spec made a field required that this code does not send
            values = (
                [platform.value for platform in platforms],
                [scope.value for scope in scopes],
                chosen.callback_url,
                chosen.redirect_url,
            )
            fields = dict(zip(_ARGUMENT_FIELDS, values, strict=True))
            body = request_model(CreateSdkTokenRequest, fields, extras.body, "create_sdk_token")
        spec = _create_sdk_token._get_kwargs(checked_id, body=body)
        parse = partial(token_from_response, platforms=platforms, scopes=scopes)
        return self._call(spec, parse, timeout, extras)

    def _operation_call(
        self, operation: OperationModule[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Call[Any]:
        # The SDK's options (the typed overloads of call() cannot list them beside the
        # operation's own parameters), then the operation's arguments.
        timeout = kwargs.pop("timeout", NOT_GIVEN)
        handling = sys.exception()
        try:
            extras = extras_of(
                kwargs.pop("extra_headers", None),
                kwargs.pop("extra_query", None),
                kwargs.pop("extra_body", None),
                secret=self._settings.api_key,
            )
        except InvalidInputError as exc:  # a refused header name is quoted: it may hold the key
            forget_locals(exc, self._settings.api_key, until=handling)
            raise
        get_kwargs = getattr(operation, "_get_kwargs", None)
        parse_response = getattr(operation, "_parse_response", None)
        if get_kwargs is None or parse_response is None:
            raise InvalidInputError(
                "operation must be a generated operation module, "
                "e.g. tapti_api_client.api.users.create_sdk_token"
            )
        name = operation.__name__.rpartition(".")[2]
        try:
            spec = get_kwargs(**_checked_path_arguments(get_kwargs, name, args, kwargs))
            check_operation_request(spec)
        except InvalidInputError:
            raise
        except (TypeError, AttributeError, ValueError, KeyError) as exc:  # e.g. a dict body
            raise InvalidInputError(
                f"{name}: bad arguments ({type(exc).__name__}: {exc})"
            ) from None
        parse = partial(_parse_operation, parse_response, name)
        return self._call(spec, parse, timeout, extras)

    def _check_open(self) -> None:
        if self._pipeline.closed:
            raise TaptiError(f"this {type(self).__name__} is closed; create a new one")

    def _call(
        self, spec: dict[str, Any], parse: Any, timeout: TimeoutLike | NotGiven, extras: Extras
    ) -> Call[Any]:
        self._check_open()
        handling = sys.exception()  # the caller's own, should they call from an except block
        try:
            request = request_parts(spec, self._settings.base_url, _HEADERS, extras)
        except InvalidInputError as exc:  # no frame below keeps what it was given
            forget_locals(exc, self._settings.api_key, until=handling)  # a name it quotes
            raise
        settings = self._settings  # only now: a refused request leaves no local with the key
        return Call(
            request=request,
            parse=parse,
            retry=settings.retry,
            timeout=resolved_timeout(
                settings.timeout if isinstance(timeout, NotGiven) else check_timeout(timeout),
                self._pipeline,
            ),
            secret=settings.api_key,
            sources=settings.sources,
        )

    def __repr__(self) -> str:
        settings = getattr(self, "_settings", None)  # None while a refused __init__ is shown
        if settings is None:
            return f"<{type(self).__name__}, not configured>"
        return f"{type(self).__name__}(base_url={self.base_url!r}, max_retries={self.max_retries})"


_POSITIONAL: Final = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
# A builder's signature, worked out once (~10 µs each time) rather than at every tapti.call.
_signature: Final = lru_cache(maxsize=64)(inspect.signature)


def _checked_path_arguments(
    get_kwargs: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The arguments by name, each path parameter (the generated builder takes those
    positionally) checked as one path segment, as a user id, however it was given."""
    signature = _signature(get_kwargs)
    unknown = [keyword for keyword in kwargs if keyword not in signature.parameters]
    if unknown:  # before bind(), which names a missing argument first: the misspelt one's
        raise InvalidInputError(
            f"{name}: no argument named {unknown[0][:40]!r}; "
            f"it takes {', '.join(signature.parameters)}"
        )
    try:
        bound = signature.bind(*args, **kwargs).arguments
    except TypeError as exc:
        raise InvalidInputError(f"{name}: bad arguments ({exc})") from None
    _check_models(signature, bound, name)
    for parameter, value in bound.items():
        if signature.parameters[parameter].kind in _POSITIONAL:
            argument = f"{name} {parameter}"
            if not isinstance(value, str | int) and _typed_path_value(value):
                if isinstance(value, float) and not math.isfinite(value):  # "nan" names nothing
                    raise InvalidInputError(f"{argument} must be a finite number")
                # What the generated code sends, checked and then sent as checked: a str()
                # made again could differ (probe 39: a subclass's, "1.5" and then "..").
                bound[parameter] = check_user_id(str(value), argument=argument)
            else:
                bound[parameter] = check_user_id(value, argument=argument)
    return bound


def _check_models(signature: inspect.Signature, bound: dict[str, Any], name: str) -> None:
    """A generated model's argument given as something else (a dict, most often) is refused
    naming the class to build, not met by the builder's ``AttributeError``."""
    expected = _model_parameters(signature)
    for parameter, value in bound.items():
        if parameter in expected and not isinstance(value, expected[parameter]):
            model = next(kind for kind in expected[parameter] if hasattr(kind, "from_dict"))
            package = model.__module__.rpartition(".")[0]
            raise InvalidInputError(
                f"{name} {parameter} must be a {model.__name__} (from {package}), not "
                f"{type(value).__name__}: {model.__name__}.from_dict(...) makes one from a dict"
            )


@lru_cache(maxsize=64)
def _model_parameters(signature: inspect.Signature) -> dict[str, tuple[type, ...]]:
    """The parameters a builder's own annotations say take a model: a model class, or a union
    of classes holding one (``list[Model]`` or a dict type is not judged), with the classes
    each accepts. Worked out once per builder, as its signature is."""
    found = {}
    for parameter in signature.parameters.values():
        annotation = parameter.annotation
        members = get_args(annotation) if isinstance(annotation, UnionType) else (annotation,)
        classes = tuple(kind for kind in members if isinstance(kind, type))
        if len(classes) == len(members) and any(hasattr(kind, "from_dict") for kind in classes):
            found[parameter.name] = classes
    return found


def _typed_path_value(value: object) -> bool:
    """Whether ``value`` is of a type the generator gives a path parameter besides str and int:
    a float, a UUID or a date. Their modules are looked up, not imported (a cold start's
    cost): a program holding a UUID has imported ``uuid``."""
    uuid, dates = sys.modules.get("uuid"), sys.modules.get("datetime")
    return (
        isinstance(value, float)
        or (uuid is not None and isinstance(value, uuid.UUID))
        or (dates is not None and isinstance(value, dates.date))  # a datetime is a date
    )


def _parse_operation(
    parse_response: Any, name: str, answer: Answer | httpx2.Response, secret: str = ""
) -> Any:
    """A 2xx body through a generated operation's own parser, failures typed."""
    response = as_response(answer)
    return model_from(
        lambda: parse_response(client=_PARSE_CLIENT, response=response),
        response,
        f"{name} response",
        secret,
    )


class Tapti(BaseTapti[Pipeline, httpx2.Client]):
    """The Tapti API client. ``Tapti(api_key=...)``, or ``TAPTI_API_KEY`` from the environment.

    Use it as a context manager, or call ``close()``.

    >>> with Tapti() as tapti:  # the key from TAPTI_API_KEY
    ...     token = tapti.user("user_123").create_sdk_token(
    ...         platforms="youtube",
    ...         scopes="profile_read",
    ...         callback_url="https://your-app.com/api/oauth/callback",
    ...         redirect_url="https://your-app.com/dashboard/accounts",
    ...     )
    >>> token.portal_url(platform="youtube")  # where to redirect the user's browser
    'https://...?sdk_token=...&platform=youtube'
    """

    _pipeline_type = Pipeline
    _http_type = httpx2.Client
    _limits = DEFAULT_LIMITS

    @public_door
    def user(self, user_id: str | int | None = None) -> User:
        """Calls about one of your app's users (the id is checked now, before anything is sent)."""
        return User(self, user_id)

    @property
    def with_raw_response(self) -> TaptiWithRawResponse:
        """The same ``user(...)`` calls, answering with the HTTP response (``.parse()`` gives
        the token)."""
        return TaptiWithRawResponse(self)

    # Typed by the operation: its own parameters and its success model. PEP 612 allows no
    # keyword after *P.args, so a call that also passes one of the SDK's options (timeout=,
    # extra_*=) matches one of the later overloads: the result is typed, the arguments not.
    @overload
    def call(
        self,
        operation: OperationModule[Params, Result],
        /,
        *args: Params.args,
        **kwargs: Params.kwargs,
    ) -> Result: ...
    @overload
    def call(
        self,
        operation: OperationModule[..., Result],
        /,
        *args: Any,
        timeout: TimeoutLike,
        **kwargs: Any,
    ) -> Result: ...
    @overload
    def call(
        self,
        operation: OperationModule[..., Result],
        /,
        *args: Any,
        extra_headers: Mapping[str, str] | None,
        **kwargs: Any,
    ) -> Result: ...
    @overload
    def call(
        self,
        operation: OperationModule[..., Result],
        /,
        *args: Any,
        extra_query: Mapping[str, Any] | None,
        **kwargs: Any,
    ) -> Result: ...
    @overload
    def call(
        self,
        operation: OperationModule[..., Result],
        /,
        *args: Any,
        extra_body: Mapping[str, Any] | None,
        **kwargs: Any,
    ) -> Result: ...
    @public_door
    def call(self, operation: OperationModule[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Any generated operation, with this client's retries, deadline and typed errors.

        ``tapti.call(create_sdk_token, "user_123", body=CreateSdkTokenRequest(...))`` takes the
        operation's own arguments and returns its parsed success model, typed for mypy and
        pyright; ``timeout=`` and ``extra_headers=``/``extra_query=``/``extra_body=`` work as on
        every call. Any operation of the generated client works here, including one added to
        the API description since this SDK was released, once the client is regenerated.
        """
        call = self._operation_call(operation, args, kwargs)
        return call.parse(self._pipeline.run(call))

    def close(self) -> None:
        """Close the pool this client created; a caller's ``http_client`` stays open."""
        if self._owns_pipeline:
            self._pipeline.close()

    def __enter__(self) -> Self:
        self._check_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncTapti(BaseTapti[AsyncPipeline, httpx2.AsyncClient]):
    """``Tapti`` for asyncio (or trio): the same arguments and calls, awaited.

    One client per event loop: its pooled connections belong to the loop that opened them.
    Create it in your app's lifespan (or inside the coroutine you run) and ``await
    tapti.aclose()`` there.
    """

    _pipeline_type = AsyncPipeline
    _http_type = httpx2.AsyncClient
    _limits = ASYNC_DEFAULT_LIMITS

    @public_door
    def user(self, user_id: str | int | None = None) -> AsyncUser:
        """Calls about one of your app's users (the id is checked now, before anything is sent)."""
        return AsyncUser(self, user_id)

    @property
    def with_raw_response(self) -> AsyncTaptiWithRawResponse:
        """The same ``user(...)`` calls, answering with the HTTP response (``.parse()`` gives
        the token)."""
        return AsyncTaptiWithRawResponse(self)

    # As Tapti.call's overloads, awaited.
    @overload
    async def call(
        self,
        operation: OperationModule[Params, Result],
        /,
        *args: Params.args,
        **kwargs: Params.kwargs,
    ) -> Result: ...
    @overload
    async def call(
        self,
        operation: OperationModule[..., Result],
        /,
        *args: Any,
        timeout: TimeoutLike,
        **kwargs: Any,
    ) -> Result: ...
    @overload
    async def call(
        self,
        operation: OperationModule[..., Result],
        /,
        *args: Any,
        extra_headers: Mapping[str, str] | None,
        **kwargs: Any,
    ) -> Result: ...
    @overload
    async def call(
        self,
        operation: OperationModule[..., Result],
        /,
        *args: Any,
        extra_query: Mapping[str, Any] | None,
        **kwargs: Any,
    ) -> Result: ...
    @overload
    async def call(
        self,
        operation: OperationModule[..., Result],
        /,
        *args: Any,
        extra_body: Mapping[str, Any] | None,
        **kwargs: Any,
    ) -> Result: ...
    @public_async_door
    async def call(self, operation: OperationModule[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Any generated operation, awaited (as ``Tapti.call``)."""
        call = self._operation_call(operation, args, kwargs)
        return call.parse(await self._pipeline.run(call))

    async def close(self) -> None:
        """Close the pool this client created; a caller's ``http_client`` stays open."""
        if self._owns_pipeline:
            await self._pipeline.close()

    async def aclose(self) -> None:
        """``close()`` under httpx2's name for it."""
        await self.close()

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class _HelpText:
    """The clients' ``__doc__``, for help(): the class's own text, then the constructor's
    arguments, written once on ``BaseTapti.__init__`` (where mkdocstrings and editors find them).

    Made when first read: built at import, the two clients' help cost ~0.3 ms of every cold
    start, and few processes call help(). ``type.__doc__`` calls a descriptor's ``__get__``.
    """

    __slots__ = ("_made", "_own")

    def __init__(self, own: str | None) -> None:
        self._own, self._made = own, ""

    def __get__(self, instance: object, owner: type | None = None) -> str | None:
        if not self._made:  # two threads at once make the same text
            # python -OO strips docstrings: then there is none to show.
            texts = (self._own, BaseTapti.__init__.__doc__)
            parts = (inspect.cleandoc(text or "") for text in texts)
            self._made = "\n\n".join(part for part in parts if part)
        return self._made or None


class _HelpSignature:
    """The clients' ``__signature__``, for help() and inspect: the constructor's, naming the
    http_client each takes rather than the type variable both share. Made when first read (see
    ``_HelpText``).

    ``None`` for a subclass whose instances another ``__init__`` or ``__new__`` makes (its own, a
    mixin's, one ``@dataclass`` added): inspect then reads that one.
    """

    __slots__ = ("_http_type", "_made")
    _made: inspect.Signature | None

    def __init__(self, http_type: type) -> None:
        self._http_type, self._made = http_type, None

    def __get__(
        self, instance: object, owner: type[BaseTapti[Any, Any]] | None = None
    ) -> inspect.Signature | None:
        if owner is not None and not (
            owner.__init__ is BaseTapti.__init__ and owner.__new__ is object.__new__
        ):
            return None
        if self._made is None:
            parameters = list(inspect.signature(BaseTapti.__init__).parameters.values())[1:]
            lent = f"httpx2.{self._http_type.__name__} | None"
            self._made = inspect.Signature(
                [p.replace(annotation=lent) if p.name == "http_client" else p for p in parameters]
            )
        return self._made


for _documented in (Tapti, AsyncTapti):
    # Descriptors where a str and a Signature are declared: each reads as one (see above).
    _documented.__doc__ = _HelpText(_documented.__doc__)  # type: ignore[assignment]
    _documented.__signature__ = _HelpSignature(_documented._http_type)  # type: ignore[assignment]
del _documented


class UserCalls:
    """The client and the user id (checked now) that the four user classes' calls use."""

    __slots__ = ("_client", "_id")

    def __init__(self, client: Any, user_id: str | int | None) -> None:
        self._client = client
        self._id = None if user_id is None else check_user_id(user_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self._id!r})"


class User(UserCalls):
    """Calls about one user: ``tapti.user("user_123").create_sdk_token(...)``."""

    __slots__ = ()
    _client: Tapti

    @public_door
    def create_sdk_token(
        self,
        user_id: str | int | None = None,
        /,
        *,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        timeout: TimeoutLike | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> SdkToken:
        """Create an SDK token that opens the OAuth Portal for this user.

        Arguments left out come from the client's defaults. ``platforms`` and ``scopes`` take
        one value or many, as enum members or strings in any case. ``timeout`` overrides the
        client's for this call. ``extra_body``/``extra_headers``/``extra_query`` add what the
        SDK does not know yet (they cannot replace the API key). Generate the token just before
        redirecting; never store it.
        """
        given = (platforms, scopes, callback_url, redirect_url)
        extra = (extra_headers, extra_query, extra_body)
        call = self._client._token_call(self._id, user_id, given, timeout, extra)
        return call.parse(self._client._pipeline.run(call))

    # The spelling of Tapti's JavaScript docs: tapti.user().createSDKToken(userId).
    createSDKToken = create_sdk_token  # noqa: N815


class AsyncUser(UserCalls):
    """Calls about one user: ``await tapti.user("user_123").create_sdk_token(...)``."""

    __slots__ = ()
    _client: AsyncTapti

    @public_async_door
    async def create_sdk_token(
        self,
        user_id: str | int | None = None,
        /,
        *,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        timeout: TimeoutLike | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> SdkToken:
        """Create an SDK token that opens the OAuth Portal for this user (as ``User`` does)."""
        given = (platforms, scopes, callback_url, redirect_url)
        extra = (extra_headers, extra_query, extra_body)
        call = self._client._token_call(self._id, user_id, given, timeout, extra)
        return call.parse(await self._client._pipeline.run(call))

    createSDKToken = create_sdk_token  # noqa: N815


class UserWithRawResponse(UserCalls):
    """``User``'s calls, answering with an ``APIResponse``."""

    __slots__ = ()
    _client: Tapti

    @public_door
    def create_sdk_token(
        self,
        user_id: str | int | None = None,
        /,
        *,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        timeout: TimeoutLike | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> APIResponse:
        """``User.create_sdk_token``, answering with the HTTP response."""
        given = (platforms, scopes, callback_url, redirect_url)
        extra = (extra_headers, extra_query, extra_body)
        call = self._client._token_call(self._id, user_id, given, timeout, extra)
        return _api_response(call, self._client._pipeline.run(call))

    createSDKToken = create_sdk_token  # noqa: N815


class AsyncUserWithRawResponse(UserCalls):
    """``AsyncUser``'s calls, answering with an ``APIResponse``."""

    __slots__ = ()
    _client: AsyncTapti

    @public_async_door
    async def create_sdk_token(
        self,
        user_id: str | int | None = None,
        /,
        *,
        platforms: Platforms | None = None,
        scopes: Scopes | None = None,
        callback_url: str | None = None,
        redirect_url: str | None = None,
        timeout: TimeoutLike | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> APIResponse:
        """``AsyncUser.create_sdk_token``, answering with the HTTP response."""
        given = (platforms, scopes, callback_url, redirect_url)
        extra = (extra_headers, extra_query, extra_body)
        call = self._client._token_call(self._id, user_id, given, timeout, extra)
        return _api_response(call, await self._client._pipeline.run(call))

    createSDKToken = create_sdk_token  # noqa: N815


def _api_response(call: Call[SdkToken], answer: Answer) -> APIResponse:
    return APIResponse(answer.response(), call.parse)


class TaptiWithRawResponse:
    """``tapti.with_raw_response``: the client's calls, answering with the HTTP response."""

    __slots__ = ("_client",)

    def __init__(self, client: Tapti) -> None:
        self._client = client

    @public_door
    def user(self, user_id: str | int | None = None) -> UserWithRawResponse:
        return UserWithRawResponse(self._client, user_id)


class AsyncTaptiWithRawResponse:
    """``AsyncTapti.with_raw_response``: the client's calls, answering with the HTTP response."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncTapti) -> None:
        self._client = client

    @public_door
    def user(self, user_id: str | int | None = None) -> AsyncUserWithRawResponse:
        return AsyncUserWithRawResponse(self._client, user_id)


def _one_user_id(bound_id: str | None, user_id: object) -> str:
    if user_id is None:
        if bound_id is None:
            raise InvalidInputError("no user id: use tapti.user(user_id).create_sdk_token(...)")
        return bound_id
    if bound_id is not None:
        raise InvalidInputError("the user id is given twice: to user() and to create_sdk_token()")
    return check_user_id(user_id)


def _wrong_http_client(given: object, expected: type) -> str:
    kind = type(given)
    package = kind.__module__.partition(".")[0]
    named = kind.__qualname__ if package == "builtins" else f"{package}.{kind.__qualname__}"
    message = f"http_client must be an httpx2.{expected.__qualname__}, not {named}"
    if named.startswith(("httpx.", "httpcore.")):
        # The SDK runs on httpx2, httpx's maintained continuation: same API, new name.
        message += (
            f"; create it with httpx2.{expected.__qualname__}(...) instead (pip install httpx2)"
        )
    return message


def _connection_settings(
    api_key: str | None, base_url: str | None, *, allow_insecure_http: bool
) -> dict[str, Any]:
    """The key, the base URL and where each came from (the argument or the environment)."""
    key, key_from = from_argument_or_environment(api_key, "api_key", API_KEY_VARIABLE)
    url, url_from = from_argument_or_environment(base_url, "base_url", BASE_URL_VARIABLE)
    checked_key = check_api_key(key, argument=key_from)
    checked_url = (
        DEFAULT_BASE_URL
        if url is None
        else check_base_url(
            url, allow_insecure_http=allow_insecure_http, argument=url_from, secret=checked_key
        )
    )
    sources = Sources(
        base_url=_source(url, url_from, "the default"), api_key=_source(key, key_from, "nowhere")
    )
    return {"api_key": checked_key, "base_url": checked_url, "sources": sources}


def _check_retries(max_retries: object) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidInputError("max_retries must be an int >= 0")
    return max_retries


def _initial_timeout(timeout: TimeoutLike | NotGiven, *, caller_client: bool) -> Timeout | NotGiven:
    """``NOT_GIVEN`` for your own ``http_client`` given no timeout: its own applies, read at each
    call; ``None`` stays "no limit" there too."""
    if isinstance(timeout, NotGiven):
        return NOT_GIVEN if caller_client else DEFAULT_TIMEOUT
    return check_timeout(timeout)


def resolved_timeout(timeout: Timeout | NotGiven, pipeline: Pipeline | AsyncPipeline) -> Timeout:
    """``timeout``, or for ``NOT_GIVEN`` the lent ``http_client``'s own as it is now."""
    if not isinstance(timeout, NotGiven):
        return timeout
    lent = pipeline.lent_client
    assert lent is not None  # noqa: S101  (only a lent client's settings hold NOT_GIVEN)
    return lent.timeout


def _source(value: object, named: str, otherwise: str) -> str:
    """Where a setting came from, for messages: ``named`` (an argument or a variable, from
    ``from_argument_or_environment``), or ``otherwise`` when neither gave one."""
    if value is None:
        return otherwise
    return f"the {named} argument" if named.islower() else named  # variables: upper case


# The request fields create_sdk_token fills from its arguments, which it checks (a redirect_url
# must be an absolute http(s) URL): extra_body may add fields, never set these.
_ARGUMENT_FIELDS: Final = ("user_platforms", "enabled_scopes", "callback_url", "redirect_url")


def _loosely(name: str) -> str:
    return "".join(c for c in name if c.isalnum()).casefold()


_ARGUMENT_FIELDS_LOOSELY: Final = tuple((field, _loosely(field)) for field in _ARGUMENT_FIELDS)


def _token_extras(
    extra: tuple[Mapping[str, str] | None, Mapping[str, Any] | None, Mapping[str, Any] | None],
    secret: str,
) -> Extras:
    """create_sdk_token's extras: an ``extra_body`` may add fields, not set its arguments'
    (in any spelling a lenient server might match: ``REDIRECT_URL``, ``redirectUrl``)."""
    extras = extras_of(*extra, secret=secret)
    if not extras.body:  # most calls
        return extras
    names = list(extras.body)
    if any(type(name) is not str for name in names):  # a str subclass may hash or compare apart
        raise InvalidInputError("extra_body's member names must be plain str")
    loose = {_loosely(name) for name in names}
    named = [field for field, loosely in _ARGUMENT_FIELDS_LOOSELY if loosely in loose]
    if named:
        raise InvalidInputError(
            f"extra_body must not set {', '.join(named)}: pass them as create_sdk_token's "
            "arguments (platforms, scopes, callback_url, redirect_url), where they are checked"
        )
    return extras


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
