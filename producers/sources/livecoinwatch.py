"""LiveCoinWatch HTTP client: the four endpoints the producers use, typed errors, one retry policy.

Every HTTP attempt (retries included) is reported to ``on_call`` because the API documents no
free calls: the budget must count failed attempts too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from producers.errors import (
    ApiError,
    AuthenticationError,
    DailyCreditsExhaustedError,
    MalformedResponseError,
    RateLimitedError,
    RequestRejectedError,
    RetryableApiError,
    ServerUnavailableError,
    TransportError,
    UnexpectedStatusError,
    missing_key_message,
)
from producers.retry import RetryPolicy, retry_async

log = logging.getLogger(__name__)

MAP_PAGE_SIZE = 100  # /coins/map answers at most 100 coins per call
JsonObject = dict[str, Any]


class Pacer(Protocol):
    """Spaces calls (``producers.budget.CallPacer``)."""

    async def before_call(self) -> None: ...

    def rate_limited(self, retry_after_seconds: float | None) -> None: ...

    def answered(self) -> None: ...


@dataclass(frozen=True)
class Credits:
    remaining: int
    limit: int


@dataclass(frozen=True)
class CoinsPage:
    """One /coins/map answer: the coin objects as sent, validated later one by one."""

    coins: list[JsonObject]
    body: str


def map_pages(codes: Sequence[str]) -> list[list[str]]:
    """The codes split into /coins/map calls of at most 100."""
    return [list(codes[i : i + MAP_PAGE_SIZE]) for i in range(0, len(codes), MAP_PAGE_SIZE)]


def _retry_after_seconds(header: str | None) -> float | None:
    if header is None:
        return None
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # RFC 5322's "-0000" zone parses as a naive datetime; HTTP dates are always UTC.
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - time.time())


def _api_code(response: httpx.Response) -> int:
    """The error code from the documented error body, falling back to the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        return response.status_code
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else response.status_code


def _description(response: httpx.Response) -> str:
    try:
        body = response.json()
        description = body["error"]["description"]
        return str(description)[:200]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def raise_for_answer(endpoint: str, response: httpx.Response) -> None:
    if response.is_success:
        return
    code = _api_code(response)
    detail = f"{endpoint}: HTTP {response.status_code} (code {code}): {_description(response)}"
    if code == 401 or response.status_code == 401:
        raise AuthenticationError(missing_key_message(), status=401, endpoint=endpoint)
    if code == 429 or response.status_code == 429:
        raise RateLimitedError(
            detail,
            status=429,
            endpoint=endpoint,
            retry_after_seconds=_retry_after_seconds(response.headers.get("retry-after")),
        )
    if code in (500, 503) or response.status_code in (500, 503):
        raise ServerUnavailableError(
            detail,
            status=response.status_code,
            endpoint=endpoint,
            retry_after_seconds=_retry_after_seconds(response.headers.get("retry-after")),
        )
    if 400 <= response.status_code < 500:
        raise RequestRejectedError(detail, status=response.status_code, endpoint=endpoint)
    # Other statuses are not in the documented retry list: no retry within this call.
    raise UnexpectedStatusError(detail, status=response.status_code, endpoint=endpoint)


