"""What a lent ``http_client``'s cookie jar keeps: never a cookie an answer to a Tapti call sets.

httpx2's ``send`` stores every answer's cookies in the client's jar. From there one user's
session cookie would go with later calls: through any Tapti client made over the same
``http_client`` (it copies the jar), and through the program's own requests. So a cookie policy
stands in front of the jar's own and refuses them: they never enter the jar, not even for a
moment. It knows a Tapti call by its ``x-api-key`` header holding the key of a call under way
through that jar. Loaded only by a program that lends the SDK a client.
"""

from __future__ import annotations

import threading
from collections import Counter
from http import cookiejar
from typing import Any, Final

from ._names import API_KEY_HEADER

__all__ = ["JAR_POLICY", "RefusingAnswerCookies", "refusing_policy"]

# Where http.cookiejar.CookieJar keeps its policy, which has no public getter (pinned by a test;
# without it the SDK takes the jar's policy for the default one: a program's own is then lost).
JAR_POLICY: Final = "_policy"
_KEY_HEADER: Final = API_KEY_HEADER.capitalize()  # as a urllib Request files it
_INSTALLING: Final = threading.Lock()


class RefusingAnswerCookies(cookiejar.CookiePolicy):
    """The jar's own policy, but for the cookies of answers to Tapti calls under way."""

    def __init__(self, policy: Any) -> None:
        object.__setattr__(self, "policy", policy)
        # The keys of the calls under way through this jar: none is kept once its call ends.
        object.__setattr__(self, "calls", Counter())
        object.__setattr__(self, "lock", threading.Lock())

    def begin(self, api_key: str) -> None:
        with self.lock:
            self.calls[api_key] += 1

    def end(self, api_key: str) -> None:
        with self.lock:
            self.calls[api_key] -= 1
            if not self.calls[api_key]:
                del self.calls[api_key]

    def set_ok(self, cookie: cookiejar.Cookie, request: Any) -> bool:
        if request.get_header(_KEY_HEADER) in self.calls:
            return False
        return bool(self.policy.set_ok(cookie, request))

    # Written out, not left to __getattr__: httpx2's jar looks them up on the class.
    def return_ok(self, cookie: cookiejar.Cookie, request: Any) -> bool:
        return bool(self.policy.return_ok(cookie, request))

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return bool(self.policy.domain_return_ok(domain, request))

    def path_return_ok(self, path: str, request: Any) -> bool:
        return bool(self.policy.path_return_ok(path, request))

    def __getattr__(self, name: str) -> Any:  # its settings (netscape, rfc2965...) are its own
        if name in {"policy", "calls", "lock"} or name.startswith("__"):
            raise AttributeError(name)  # a copy being made has none yet: no endless recursion
        return getattr(self.policy, name)

    def __setattr__(self, name: str, value: object) -> None:  # the jar sets its clock, _now
        setattr(self.policy, name, value)


class _RefusingWithDefaultMatching(RefusingAnswerCookies):
    """For a policy matching domains as ``DefaultCookiePolicy`` does: httpx2's jar then finds
    a request's cookies by its index (that policy's own method, looked up on the class) instead
    of trying every domain it holds (10,000 cookies: 150 µs a request against 12 ms)."""

    domain_return_ok = cookiejar.DefaultCookiePolicy.domain_return_ok


def refusing_policy(jar: cookiejar.CookieJar) -> RefusingAnswerCookies:
    """The refusing policy in front of ``jar``'s own, stood there now if it is not already (a
    program may replace its client's jar, or the jar's policy)."""
    policy = getattr(jar, JAR_POLICY, None)
    if isinstance(policy, RefusingAnswerCookies):
        return policy
    with _INSTALLING:  # one policy per jar, whichever thread's first call stands it there
        policy = getattr(jar, JAR_POLICY, None)
        if not isinstance(policy, RefusingAnswerCookies):
            own = policy if policy is not None else cookiejar.DefaultCookiePolicy()
            default = type(own).domain_return_ok is cookiejar.DefaultCookiePolicy.domain_return_ok
            kind = _RefusingWithDefaultMatching if default else RefusingAnswerCookies
            policy = kind(own)
            jar.set_policy(policy)
    return policy
