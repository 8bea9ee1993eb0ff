"""Every fault path of the LiveCoinWatch client, against the fake API in process."""

from __future__ import annotations

import datetime as dt
import logging
import time

import httpx
import pytest
from pydantic import SecretStr

from producers.errors import (
    AuthenticationError,
    DailyCreditsExhaustedError,
    MalformedResponseError,
    RateLimitedError,
    RequestRejectedError,
    ServerUnavailableError,
    TransportError,
)
from producers.retry import RetryPolicy
from producers.sources.livecoinwatch import LiveCoinWatchClient
from tests.support.fake_livecoinwatch import FakeLiveCoinWatch

KEY = "secret-key-do-not-print-4242"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client_for(
    fake: FakeLiveCoinWatch, sleeps: Sleeps, attempts: int = 4, calls: list[str] | None = None
) -> LiveCoinWatchClient:
    return fake.client(
        retry=RetryPolicy(attempts=attempts, initial_seconds=0.5, max_seconds=8.0),
        sleep=sleeps,
        on_call=(calls.append if calls is not None else None),
    )


@pytest.fixture
def fake() -> FakeLiveCoinWatch:
    return FakeLiveCoinWatch(api_key=KEY)


async def test_coins_map_returns_every_requested_coin(fake: FakeLiveCoinWatch) -> None:
    async with client_for(fake, Sleeps()) as client:
        pages = await client.coins_map(["BTC", "ETH"], "USD")
    assert [c["code"] for p in pages for c in p.coins] == ["BTC", "ETH"]
    (call,) = fake.calls
    assert call.body["meta"] is True
    assert call.body["currency"] == "USD"
    assert call.api_key == KEY


async def test_coins_map_pages_by_one_hundred(fake: FakeLiveCoinWatch) -> None:
    codes = [f"C{i:03d}" for i in range(250)]
    fake.coin_overrides = {code: {} for code in codes}
    async with client_for(fake, Sleeps()) as client:
        pages = await client.coins_map(codes, "USD")
    assert [len(p.coins) for p in pages] == [100, 100, 50]
    assert [len(c.body["codes"]) for c in fake.calls] == [100, 100, 50]


@pytest.mark.parametrize("status", [500, 503])
async def test_retryable_statuses_are_retried_with_backoff(
    fake: FakeLiveCoinWatch, status: int
) -> None:
    fake.fail_next(status, times=2)
    sleeps, calls = Sleeps(), list[str]()
    async with client_for(fake, sleeps, calls=calls) as client:
        credits = await client.credits()
    assert credits.limit == 10_000
    assert len(fake.calls) == 3
    assert len(calls) == 3, "every attempt is counted as a credit"
    assert len(sleeps.waits) == 2
    assert 0.25 <= sleeps.waits[0] <= 0.5
    assert 0.5 <= sleeps.waits[1] <= 1.0


async def test_a_bare_429_is_checked_against_credits_once_then_retried(
    fake: FakeLiveCoinWatch,
) -> None:
    # Burst limit or spent key? Same code, no Retry-After: one /credits look decides.
    fake.fail_next(429, times=2, endpoint="/coins/map")
    sleeps, calls = Sleeps(), list[str]()
    async with client_for(fake, sleeps, calls=calls) as client:
        pages = await client.coins_map(["BTC"], "USD")
    assert pages[0].coins[0]["code"] == "BTC"
    assert [c.endpoint for c in fake.calls] == [
        "/coins/map",
        "/credits",
        "/coins/map",
        "/credits",
        "/coins/map",
    ]
    assert len(calls) == 5, "every attempt, the look included, is counted as a credit"


async def test_a_429_of_a_spent_key_is_final_at_once(fake: FakeLiveCoinWatch) -> None:
    fake.credits_remaining = 0
    sleeps = Sleeps()
    async with client_for(fake, sleeps, attempts=6) as client:
        with pytest.raises(DailyCreditsExhaustedError):
            await client.coins_map(["BTC"], "USD")
        with pytest.raises(DailyCreditsExhaustedError):
            await client.history("BTC", "USD", 0, 3_600_000)
    # Per call: the refused one and a single /credits look, never retried.
    assert [c.endpoint for c in fake.calls] == [
        "/coins/map",
        "/credits",
        "/coins/single/history",
        "/credits",
    ]


