"""Errors of the Metabase provisioner: each says which call failed, with which status and body."""

from __future__ import annotations

BODY_EXCERPT_CHARS = 2000


class MetabaseError(RuntimeError):
    """Base class: the provisioner cannot continue."""


class MetabaseApiError(MetabaseError):
    """Metabase answered a call with an error status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body[:BODY_EXCERPT_CHARS]
        super().__init__(f"{method} {path} -> HTTP {status}: {self.body or '(empty body)'}")


class MetabaseUnreachableError(MetabaseError):
    """Metabase could not be reached (connection refused, timeout) after every retry."""

    def __init__(self, method: str, path: str, attempts: int, reason: str) -> None:
        self.method = method
        self.path = path
        super().__init__(f"{method} {path}: no answer after {attempts} attempts ({reason})")


class SetupTokenMissingError(MetabaseError):
    """Metabase has no admin yet but did not publish a setup token."""


class ContractError(MetabaseError):
    """Metabase answered with a shape this provisioner does not understand (version drift)."""
