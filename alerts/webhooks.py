"""Webhook bodies and the HTTP call, one shape per service.

Shapes, from each service's documentation:
- generic: the alert itself as JSON (``contracts/coins_alerts.example.json``), plus the header
  ``Idempotency-Key: <alert id>``;
- Slack incoming webhooks (https://api.slack.com/messaging/webhooks): ``{"text": ...}`` with
  ``blocks`` (``text`` is the notification fallback); ``&``, ``<`` and ``>`` are escaped because
  Slack reads them as markup;
- Discord "Execute Webhook" (https://discord.com/developers/docs/resources/webhook#execute-webhook):
  ``{"content": ..., "embeds": [...]}``; content at most 2,000 characters, embed title 256,
  description 4,096, ``timestamp`` ISO-8601;
- ntfy "Publish as JSON" (binwiederhier/ntfy ``docs/publish.md``): POST to the server's root
  URL with ``{"topic", "message", "title", "tags", "priority"}``; a token goes in
  ``Authorization: Bearer``.
Every request carries ``Idempotency-Key`` and ``X-Alert-Id`` with the alert's stable id, so a
receiver can drop the rare redelivery after a restart.

Errors never carry the URL or a token: messages name the webhook, the status and the reason.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from alerts.models import AlertMessage
from alerts.settings import WebhookConfig
from producers.errors import RetryableApiError
from producers.retry import RetryPolicy, retry_async

DISCORD_CONTENT_MAX = 2000
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 4096
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookRejectedError(Exception):
    """The receiver refused the alert for good (a 4xx other than 408/425/429)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class WebhookUnavailableError(RetryableApiError):
    """No answer, or an answer worth retrying (5xx, 408, 425, 429)."""


def _title(alert: AlertMessage) -> str:
    target = "pipeline" if alert.coin == "*" else alert.coin
    return f"{target}: {alert.rule_id}"


def _when(alert: AlertMessage) -> str:
    moment = dt.datetime.fromtimestamp(alert.event_time_ms / 1000, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _values_text(alert: AlertMessage) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in sorted(alert.values.items()))


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(webhook: WebhookConfig, alert: AlertMessage) -> dict[str, Any]:
    """The JSON body for ``webhook``'s service."""
    if webhook.kind == "slack":
        text = _slack_escape(alert.summary)
        return {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": _slack_escape(
                                f"{_when(alert)} · {_values_text(alert)} · id {alert.alert_id}"
                            ),
                        }
                    ],
                },
            ],
        }
    if webhook.kind == "discord":
        return {
            "content": _cut(alert.summary, DISCORD_CONTENT_MAX),
            "embeds": [
                {
                    "title": _cut(_title(alert), DISCORD_TITLE_MAX),
                    "description": _cut(_values_text(alert), DISCORD_DESCRIPTION_MAX),
                    "timestamp": _when(alert),
                    "footer": {"text": f"alert {alert.alert_id}"},
                }
            ],
            # an alert must never ping @everyone, whatever a summary contains
            "allowed_mentions": {"parse": []},
        }
    if webhook.kind == "ntfy":
        return {
            "topic": webhook.ntfy_topic,
            "title": _title(alert),
            "message": f"{alert.summary}\n{_when(alert)}",
            "tags": ["chart_with_upwards_trend", alert.rule_kind],
            "priority": 4,
        }
    return alert.model_dump(mode="json")


def headers(webhook: WebhookConfig, alert: AlertMessage) -> dict[str, str]:
    found = {
        "Content-Type": "application/json",
        "Idempotency-Key": alert.alert_id,
        "X-Alert-Id": alert.alert_id,
    }
    if webhook.token is not None:
        found["Authorization"] = f"Bearer {webhook.token.get_secret_value()}"
    return found


class WebhookSender:
    """POSTs alerts to one webhook with the project's retry policy (``producers/retry.py``)."""

    def __init__(
        self,
        webhook: WebhookConfig,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.webhook = webhook
        self._client = client
        self._policy = policy
        self._sleep = sleep
        self.attempts = 0
        self.last_status: int | None = None

    async def _post_once(self, alert: AlertMessage) -> None:
        self.attempts += 1
        body = json.dumps(payload(self.webhook, alert)).encode()
        try:
            response = await self._client.post(
                self.webhook.url.get_secret_value(),
                content=body,
                headers=headers(self.webhook, alert),
            )
        except httpx.HTTPError as error:
            self.last_status = None
            # the exception's text may quote the URL: keep only its type
            raise WebhookUnavailableError(
                f"webhook {self.webhook.name}: no answer ({type(error).__name__})"
            ) from None
        self.last_status = response.status_code
        if response.is_success:
            return
        if response.status_code in RETRYABLE_STATUSES:
            retry_after = response.headers.get("Retry-After", "")
            raise WebhookUnavailableError(
                f"webhook {self.webhook.name}: HTTP {response.status_code}",
                status=response.status_code,
                retry_after_seconds=float(retry_after) if retry_after.isdigit() else None,
            )
        raise WebhookRejectedError(
            f"webhook {self.webhook.name}: HTTP {response.status_code} (not retried)",
            response.status_code,
        )

    async def send(self, alert: AlertMessage) -> None:
        """Deliver or raise (WebhookRejectedError, or WebhookUnavailableError after the last
        attempt). ``attempts`` and ``last_status`` tell what happened."""
        self.attempts = 0
        self.last_status = None
        await retry_async(
            lambda: self._post_once(alert),
            self._policy,
            sleep=self._sleep,
            describe=f"alert {alert.alert_id} to webhook {self.webhook.name}",
        )
