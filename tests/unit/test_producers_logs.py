"""Structured log lines, and the secrets filter as a last line of defence."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from producers import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield io.StringIO()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_text_lines_carry_key_value_fields(stream: io.StringIO) -> None:
    logs.configure_logging("INFO", "text", stream=stream)
    logging.getLogger("producers.stream").info(
        "cycle",
        extra={
            "fields": {
                "coins_published": 10,
                "credits_left": 8123,
                "interval_s": 9.6,
                "note": "two words",
            }
        },
    )
    line = stream.getvalue().strip()
    assert line.endswith(
        'cycle coins_published=10 credits_left=8123 interval_s=9.6 note="two words"'
    )
    assert line.split()[0].endswith("Z")
    assert " INFO producers.stream " in line


def test_json_lines_are_one_object_each(stream: io.StringIO) -> None:
    logs.configure_logging("INFO", "json", stream=stream)
    logging.getLogger("producers.stream").info("cycle", extra={"fields": {"credits_left": None}})
    record = json.loads(stream.getvalue())
    assert record["event"] == "cycle"
    assert record["credits_left"] is None
    assert record["level"] == "INFO"


def test_secrets_are_masked_even_if_someone_logs_them(stream: io.StringIO) -> None:
    logs.configure_logging("DEBUG", "text", secrets=["sekrit-api-key"], stream=stream)
    logging.getLogger("producers.sources.livecoinwatch").warning(
        "calling with %s", "sekrit-api-key"
    )
    assert "sekrit-api-key" not in stream.getvalue()
    assert logs.MASK in stream.getvalue()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_masked_in_fields_and_tracebacks(stream: io.StringIO, fmt: str) -> None:
    logs.configure_logging("DEBUG", fmt, secrets=["sekrit-api-key"], stream=stream)
    log = logging.getLogger("producers.sources.livecoinwatch")
    log.info("request", extra={"fields": {"headers": {"x-api-key": "sekrit-api-key"}}})
    try:
        raise RuntimeError("header x-api-key: sekrit-api-key rejected")
    except RuntimeError:
        log.exception("call failed")
    text = stream.getvalue()
    assert "sekrit-api-key" not in text
    assert text.count(logs.MASK) >= 2
    if fmt == "json":
        assert all(json.loads(line) for line in text.splitlines() if line.startswith("{"))
