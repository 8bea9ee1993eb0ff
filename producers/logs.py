"""The one logging setup of every console script: ``key=value`` text or JSON lines, UTC times.

``COINS_LOG_FORMAT`` (``text`` or ``json``) and ``COINS_LOG_LEVEL`` apply to every command;
each ``main`` listed in ``[project.scripts]`` is wrapped by ``console_script``, which configures
logging before the command runs. Loggers are named by module (``logging.getLogger(__name__)``).
Extra fields go in ``extra={"fields": {...}}``.

Secrets are masked by the formatter in the finished line (message, fields, traceback), however
they got there: the values registered with ``hide_secrets`` (every ``SecretStr`` of the
settings a command loaded), and what looks like a secret in any text (a URL's password, a
token in a query string, an ``Authorization`` header, a Slack or Discord webhook's path).
``Redactor`` is the one implementation; error messages built from server answers use it too.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, ParamSpec, TextIO, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from producers.env_settings import EnvSettings

__all__ = [
    "MASK",
    "JsonFormatter",
    "LogSettings",
    "Redactor",
    "TextFormatter",
    "configure_logging",
    "console_script",
    "hide_secrets",
    "redact",
]

MASK = "**********"
NOISY_LOGGERS = ("aiokafka", "httpx", "httpcore")

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class LogSettings(EnvSettings):
    """How every command logs: ``COINS_LOG_LEVEL``, ``COINS_LOG_FORMAT``."""

    model_config = SettingsConfigDict(env_prefix="COINS_")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of every command: DEBUG, INFO, WARNING or ERROR."""
    log_format: Literal["text", "json"] = "text"
    """Log lines of every command: text (key=value) or json (one object a line)."""


# Secrets recognisable by their place in a text; group 1 is kept, the rest becomes MASK.
_SECRET_PATTERNS = (
    # a URL's password: scheme://user:password@host
    re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@\"'\\]*:)[^\s/@\"'\\]+(?=@)", re.IGNORECASE),
    # a token in a query string: ?token=..., &apikey=..., &password=...
    re.compile(
        r"([?&](?:api[_-]?key|key|token|access[_-]?token|auth|password|passwd|secret|sig"
        r"|signature)=)[^&\s\"'\\]+",
        re.IGNORECASE,
    ),
    # Authorization: Bearer/Basic credentials
    re.compile(r"(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE),
    # an API key header as text: x-api-key: ..., "x-api-key": "..." (quotes escaped in JSON)
    re.compile(r"(x-api-key(?:\\?[\"'])?\s*[:=]\s*(?:\\?[\"'])?)[^\s\"',}\\]+", re.IGNORECASE),
    # webhook URLs whose path is the credential (Slack, Discord)
    re.compile(r"(hooks\.slack\.com/(?:services|workflows)/)[^\s\"'\\]+", re.IGNORECASE),
    re.compile(r"(discord(?:app)?\.com/api/webhooks/)[^\s\"'\\]+", re.IGNORECASE),
)


class Redactor:
    """Replaces known secret values, and text shaped like a secret, with ``MASK``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # A JSON line carries a secret escaped when it holds quotes or backslashes.
        forms = set(self._forms)
        for secret in secrets:
            if secret:
                forms.update((secret, json.dumps(secret)[1:-1]))
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, MASK)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(lambda match: match.group(1) + MASK, text)
        return text


_REDACTOR = Redactor()


def secret_values(*sources: object) -> list[str]:
    """Every ``SecretStr`` value in ``sources`` (settings models, nested models, lists, dicts),
    and any plain strings given."""
    found: list[str] = []

    def visit(value: object) -> None:
        # Inside a model only SecretStr counts: coin codes and hosts are not secrets.
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                visit(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                visit(item)

    for source in sources:
        if isinstance(source, str):
            found.append(source)
        else:
            visit(source)
    return [value for value in found if value]


def hide_secrets(*sources: object) -> None:
    """Mask these in every log line from now on: the ``SecretStr`` values of settings models
    (nested ones too) and plain strings."""
    _REDACTOR.add(secret_values(*sources))


def redact(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped part masked."""
    return _REDACTOR(text)


def _timestamp(record: logging.LogRecord) -> str:
    moment = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _format_value(value: Any) -> str:
    text = "null" if value is None else str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    """``2026-01-01T00:00:00.000Z INFO module message key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {}) or {}
        parts = [_timestamp(record), record.levelname, record.name, record.getMessage()]
        parts += [f"{key}={_format_value(value)}" for key, value in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``event``, the fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs (and replaces when called again)."""


def configure_logging(settings: LogSettings | None = None, stream: TextIO | None = None) -> None:
    """Send every logger to ``stream`` (stderr) in the format and level of ``settings``
    (the environment's when None). Calling it again replaces the previous setup."""
    settings = settings or LogSettings()
    handler = _ConsoleHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        # Only ours: a handler someone else installed (pytest's log capture) stays.
        if isinstance(existing, _ConsoleHandler):
            root.removeHandler(existing)
            existing.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # aiokafka and httpx are chatty at INFO (httpx logs every URL); their warnings still show.
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(
            max(logging.WARNING, logging.getLevelName(settings.log_level))
        )


def console_script(main: Callable[P, R]) -> Callable[P, R]:
    """Wrap a ``[project.scripts]`` entry point: logging is configured before it runs."""

    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            settings = LogSettings()
        except ValidationError as error:
            configure_logging(LogSettings.model_construct())
            problems = "; ".join(
                f"COINS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in error.errors()
            )
            log.error("invalid logging settings (%s); logging as text at INFO", problems)
        else:
            configure_logging(settings)
        log.debug("command starting", extra={"fields": {"entry_point": main.__module__}})
        return main(*args, **kwargs)

    return run
