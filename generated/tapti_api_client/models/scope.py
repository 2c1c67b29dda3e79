from enum import StrEnum


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