async def test_a_429_with_a_retry_after_past_the_bound_is_checked_and_final(
    fake: FakeLiveCoinWatch,
) -> None:
    fake.exhausted_answer_retry_after = "3600"  # some servers say when the reset comes
    fake.credits_remaining = 0
    async with client_for(fake, Sleeps()) as client:
        with pytest.raises(DailyCreditsExhaustedError):
            await client.coins_map(["BTC"], "USD")
    assert len(fake.calls) == 2


async def test_a_burst_429_with_a_short_retry_after_is_retried_without_a_look(
    fake: FakeLiveCoinWatch,
) -> None:
    fake.fail_next(429, times=2, retry_after="1")
    sleeps = Sleeps()
    async with client_for(fake, sleeps) as client:
        await client.coins_map(["BTC"], "USD")
    assert [c.endpoint for c in fake.calls] == ["/coins/map"] * 3
    assert sleeps.waits == [1.0, 1.0]


async def test_retry_after_is_honoured(fake: FakeLiveCoinWatch) -> None:
    fake.fail_next(429, retry_after="3")
    sleeps = Sleeps()
    async with client_for(fake, sleeps) as client:
        await client.credits()
    assert sleeps.waits == [3.0]


async def test_retry_after_is_bounded(fake: FakeLiveCoinWatch) -> None:
    fake.fail_next(429, retry_after="3600", endpoint="/coins/map")
    sleeps = Sleeps()
    async with client_for(fake, sleeps) as client:
        await client.coins_map(["BTC"], "USD")
    # A wait longer than the bound may mean spent credits: one look, then the bounded wait.
    assert [c.endpoint for c in fake.calls] == ["/coins/map", "/credits", "/coins/map"]
    assert sleeps.waits[-1] == 8.0


async def test_retries_stop_at_the_bound(fake: FakeLiveCoinWatch) -> None:
    fake.fail_next(503, times=10)
    async with client_for(fake, Sleeps(), attempts=4) as client:
        with pytest.raises(ServerUnavailableError):
            await client.credits()
    assert len(fake.calls) == 4


async def test_rate_limit_error_after_the_bound(fake: FakeLiveCoinWatch) -> None:
    fake.fail_next(429, times=10, retry_after="1")
    async with client_for(fake, Sleeps(), attempts=3) as client:
        with pytest.raises(RateLimitedError):
            await client.credits()
    assert len(fake.calls) == 3


async def test_timeouts_are_retried(fake: FakeLiveCoinWatch) -> None:
    fake.fail_next("timeout", times=2)
    async with client_for(fake, Sleeps()) as client:
        pages = await client.coins_map(["BTC"], "USD")
    assert pages[0].coins[0]["code"] == "BTC"
    assert len(fake.calls) == 3


async def test_connection_errors_are_retried_then_typed() -> None:
    attempts = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    client = LiveCoinWatchClient(
        api_key=SecretStr(KEY),
        base_url="http://fake.invalid",
        transport=httpx.MockTransport(refuse),
        retry=RetryPolicy(3, 0.01, 0.02),
        sleep=Sleeps(),
    )
    async with client:
        with pytest.raises(TransportError) as caught:
            await client.status()
    assert len(attempts) == 3
    assert KEY not in str(caught.value)


async def test_unauthorised_stops_at_once_with_guidance(fake: FakeLiveCoinWatch) -> None:
    client = fake.client(retry=RetryPolicy(5, 0.01, 0.02), sleep=Sleeps(), api_key="wrong-key")
    async with client:
        with pytest.raises(AuthenticationError) as caught:
            await client.coins_map(["BTC"], "USD")
    assert len(fake.calls) == 1, "401 is never retried"
    assert "COINS_LCW_API_KEY" in str(caught.value)


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_other_client_errors_are_not_retried(fake: FakeLiveCoinWatch, status: int) -> None:
    fake.fail_next(status)
    async with client_for(fake, Sleeps()) as client:
        with pytest.raises(RequestRejectedError) as caught:
            await client.credits()
    assert caught.value.status == status
    assert len(fake.calls) == 1


