"""``coins stream``: fetch every coin once per cycle and publish one message per coin.

Two tasks joined by a bounded queue: the fetcher keeps the cadence the credit budget allows,
the sender publishes and waits for Kafka's acknowledgement. A broker outage therefore never
drops a fetched tick: the queue holds them (and, once full, the fetcher waits instead of
spending credits on data it could not keep). On stop, the fetcher ends first, then the
sender flushes what is queued within the shutdown timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from producers.budget import CreditBudget
from producers.clock import Clock, next_reset_ms, seconds_clock, utc_datetime
from producers.errors import (
    AuthenticationError,
    CreditsExhaustedError,
    DailyCreditsExhaustedError,
    MalformedResponseError,
    RateLimitedError,
    RetryableApiError,
    UnexpectedStatusError,
)
from producers.kafka.publisher import Publisher, PublishTimeoutError, Record
from producers.models import DeadLetterMessage
from producers.retry import Deadline
from producers.sources.current import FetchResult, PriceSource
from producers.sources.livecoinwatch import Credits

log = logging.getLogger(__name__)

# After the 00:00 UTC reset, wait a little so a slightly fast local clock does not call early.
RESET_GRACE_SECONDS = 5.0
# Cadence while /credits cannot be read: slow enough for the smallest plan to survive a day.
UNKNOWN_BUDGET_INTERVAL_SECONDS = 60.0
# First wait after a cycle that stayed rate limited through every retry; it doubles while
# that goes on, up to the 00:00 UTC reset (a key spent elsewhere also refuses /credits).
RATE_LIMITED_FIRST_WAIT_SECONDS = 60.0


def exit_reserve_seconds(shutdown_timeout_seconds: float) -> float:
    """Part of the shutdown timeout kept for closing the producer and exiting the process,
    so that the configured timeout is the total time from the signal to the exit."""
    return min(2.0, shutdown_timeout_seconds / 4)


@dataclass(frozen=True)
class StreamTopics:
    current: str
    dead_letter: str


@dataclass
class _Batch:
    cycle: int
    fetched_at_ms: int
    records: list[Record]
    coins: int
    dead_letters: int


@dataclass
class StreamStats:
    cycles: int = 0
    published_messages: int = 0
    dead_letters: int = 0
    failed_fetches: int = 0
    # Only the latest: a list of every tick would grow for as long as the stream runs.
    last_acknowledged_tick_ms: int | None = None


def records_for(result: FetchResult, topics: StreamTopics) -> list[Record]:
    records = [
        Record(topic=topics.current, key=m.code.encode(), value=m.to_json_bytes())
        for m in result.messages
    ]
    records += [
        Record(topic=topics.dead_letter, key=d.code.encode() or None, value=d.to_json_bytes())
        for d in result.dead_letters
    ]
    return records


class StreamRunner:
    def __init__(
        self,
        *,
        source: PriceSource,
        publisher: Publisher,
        clock: Clock,
        topics: StreamTopics,
        stop: asyncio.Event,
        budget: CreditBudget | None = None,
        read_credits: Callable[[], Awaitable[Credits]] | None = None,
        fixed_interval_seconds: float = 5.0,
        buffer_cycles: int = 10_000,
        shutdown_timeout_seconds: float = 30.0,
        max_cycles: int | None = None,
    ) -> None:
        if (budget is None) != (read_credits is None):
            raise ValueError("budget and read_credits go together")
        self._source = source
        self._publisher = publisher
        self._clock = clock
        self._topics = topics
        self._stop = stop
        self._budget = budget
        self._read_credits = read_credits
        self._fixed_interval = fixed_interval_seconds
        self._queue: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=buffer_cycles)
        self._shutdown_timeout = shutdown_timeout_seconds
        self._max_cycles = max_cycles
        self._deadline = Deadline(clock=seconds_clock(clock))
        self._fetch_done = asyncio.Event()
        self._lost_at_stop = 0
        self._rate_limited_streak = 0
        self.stats = StreamStats()

    async def run(self) -> StreamStats:
        """Run until stopped (or ``max_cycles``); raise PublishTimeoutError if the shutdown
        flush could not get every fetched tick acknowledged in time."""
        sender = asyncio.create_task(self._send_loop(), name="stream-sender")
        fetcher = asyncio.create_task(self._fetch_loop(), name="stream-fetcher")
        stopper = asyncio.create_task(self._stop.wait(), name="stream-stop")
        await asyncio.wait({fetcher, stopper, sender}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not fetcher.done():
            # Stop fetching at once; an HTTP call in flight has no data worth waiting for.
            fetcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({fetcher})
        fetch_error = None if fetcher.cancelled() else fetcher.exception()
        if self._stop.is_set() or fetch_error is not None:
            flush_seconds = self._shutdown_timeout - exit_reserve_seconds(self._shutdown_timeout)
            self._deadline.arm(flush_seconds)
        self._fetch_done.set()
        try:
            await sender
        except PublishTimeoutError as timeout:
            # The cycle the fetcher could not queue (buffer full) is unacknowledged too.
            if fetch_error is None:
                raise PublishTimeoutError(timeout.unacknowledged + self._lost_at_stop) from None
            raise
        finally:
            if fetch_error is not None:
                raise fetch_error
        if self._lost_at_stop:
            raise PublishTimeoutError(self._lost_at_stop)
        return self.stats

    # --- fetching ------------------------------------------------------------------------
    async def _refresh_credits(self) -> None:
        if self._budget is None or self._read_credits is None:
            return
        try:
            self._budget.update(await self._read_credits())
        except DailyCreditsExhaustedError as error:
            raise self._key_spent(error) from None
        except (RetryableApiError, UnexpectedStatusError, MalformedResponseError) as error:
            # Not fatal: the local count of calls keeps the budget honest until next time.
            log.warning("could not refresh /credits: %s", error)

    def _key_spent(self, error: DailyCreditsExhaustedError) -> CreditsExhaustedError:
        """A credits-exhausted 429 is final until the reset: no retry, no more /credits."""
        return CreditsExhaustedError(
            next_reset_ms(self._clock.now_ms()),
            f"daily credits of the key spent (LiveCoinWatch refused: {error})",
        )

    async def _pause_until(self, resume_at_ms: int, reason: str) -> None:
        seconds = max(0.0, (resume_at_ms - self._clock.now_ms()) / 1000) + RESET_GRACE_SECONDS
        log.warning(
            "%s: pausing until %s (%.0f s)",
            reason,
            utc_datetime(resume_at_ms).isoformat(),
            seconds,
        )
        await self._clock.wait(seconds, self._stop)

    async def _fetch_once(self) -> FetchResult | None:
        now = self._clock.now_ms()
        try:
            result = await self._source.fetch()
            self._rate_limited_streak = 0
            return result
        except AuthenticationError:
            raise
        except DailyCreditsExhaustedError as error:
            self.stats.failed_fetches += 1
            raise self._key_spent(error) from None
        except MalformedResponseError as error:
            self.stats.failed_fetches += 1
            log.error("malformed answer, kept in the dead-letter topic: %s", error)
            return FetchResult(
                dead_letters=[
                    DeadLetterMessage(
                        source=self._source.name,
                        intended_topic=self._topics.current,
                        code="",
                        error=str(error),
                        raw=error.body,
                        failed_at_ms=now,
                    )
                ]
            )
        except RateLimitedError as error:
            self.stats.failed_fetches += 1
            self._rate_limited_streak += 1
            log.warning("rate limited after retries: %s", error)
            # Maybe someone else spent the key's credits: look before calling again.
            await self._refresh_credits()
            return None
        except RetryableApiError as error:
            self.stats.failed_fetches += 1
            log.warning("fetch failed after retries, skipping this cycle: %s", error)
            return None
        except UnexpectedStatusError as error:
            # Not in the documented retry list, so not retried now; the next cycle is a new
            # call at the budget's pace, and one proxy hiccup must not stop the producer.
            self.stats.failed_fetches += 1
            log.warning("unexpected answer, skipping this cycle: %s", error)
            return None

    def _next_interval(self) -> float:
        if self._budget is None:
            return self._fixed_interval
        if not self._budget.initialised:
            # /credits has not answered yet: go slowly until the limit is known.
            log.warning("credits unknown, next cycle in %.0f s", UNKNOWN_BUDGET_INTERVAL_SECONDS)
            return UNKNOWN_BUDGET_INTERVAL_SECONDS
        return self._budget.next_interval_seconds()

    def _rate_limited_wait(self) -> float:
        """Back off harder while every cycle stays rate limited, whatever the budget says:
        its local count cannot see credits spent by someone else when /credits refuses too."""
        if not self._rate_limited_streak:
            return 0.0
        wait = RATE_LIMITED_FIRST_WAIT_SECONDS * 2.0 ** min(self._rate_limited_streak - 1, 20)
        now = self._clock.now_ms()
        until_reset = (next_reset_ms(now) - now) / 1000 + RESET_GRACE_SECONDS
        return min(wait, until_reset)

    async def _fetch_loop(self) -> None:
        cycle = 0
        while not self._stop.is_set():
            if self._max_cycles is not None and cycle >= self._max_cycles:
                return
            started = self._clock.now_ms()
            try:
                if self._budget is not None and self._budget.refresh_due():
                    await self._refresh_credits()
                if self._budget is not None and self._budget.initialised:
                    # Check before calling: an exhausted budget must not cost another credit.
                    self._budget.next_interval_seconds()
                result = await self._fetch_once()
                if result is not None:
                    self.stats.failed_fetches += result.failed_pages
                    cycle += 1
                    self.stats.cycles = cycle
                    records = records_for(result, self._topics)
                    fetched_at = result.messages[0].timestamp_ms if result.messages else started
                    batch = _Batch(
                        cycle=cycle,
                        fetched_at_ms=fetched_at,
                        records=records,
                        coins=len(result.messages),
                        dead_letters=len(result.dead_letters),
                    )
                    # Only a stop while the buffer is full (broker down for long) can cancel
                    # this wait; the batch then counts as unacknowledged in the exit status.
                    self._lost_at_stop = len(records)
                    await self._enqueue(batch)
                    self._lost_at_stop = 0
                interval = max(self._next_interval(), self._rate_limited_wait())
            except CreditsExhaustedError as exhausted:
                await self._pause_until(exhausted.resume_at_ms, exhausted.reason)
                continue
            elapsed = (self._clock.now_ms() - started) / 1000
            if await self._clock.wait(max(0.0, interval - elapsed), self._stop):
                return

    async def _enqueue(self, batch: _Batch) -> None:
        """Queue ``batch``; when the buffer is full, wait (no fetching, no credits spent)."""
        if not self._queue.full():
            self._queue.put_nowait(batch)
            return
        log.warning(
            "buffer is full: %d fetched cycles wait for Kafka; fetching paused until it "
            "acknowledges them",
            self._queue.qsize(),
        )
        await self._queue.put(batch)
        log.warning("buffer has room again: fetching resumes")

    # --- sending -------------------------------------------------------------------------
    async def _next_batch(self) -> _Batch | None:
        """The next queued batch; None once fetching has ended and the queue is empty."""
        while True:
            if not self._queue.empty():
                return self._queue.get_nowait()
            if self._fetch_done.is_set():
                return None
            getter = asyncio.ensure_future(self._queue.get())
            ended = asyncio.ensure_future(self._fetch_done.wait())
            await asyncio.wait({getter, ended}, return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            if getter.done():
                return getter.result()
            getter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await getter

    async def _send_loop(self) -> None:
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            try:
                await self._publisher.publish(batch.records, deadline=self._deadline)
            except PublishTimeoutError:
                queued = 0
                while not self._queue.empty():
                    queued += len(self._queue.get_nowait().records)
                raise PublishTimeoutError(len(batch.records) + queued) from None
            self.stats.published_messages += batch.coins
            self.stats.dead_letters += batch.dead_letters
            self.stats.last_acknowledged_tick_ms = batch.fetched_at_ms
            self._log_cycle(batch)

    def _log_cycle(self, batch: _Batch) -> None:
        fields: dict[str, object] = {
            "cycle": batch.cycle,
            "coins_published": batch.coins,
            "dead_letters": batch.dead_letters,
            "fetched_at": utc_datetime(batch.fetched_at_ms).isoformat(timespec="milliseconds"),
            "queued_cycles": self._queue.qsize(),
        }
        if self._budget is not None:
            snapshot = self._budget.snapshot()
            fields["credits_left"] = snapshot.key_remaining
            fields["stream_credits_left_today"] = snapshot.window_allotment - snapshot.window_spent
            fields["interval_s"] = round(snapshot.interval_seconds, 3)
        else:
            fields["credits_left"] = None
            fields["interval_s"] = self._fixed_interval
        log.info("cycle", extra={"fields": fields})
