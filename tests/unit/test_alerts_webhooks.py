"""Webhook bodies per service and the retry behaviour, with httpx.MockTransport."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from alerts.models import AlertMessage
from alerts.settings import AlertSettings, WebhookConfig
from alerts.webhooks import (
    DISCORD_CONTENT_MAX,
    WebhookRejectedError,
    WebhookSender,
    WebhookUnavailableError,
    payload,
)
from producers.logs import secret_values
from producers.retry import RetryPolicy

ALERT = AlertMessage(
    alert_id="abc123",
    rule_id="btc-above-100k",
    rule_kind="price_above",
    rules_version=3,
    coin="BTC",
    event_time_ms=1_735_732_800_000,
    fired_at_ms=1_735_732_800_100,
    summary="BTC 100,012.50 USD is above 100,000.00 <@everyone> & co",
    values={"rate": 100012.5, "level": 100000.0},
    source="demo",
)
URL = "https://hooks.example.test/services/T000/B000/very-secret"


def _hook(kind: str, **extra: Any) -> WebhookConfig:
    return WebhookConfig(name="team", kind=kind, url=SecretStr(URL), **extra)  # type: ignore[arg-type]


def test_generic_body_is_the_alert() -> None:
    assert payload(_hook("generic"), ALERT) == json.loads(ALERT.to_json_bytes())


def test_slack_body_has_escaped_text_and_blocks() -> None:
    body = payload(_hook("slack"), ALERT)
    assert body["text"] == "BTC 100,012.50 USD is above 100,000.00 &lt;@everyone&gt; &amp; co"
    assert [block["type"] for block in body["blocks"]] == ["section", "context"]


def test_discord_body_respects_limits_and_mentions_nobody() -> None:
    long_alert = ALERT.model_copy(update={"summary": "x" * 5000})
    body = payload(_hook("discord"), long_alert)
    assert len(body["content"]) == DISCORD_CONTENT_MAX
    assert body["allowed_mentions"] == {"parse": []}
    assert body["embeds"][0]["timestamp"] == "2025-01-01T12:00:00.000Z"


def test_ntfy_body_is_json_publish_with_topic() -> None:
    body = payload(_hook("ntfy", ntfy_topic="my-alerts"), ALERT)
    assert body["topic"] == "my-alerts"
    assert body["title"] == "BTC: btc-above-100k"
    assert body["priority"] in range(1, 6)


def test_ntfy_without_topic_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="ntfy_topic"):
        _hook("ntfy")


async def _send(hook: WebhookConfig, statuses: list[int]) -> tuple[WebhookSender, list[Any]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(statuses[min(len(seen), len(statuses)) - 1])

    async def no_sleep(_seconds: float) -> None:
        return None

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    sender = WebhookSender(hook, client, RetryPolicy(attempts=4, initial_seconds=0), no_sleep)
    try:
        await sender.send(ALERT)
    finally:
        await client.aclose()
    return sender, seen


async def test_retries_then_succeeds_with_idempotency_key_and_token() -> None:
    hook = _hook("ntfy", ntfy_topic="t", token=SecretStr("tk_token"))
    sender, seen = await _send(hook, [503, 429, 200])
    assert sender.attempts == 3
    assert {r.headers["Idempotency-Key"] for r in seen} == {"abc123"}
    assert seen[0].headers["Authorization"] == "Bearer tk_token"


async def test_gives_up_after_the_bound_without_quoting_the_url() -> None:
    with pytest.raises(WebhookUnavailableError) as raised:
        await _send(_hook("generic"), [503])
    assert "very-secret" not in str(raised.value)
    assert "HTTP 503" in str(raised.value)


async def test_a_4xx_is_not_retried() -> None:
    with pytest.raises(WebhookRejectedError) as raised:
        await _send(_hook("slack"), [404, 200])
    assert raised.value.status == 404


def test_settings_read_webhooks_as_json_and_mask_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "COINS_ALERTS_WEBHOOKS",
        json.dumps([{"name": "team", "kind": "slack", "url": URL}]),
    )
    settings = AlertSettings()
    assert settings.webhooks[0].kind == "slack"
    assert URL not in repr(settings)
    assert URL in secret_values(settings)