async def test_malformed_json_is_typed_and_keeps_the_body(fake: FakeLiveCoinWatch) -> None:
    fake.fail_next("malformed")
    async with client_for(fake, Sleeps()) as client:
        with pytest.raises(MalformedResponseError) as caught:
            await client.coins_map(["BTC"], "USD")
    assert caught.value.body.startswith('[{"code"')
    assert "BTC" in caught.value.body
    assert len(fake.calls) == 1, "a malformed /coins/map answer is the stream's to handle"


async def test_a_malformed_history_answer_is_retried_then_kept_for_the_dead_letter(
    fake: FakeLiveCoinWatch,
) -> None:
    fake.fail_next("malformed", endpoint="/coins/single/history")
    async with client_for(fake, Sleeps()) as client:
        points = await client.history("BTC", "USD", 0, 3_600_000)
    assert (points[0]["date"], points[-1]["date"]) == (0, 3_600_000)
    fake.fail_next("malformed", times=4, endpoint="/coins/single/history")
    async with client_for(fake, Sleeps(), attempts=4) as client:
        with pytest.raises(MalformedResponseError) as caught:
            await client.history("BTC", "USD", 0, 3_600_000)
    assert caught.value.body.startswith('{"code"')
    assert len(fake.calls_to("/coins/single/history")) == 2 + 4


async def test_credits_exhausted_answers_429(fake: FakeLiveCoinWatch) -> None:
    fake.credits_remaining = 1
    async with client_for(fake, Sleeps(), attempts=2) as client:
        await client.credits()
        with pytest.raises(DailyCreditsExhaustedError):
            await client.coins_map(["BTC"], "USD")
    assert [c.status for c in fake.calls] == [200, 429, 429]


async def test_history_passes_ms_range_and_returns_points(fake: FakeLiveCoinWatch) -> None:
    start, end = 1_704_110_400_000, 1_704_110_400_000 + 3_600_000
    async with client_for(fake, Sleeps()) as client:
        points = await client.history("BTC", "USD", start, end)
    assert next(p["date"] for p in points) == start
    assert points[-1]["date"] == end
    assert fake.calls[0].body == {
        "currency": "USD",
        "code": "BTC",
        "start": start,
        "end": end,
        "meta": False,
    }


async def test_the_key_never_appears_in_logs_or_reprs(
    fake: FakeLiveCoinWatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next(429, times=2, retry_after="1")
    fake.fail_next("timeout")
    client = client_for(fake, Sleeps(), attempts=6)
    assert KEY not in repr(client)
    async with client:
        await client.credits()
    assert len(caplog.records) >= 3
    assert KEY not in caplog.text


@pytest.mark.parametrize("zone", ["GMT", "+0000", "-0000"])
async def test_retry_after_as_an_http_date_is_read_in_utc(
    fake: FakeLiveCoinWatch, monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    # A local zone far from UTC: an HTTP date must never be read as local time.
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
        fake.fail_next(429, retry_after=when.strftime(f"%a, %d %b %Y %H:%M:%S {zone}"))
        sleeps = Sleeps()
        async with client_for(fake, sleeps) as client:
            await client.credits()
    finally:
        monkeypatch.undo()
        time.tzset()
    (wait,) = sleeps.waits
    assert 3.0 <= wait <= 5.0


async def test_retry_after_in_the_past_or_unreadable_falls_back_to_backoff(
    fake: FakeLiveCoinWatch,
) -> None:
    fake.fail_next(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    fake.fail_next(503, retry_after="soon")
    sleeps = Sleeps()
    async with client_for(fake, sleeps) as client:
        await client.credits()
    assert sleeps.waits[0] == 0.0
    assert 0.5 <= sleeps.waits[1] <= 1.0