class LiveCoinWatchClient:
    """Async client. Use as ``async with LiveCoinWatchClient(...) as client``."""

    def __init__(
        self,
        *,
        api_key: SecretStr,
        base_url: str = "https://api.livecoinwatch.com",
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_call: Callable[[str], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self._api_key = api_key
        self._pacer = pacer
        self._retry = retry or RetryPolicy()
        self._on_call = on_call
        self._sleep: Callable[[float], Awaitable[None]] = sleep or asyncio.sleep
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout or httpx.Timeout(10.0, connect=5.0),
            transport=transport,
            headers={"content-type": "application/json", "accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"LiveCoinWatchClient(base_url={str(self._http.base_url)!r}, api_key=**********)"

    async def __aenter__(self) -> LiveCoinWatchClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, endpoint: str, payload: JsonObject, authenticated: bool) -> Any:
        """One HTTP attempt: the decoded answer, or a typed error."""
        headers = {"x-api-key": self._api_key.get_secret_value()} if authenticated else {}
        if self._pacer is not None:
            await self._pacer.before_call()
        if self._on_call is not None:
            self._on_call(endpoint)
        try:
            response = await self._http.post(endpoint, json=payload, headers=headers)
        except httpx.TimeoutException as error:
            raise TransportError(
                f"{endpoint}: timed out ({type(error).__name__})", endpoint=endpoint
            ) from None
        except httpx.TransportError as error:
            raise TransportError(
                f"{endpoint}: connection failed ({type(error).__name__})", endpoint=endpoint
            ) from None
        try:
            raise_for_answer(endpoint, response)
        except RateLimitedError as error:
            if self._pacer is not None:
                self._pacer.rate_limited(error.retry_after_seconds)
            raise
        if self._pacer is not None:
            self._pacer.answered()
        text = response.text
        try:
            return json.loads(text) if text.strip() else {}
        except ValueError as error:
            raise MalformedResponseError(
                f"{endpoint}: the answer is not JSON ({error})", endpoint=endpoint, body=text
            ) from None

    def _may_mean_exhausted(self, error: RateLimitedError) -> bool:
        """A 429 is either a burst limit (short ``Retry-After``) or spent daily credits; the
        code is the same, and the text must not decide. No short ``Retry-After``: ask."""
        wait = error.retry_after_seconds
        return wait is None or wait > self._retry.max_seconds

    async def _credits_spent(self) -> bool:
        """One ``/credits`` look, never retried: True when the key's daily credits are spent
        (it says 0 left, or refuses with a 429 too, as a spent key does)."""
        try:
            body = await self._send("/credits", {}, True)
        except RateLimitedError as error:
            return self._may_mean_exhausted(error)
        except ApiError:
            return False  # cannot tell: treat the 429 as transient
        try:
            return int(body["dailyCreditsRemaining"]) <= 0
        except (KeyError, TypeError, ValueError):
            return False

    async def _post_once(self, endpoint: str, payload: JsonObject, authenticated: bool) -> Any:
        try:
            return await self._send(endpoint, payload, authenticated)
        except RateLimitedError as error:
            if not self._may_mean_exhausted(error):
                raise
            # Wait as a retry would, so a burst limit is over before the look.
            await self._sleep(self._retry.backoff_seconds(1, None))
            if await self._credits_spent():
                raise DailyCreditsExhaustedError(
                    f"{endpoint}: HTTP 429 and /credits confirms the key's daily credits are "
                    "spent: no more calls until 00:00 UTC",
                    status=429,
                    endpoint=endpoint,
                ) from None
            raise

    async def _post(
        self,
        endpoint: str,
        payload: JsonObject,
        authenticated: bool = True,
        *,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """The answer after the retry policy. With ``parse`` (which raises
        MalformedResponseError on a wrong shape), a malformed answer is retried too."""

        async def attempt() -> Any:
            body = await self._post_once(endpoint, payload, authenticated)
            return parse(body) if parse is not None else body

        retry_on: tuple[type[BaseException], ...] = (RetryableApiError,)
        if parse is not None:
            retry_on = (RetryableApiError, MalformedResponseError)
        return await retry_async(
            attempt,
            replace(self._retry, retry_on=retry_on),
            sleep=self._sleep,
            describe=endpoint,
        )

    async def status(self) -> None:
        await self._post("/status", {}, authenticated=False)

    async def credits(self) -> Credits:
        """The key's credits; an answer of the wrong shape is asked again (retry policy)."""

        def credits_from(body: Any) -> Credits:
            try:
                return Credits(
                    remaining=int(body["dailyCreditsRemaining"]),
                    limit=int(body["dailyCreditsLimit"]),
                )
            except (KeyError, TypeError, ValueError) as error:
                raise MalformedResponseError(
                    f"/credits: unexpected answer ({type(error).__name__}: {error})",
                    endpoint="/credits",
                    body=json.dumps(body)[:2000],
                ) from None

        result: Credits = await self._post("/credits", {}, parse=credits_from)
        return result

    async def coins_map(
        self, codes: Sequence[str], currency: str, *, meta: bool = True
    ) -> list[CoinsPage]:
        """Every requested coin, one call per 100 codes."""
        return [await self.coins_map_page(chunk, currency, meta=meta) for chunk in map_pages(codes)]

    async def coins_map_page(
        self, codes: Sequence[str], currency: str, *, meta: bool = True
    ) -> CoinsPage:
        """One /coins/map call for at most 100 codes."""
        if not 0 < len(codes) <= MAP_PAGE_SIZE:
            raise ValueError(f"/coins/map takes 1 to {MAP_PAGE_SIZE} codes, not {len(codes)}")
        body = await self._post(
            "/coins/map",
            {
                "codes": list(codes),
                "currency": currency,
                "sort": "rank",
                "order": "ascending",
                "offset": 0,
                "limit": len(codes),
                "meta": meta,
            },
        )
        if not isinstance(body, list):
            raise MalformedResponseError(
                "/coins/map: expected a JSON array",
                endpoint="/coins/map",
                body=json.dumps(body),
            )
        return CoinsPage(
            coins=[c if isinstance(c, dict) else {"_raw": c} for c in body],
            body=json.dumps(body),
        )

    async def history(
        self, code: str, currency: str, start_ms: int, end_ms: int
    ) -> list[JsonObject]:
        """The points of ``code`` in [start_ms, end_ms] (both inclusive), as sent. A body
        that is not the documented shape is asked again (bounded by the retry policy): a
        truncated answer is usually transient, and the backfill must not stop for one."""

        def points(body: Any) -> list[JsonObject]:
            history = body.get("history") if isinstance(body, dict) else None
            if not isinstance(history, list):
                raise MalformedResponseError(
                    "/coins/single/history: no history array in the answer",
                    endpoint="/coins/single/history",
                    body=json.dumps(body)[:2000],
                )
            # Non-object entries are kept (wrapped) so validation reports them.
            return [point if isinstance(point, dict) else {"_raw": point} for point in history]

        result: list[JsonObject] = await self._post(
            "/coins/single/history",
            {"currency": currency, "code": code, "start": start_ms, "end": end_ms, "meta": False},
            parse=points,
        )
        return result
