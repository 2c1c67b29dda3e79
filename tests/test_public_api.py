"""What `import tapti_ext` offers, and what it costs before anything is used."""

from __future__ import annotations

import builtins
import collections.abc
import inspect
import re
import subprocess
import sys
import typing

import httpx2
import tapti_api_client.models
from tapti_api_client import AuthenticatedClient

import tapti_ext
import tapti_ext.testing


def test_every_public_name_resolves_and_all_is_complete() -> None:
    assert set(tapti_ext.__all__) == {*tapti_ext._HOMES, "__version__"}
    for name in tapti_ext.__all__:
        assert getattr(tapti_ext, name) is not None, name
    assert dir(tapti_ext) == sorted(tapti_ext.__all__)


def test_enums_are_the_generated_ones() -> None:
    assert tapti_ext.Platform is tapti_api_client.models.Platform
    assert tapti_ext.Scope is tapti_api_client.models.Scope


def test_importing_the_package_and_the_pytest_plugin_loads_no_http_stack() -> None:
    heavy = ("httpx2", "tapti_api_client", "tapti_ext._client")
    code = (
        "import sys, tapti_ext, tapti_ext.testing._pytest_plugin; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_public_signatures_show_public_types() -> None:
    import inspect  # noqa: PLC0415
    import re  # noqa: PLC0415
    import typing  # noqa: PLC0415

    for calls in (tapti_ext.User, tapti_ext.AsyncUser):
        for name in ("create_sdk_token", "createSDKToken"):
            method = getattr(calls, name)
            assert typing.get_type_hints(method)["return"] is tapti_ext.SdkToken
            parameters = list(inspect.signature(method).parameters.values())[1:]  # not self
            for parameter in parameters:
                annotation = str(parameter.annotation)
                named = re.findall(r"[A-Za-z_][\w.]*", annotation)
                private = [n for n in named if n.rpartition(".")[2].startswith("_")]
                assert not private, f"{name}({parameter.name}: {annotation})"
    raw = inspect.signature(tapti_ext.UserWithRawResponse.create_sdk_token).return_annotation
    assert raw == "APIResponse"
    for client, lent in ((tapti_ext.Tapti, "Client"), (tapti_ext.AsyncTapti, "AsyncClient")):
        http_client = inspect.signature(client).parameters["http_client"]
        assert http_client.annotation == f"httpx2.{lent} | None"

        class Inherits(client):  # type: ignore[misc,valid-type]
            pass

        class Own(client):  # type: ignore[misc,valid-type]
            def __init__(self, region: str) -> None:
                super().__init__(api_key="k")

        assert inspect.signature(Inherits) == inspect.signature(client)
        assert list(inspect.signature(Own).parameters) == ["region"]
        documented = client.__doc__ or ""
        for parameter in inspect.signature(client).parameters:
            assert f"{parameter}:" in documented, f"{client.__name__} does not document {parameter}"


def test_a_subclass_made_by_another_constructor_shows_that_constructors_signature() -> None:
    """Only a subclass with an ``__init__`` of its own dropped the clients' signature: one from a
    mixin, ``@dataclass`` or a ``__new__`` of its own showed Tapti's arguments, not its own."""
    import dataclasses  # noqa: PLC0415

    class Mixin:
        def __init__(self, region: str) -> None:
            self.region = region

    for client in (tapti_ext.Tapti, tapti_ext.AsyncTapti):

        class FromMixin(Mixin, client):  # type: ignore[misc,valid-type]
            pass

        @dataclasses.dataclass(init=True, eq=False)
        class Made(client):  # type: ignore[misc,valid-type]
            region: str = "eu"

        class New(client):  # type: ignore[misc,valid-type]
            def __new__(cls, region: str) -> New:
                return super().__new__(cls)

        assert list(inspect.signature(FromMixin).parameters) == ["region"]
        assert list(inspect.signature(Made).parameters) == ["region"]
        assert list(inspect.signature(New).parameters) == ["region"]


def test_help_text_under_python_oo_is_none_as_for_any_class() -> None:
    code = (
        "import tapti_ext; print(repr(tapti_ext.Tapti.__doc__), repr(tapti_ext.AsyncTapti.__doc__))"
    )
    result = subprocess.run(
        [sys.executable, "-OO", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["None", "None"]


def _public_callables() -> list[tuple[str, object]]:
    """Every public function, class and method (inherited ones and properties' getters too)."""
    found: list[tuple[str, object]] = []
    for module in (tapti_ext, tapti_ext.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value):
                found.append((name, value))
            if not inspect.isclass(value):
                continue
            found.append((name, value))
            for owner in reversed(value.__mro__[:-1]):
                for member, attribute in vars(owner).items():
                    if member.startswith("_") and member != "__init__":
                        continue
                    getter = attribute.fget if isinstance(attribute, property) else attribute
                    if inspect.isfunction(getter):
                        found.append((f"{name}.{member}", getter))
    return found


def test_type_hints_of_every_public_callable_resolve_at_run_time() -> None:
    """typeguard, beartype, FastAPI and IDEs call get_type_hints: a name imported only for
    type checkers made it raise NameError on the raw-response calls and on ``raw``."""
    callables = _public_callables()
    assert len(callables) > 100
    unresolved = {}
    for label, member in callables:
        try:
            typing.get_type_hints(member)
        except NameError as exc:
            unresolved[label] = str(exc)
    assert unresolved == {}
    raw_call = tapti_ext.UserWithRawResponse.create_sdk_token
    assert typing.get_type_hints(raw_call)["return"] is tapti_ext.APIResponse
    assert typing.get_type_hints(tapti_ext.Tapti.raw.fget)["return"] is AuthenticatedClient


def _annotation_names(annotation: object) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", str(annotation)))


def test_every_name_in_a_public_signature_can_be_imported() -> None:
    """A user annotating their own wrapper needs the types the SDK's signatures name: those
    were PlatformLike, ScopeLike, JSONValue and OperationModule, not exported."""
    known = (
        set(dir(builtins))
        | set(typing.__all__)
        | set(collections.abc.__all__)
        | {"httpx2", "Self", *dir(httpx2), *tapti_api_client.models.__all__}
        | set(tapti_ext.__all__)
    )
    unknown: dict[str, set[str]] = {}
    for name in tapti_ext.__all__:
        value = getattr(tapti_ext, name)
        members = [(name, value)]
        if inspect.isclass(value):
            members += [
                (f"{name}.{member}", attribute)
                for member, attribute in vars(value).items()
                if callable(attribute) and (not member.startswith("_") or member == "__init__")
            ]
        for label, member in members:
            try:
                signature = inspect.signature(member)
            except (TypeError, ValueError):  # a class without its own signature
                continue
            annotations = [p.annotation for p in signature.parameters.values()]
            for annotation in [*annotations, signature.return_annotation]:
                if annotation is not inspect.Parameter.empty:
                    for missing in _annotation_names(annotation) - known:
                        unknown.setdefault(missing, set()).add(label)
    assert unknown == {}


def test_help_on_a_response_error_lists_what_it_carries() -> None:
    import pydoc  # noqa: PLC0415

    for error, carries in [
        (tapti_ext.APIStatusError, ("status_code", "request_id", "body", "response")),
        (tapti_ext.APIResponseValidationError, ("status_code", "request_id", "response")),
        (tapti_ext.RateLimitError, ("retry_after",)),
        (tapti_ext.APIConnectionError, ("request",)),
    ]:
        text = pydoc.render_doc(error, renderer=pydoc.plaintext)
        for attribute in carries:
            assert f"{attribute} (" in text, f"help({error.__name__}) omits {attribute}"


def test_help_on_a_public_class_names_no_private_class() -> None:
    """``help()`` lists a class's bases and what it inherits from each: a base named with a
    leading underscore reads as something the user must not touch (httpx's clients show
    ``BaseClient``, a public name in a private module, and so do these)."""
    import tapti_ext.testing  # noqa: PLC0415

    bases_of = {
        f"{module.__name__}.{name}": [base.__qualname__ for base in value.__mro__]
        for module in (tapti_ext, tapti_ext.testing)
        for name in module.__all__
        if inspect.isclass(value := getattr(module, name))
    }
    assert len(bases_of) > 20  # the clients, the user classes, every error, the kit's classes
    assert {
        name: bases for name, bases in bases_of.items() if any(b.startswith("_") for b in bases)
    } == {}


def test_help_speaks_to_users_not_maintainers() -> None:
    """What ``help()`` and the reference page show: no build commands, no notes on how the SDK
    itself is made (those belong in comments and CONTRIBUTING.md)."""
    import pydoc  # noqa: PLC0415

    import tapti_ext.testing  # noqa: PLC0415

    maintainers_words = re.compile(r"\bmake (generate|test|bench|docs)\b|CONTRIBUTING|noqa")
    for module in (tapti_ext, tapti_ext.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if name == "__version__" or not (inspect.isclass(value) or callable(value)):
                continue
            text = pydoc.render_doc(value, renderer=pydoc.plaintext)
            found = maintainers_words.search(text)
            assert found is None, f"help({name}) says {found and found.group()!r}"
