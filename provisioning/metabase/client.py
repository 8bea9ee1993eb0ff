"""A small, typed httpx client for the Metabase REST API with bounded retries.

Retry policy: GET/PUT/DELETE (idempotent) are retried on connection errors, timeouts, 500 and
502/503/504. A POST is retried only when it certainly did not reach Metabase: the connection
failed (``httpx.ConnectError``/``ConnectTimeout``) or Metabase answered 503 while starting. A
POST that timed out waiting for its answer, or got a 500/502/504, may already have created the
object: the client raises at once and the caller looks before posting again (a second
``POST /api/card`` makes a duplicate card, a second ``POST /api/setup`` answers 403).
Everything else (4xx) fails at once with the method, path, status and response body.

Request bodies are never logged or put in errors (they carry passwords), and every known
secret is masked in response bodies before they reach an error message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import httpx

from producers.logs import Redactor
from producers.retry import RetryPolicy, retry_sync
from provisioning.metabase.errors import ContractError, MetabaseApiError, MetabaseUnreachableError

log = logging.getLogger(__name__)

SESSION_HEADER = "X-Metabase-Session"
IDEMPOTENT_RETRIED_STATUSES = frozenset({500, 502, 503, 504})
# Metabase answers 503 while it starts: nothing was processed, so even a POST may repeat.
NOT_PROCESSED_STATUSES = frozenset({503})
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE", "HEAD"})
# Waits double from ``retry_wait_seconds`` up to this.
RETRY_MAX_SECONDS = 30.0

JsonObject = dict[str, Any]


class _RetryableStatusError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _retryable_for(method: str) -> Callable[[BaseException], bool]:
    idempotent = method in IDEMPOTENT_METHODS

    def retryable(error: BaseException) -> bool:
        if isinstance(error, _RetryableStatusError):
            return True  # _send_once raises it only for statuses this method may repeat
        if idempotent:
            return isinstance(error, httpx.TransportError)
        return isinstance(error, NOT_SENT_ERRORS)

    return retryable


class MetabaseClient:
    """JSON calls against `<base_url>/api/...`, authenticated once a session is set."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 60.0,
        attempts: int = 5,
        retry_wait_seconds: float = 1.0,
        secrets: Iterable[str] = (),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self._attempts = attempts
        self._retry = RetryPolicy(
            attempts=attempts,
            initial_seconds=retry_wait_seconds,
            max_seconds=RETRY_MAX_SECONDS,
            jitter=False,
        )
        self._redact = Redactor(secrets)
        self.calls: list[tuple[str, str]] = []

    def __enter__(self) -> MetabaseClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def use_session(self, session_id: str) -> None:
        self._redact.add([session_id])
        self._http.headers[SESSION_HEADER] = session_id

    def mask(self, text: str) -> str:
        return self._redact(text)

    def probe(self, path: str) -> int | None:
        """One unretried GET: the status code, or None when nothing answered."""
        try:
            return self._http.get(path).status_code
        except httpx.TransportError:
            return None

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: JsonObject | None = None) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: JsonObject) -> Any:
        return self.request("PUT", path, body=body)

    def get_object(self, path: str, params: dict[str, Any] | None = None) -> JsonObject:
        answer = self.get(path, params)
        if not isinstance(answer, dict):
            raise ContractError(f"GET {path}: expected a JSON object, got {type(answer).__name__}")
        return answer

    def get_list(self, path: str, params: dict[str, Any] | None = None) -> list[JsonObject]:
        """A listing endpoint; newer Metabase versions wrap lists as {"data": [...]}."""
        answer = self.get(path, params)
        if isinstance(answer, dict) and isinstance(answer.get("data"), list):
            answer = answer["data"]
        if not isinstance(answer, list):
            raise ContractError(f"GET {path}: expected a list, got {type(answer).__name__}")
        return [item for item in answer if isinstance(item, dict)]

    def request(
        self,
        method: str,
        path: str,
        *,
        body: JsonObject | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        calls_before = len(self.calls)
        try:
            response = retry_sync(
                lambda: self._send_once(method, path, body, params),
                replace(self._retry, retry_on=_retryable_for(method)),
                describe=f"metabase call {method} {path}",
            )
        except _RetryableStatusError as exhausted:
            raise self._api_error(method, path, exhausted.response) from None
        except httpx.TransportError as error:
            raise MetabaseUnreachableError(
                method,
                path,
                len(self.calls) - calls_before,
                f"{type(error).__name__}: {self.mask(str(error))}",
            ) from None
        if response.status_code >= 400:
            raise self._api_error(method, path, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ContractError(
                f"{method} {path}: answer is not JSON: {self.mask(response.text[:500])}"
            ) from None

    def _send_once(
        self, method: str, path: str, body: JsonObject | None, params: dict[str, Any] | None
    ) -> httpx.Response:
        self.calls.append((method, path))
        response = self._http.request(method, path, json=body, params=params)
        retryable = response.status_code in (
            IDEMPOTENT_RETRIED_STATUSES if method in IDEMPOTENT_METHODS else NOT_PROCESSED_STATUSES
        )
        if retryable:
            raise _RetryableStatusError(response)
        return response

    def _api_error(self, method: str, path: str, response: httpx.Response) -> MetabaseApiError:
        return MetabaseApiError(method, path, response.status_code, self.mask(response.text))
