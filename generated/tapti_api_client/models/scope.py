from enum import StrEnum

from .._unknown import unknown_member


class Scope(StrEnum):
    ANALYTICS_READ = "ANALYTICS_READ"
    COMMENTS_READ = "COMMENTS_READ"
    COMMENTS_WRITE = "COMMENTS_WRITE"
    CONTENT_READ = "CONTENT_READ"
    CONTENT_WRITE = "CONTENT_WRITE"
    PROFILE_READ = "PROFILE_READ"
    PROFILE_WRITE = "PROFILE_WRITE"

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def _missing_(cls, value: object) -> "Scope | None":
        # A value the API added after this was generated: kept while a response is parsed.
        return unknown_member(cls, value)
