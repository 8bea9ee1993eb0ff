"""``coins``: the producers' command line (stream, backfill, credits, topics)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from portfolio.state import earliest_transaction_day
from producers.backfill import (
    BackfillPlan,
    BackfillReport,
    BackfillRunner,
    BackfillTopics,
    describe_pending,
    make_plan,
    pending_after,
    run_with_estimate,
)
from producers.budget import CallPacer, CreditBudget, backfill_allowance
from producers.clock import Clock, SystemClock, utc_datetime
from producers.errors import (
    ApiError,
    AuthenticationError,
    CreditsExhaustedError,
    DailyCreditsExhaustedError,
)
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import KafkaPublisher, PublisherOptions, PublishTimeoutError
from producers.kafka.topics import ensure_topics, producer_topics
from producers.logs import console_script, hide_secrets
from producers.planner import SpanLearner, backfill_start, last_closable_day
from producers.progress import load_progress
from producers.progress_bar import ProgressBar
from producers.reachability import UnreachableError, reaching_kafka
from producers.retry import RetryPolicy
from producers.settings import COIN_CODE, Settings
from producers.sources.current import LiveCoinWatchSource, PriceSource
from producers.sources.demo import DEMO_BANNER, DemoSource
from producers.sources.history import DemoHistory, HistorySource, LiveCoinWatchHistory
from producers.sources.livecoinwatch import LiveCoinWatchClient
from producers.stream import StreamRunner, StreamStats, StreamTopics
from terminal import cli as terminal_cli

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_REFUSED = 3
# Commands that cannot do anything without the broker: checked before they start.
KAFKA_COMMANDS = frozenset({"stream", "backfill", "topics", "alerts"})


# --- wiring --------------------------------------------------------------------------------
def make_client(
    settings: Settings,
    api_key: SecretStr,
    *,
    on_call: CreditBudget | None = None,
    counter: list[int] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    pacer: CallPacer | None = None,
) -> LiveCoinWatchClient:
    def count(_endpoint: str) -> None:
        if on_call is not None:
            on_call.record_call()
        if counter is not None:
            counter[0] += 1

    return LiveCoinWatchClient(
        api_key=api_key,
        base_url=settings.lcw_base_url,
        timeout=httpx.Timeout(
            settings.http_timeout_seconds, connect=settings.http_connect_timeout_seconds
        ),
        retry=RetryPolicy(
            attempts=settings.retry_attempts,
            initial_seconds=settings.retry_initial_seconds,
            max_seconds=settings.retry_max_seconds,
        ),
        transport=transport,
        on_call=count,
        sleep=(clock or SystemClock()).sleep,
        pacer=pacer,
    )


def make_publisher(settings: Settings, clock: Clock | None = None) -> KafkaPublisher:
    return KafkaPublisher(
        KafkaConnection.from_settings(settings),
        PublisherOptions(
            compression=settings.kafka_compression,
            linger_ms=settings.kafka_linger_ms,
            ack_timeout_seconds=settings.kafka_ack_timeout_seconds,
            retry_initial_seconds=settings.kafka_retry_initial_seconds,
            retry_max_seconds=settings.kafka_retry_max_seconds,
        ),
        clock=clock,
    )


def stream_budget(settings: Settings, clock: Clock) -> CreditBudget:
    """The stream's share of the daily credits, paced over the day."""
    return CreditBudget(
        clock=clock,
        share=settings.stream_credit_share,
        coins=len(settings.coins),
        refresh_seconds=settings.credits_refresh_seconds,
        min_interval_seconds=settings.stream_min_interval_seconds,
        attempts_per_call=settings.retry_attempts,
    )


async def run_stream(
    settings: Settings,
    *,
    stop: asyncio.Event,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    max_cycles: int | None = None,
) -> StreamStats:
    """The whole ``coins stream`` command, minus argument parsing and signal wiring."""
    clock = clock or SystemClock()
    await ensure_topics(KafkaConnection.from_settings(settings), producer_topics(settings))
    publisher = make_publisher(settings, clock)
    topics = StreamTopics(current=settings.topic_current, dead_letter=settings.topic_dead_letter)
    stream_runner = functools.partial(
        StreamRunner,
        publisher=publisher,
        clock=clock,
        topics=topics,
        stop=stop,
        buffer_cycles=settings.stream_buffer_cycles,
        shutdown_timeout_seconds=settings.shutdown_timeout_seconds,
        max_cycles=max_cycles,
    )
    try:
        if settings.lcw_api_key is None:
            sys.stderr.write(DEMO_BANNER)
            log.warning("demo mode: prices are simulated (source=demo)")
            demo: PriceSource = DemoSource(
                coins=settings.coins,
                currency=settings.currency,
                clock=clock,
                seed=settings.demo_seed,
            )
            runner = stream_runner(
                source=demo, fixed_interval_seconds=settings.demo_interval_seconds
            )
            return await runner.run()
        budget = stream_budget(settings, clock)
        async with make_client(
            settings, settings.lcw_api_key, on_call=budget, transport=transport, clock=clock
        ) as client:
            source = LiveCoinWatchSource(
                client,
                coins=settings.coins,
                currency=settings.currency,
                clock=clock,
                intended_topic=settings.topic_current,
            )
            runner = stream_runner(source=source, budget=budget, read_credits=client.credits)
            return await runner.run()
    finally:
        await publisher.close()


async def run_backfill(
    settings: Settings,
    *,
    stop: asyncio.Event,
    since: dt.date | None = None,
    until: dt.date | None = None,
    coins: Sequence[str] | None = None,
    partial: bool = False,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    show_progress: bool = True,
) -> tuple[BackfillPlan, BackfillReport | None]:
    """The whole ``coins backfill`` command. Returns the plan and the report (None if refused)."""
    clock = clock or SystemClock()
    connection = KafkaConnection.from_settings(settings)
    codes = list(coins or settings.coins)
    if since is None:
        # history from the earliest portfolio transaction on, if that is earlier
        earliest = await earliest_transaction_day(connection, settings.topic_portfolio)
        since = backfill_start(settings.backfill_since, earliest)
    closable = last_closable_day(clock.now_ms(), settings.backfill_close_settle_minutes)
    until = min(until, closable) if until else closable
    await ensure_topics(connection, producer_topics(settings))
    demo = settings.lcw_api_key is None
    state = await load_progress(
        connection,
        progress_topic=settings.topic_backfill_progress,
        history_topic=settings.topic_historical,
        coins=codes,
        currency=settings.currency,
        api=None if demo else settings.lcw_base_url,
    )
    known = state.range_length
    learner = SpanLearner(
        settings.backfill_initial_span_days,
        settings.backfill_max_span_days,
        good_days=known.good_days if known else 0,
        bad_days=known.bad_days if known else None,
    )
    plan = make_plan(coins=codes, since=since, until=until, progress=state.coins, learner=learner)
    publisher = make_publisher(settings, clock)
    calls = [0]
    client: LiveCoinWatchClient | None = None
    topics = BackfillTopics(
        history=settings.topic_historical,
        progress=settings.topic_backfill_progress,
        dead_letter=settings.topic_dead_letter,
    )
    bar = ProgressBar(plan.pending_days, label="backfill") if show_progress else None
    try:
        source: HistorySource
        if demo:
            sys.stderr.write(DEMO_BANNER)
            source = DemoHistory()
            print(
                f"backfill (demo): {len(codes)} coins, {describe_pending(plan.pending_by_reason())}"
                f" from {since} to {until}; no credits needed"
            )
        else:
            assert settings.lcw_api_key is not None
            client = make_client(
                settings,
                settings.lcw_api_key,
                counter=calls,
                transport=transport,
                clock=clock,
                pacer=CallPacer(clock, settings.backfill_calls_per_second),
            )
            source = LiveCoinWatchHistory(client)
            print(
                f"backfill: {len(codes)} coins, {describe_pending(plan.pending_by_reason())} "
                f"from {since} to {until} (one call per coin-day would cost "
                f"{plan.one_call_per_day_cost})"
            )
        runner = BackfillRunner(
            source=source,
            publisher=publisher,
            clock=clock,
            topics=topics,
            currency=settings.currency,
            learner=learner,
            progress=state.coins,
            stop=stop,
            calls_made=lambda: calls[0],
            attempts_per_call=settings.retry_attempts,
            bar=bar,
            shutdown_timeout_seconds=settings.shutdown_timeout_seconds,
            range_length_api=None if demo else settings.lcw_base_url,
        )
        if client is None:
            report: BackfillReport | None = await runner.run(plan)
        else:
            allowance: int | None = None
            if plan.pending_days:
                try:
                    credits = await client.credits()
                except DailyCreditsExhaustedError as error:
                    print(
                        f"refusing: the key's daily credits are spent ({error}); the backfill "
                        "can run after the 00:00 UTC reset",
                        file=sys.stderr,
                    )
                    return plan, None
                allowance = backfill_allowance(
                    credits, stream_share=settings.stream_credit_share, now_ms=clock.now_ms()
                )
                print(
                    f"credits: {credits.remaining}/{credits.limit} left today; the backfill may "
                    f"use {allowance} (the rest is the stream's share until 00:00 UTC)"
                )
                runner.set_credit_cap(calls[0] + allowance)
            plan, estimate, report = await run_with_estimate(
                runner,
                learner,
                plan,
                allowance=allowance,
                partial=partial,
                calls_made=lambda: calls[0],
                say=print,
                refuse=lambda text: print(text, file=sys.stderr),
            )
            if report is not None and estimate is not None:
                report.estimated_calls = estimate.calls
    finally:
        if bar is not None:
            bar.close()
        if client is not None:
            await client.aclose()
        await publisher.close()
    if report is None:
        return plan, None
    report.pending_after = pending_after(plan, runner)
    print(f"backfill done: {calls[0]} credits spent; {describe_pending(report.pending_after)}")
    if report.stopped_early:
        print(f"stopped early: {report.stopped_early}; the next run continues")
    log.info(
        "backfill finished",
        extra={
            "fields": {
                "credits_used": calls[0],
                "credits_estimated": report.estimated_calls,
                "ranges": report.ranges_accepted,
                "ranges_too_coarse": report.ranges_too_coarse,
                "ranges_failed": report.ranges_failed,
                "coin_days": report.days_covered,
                "points_published": report.points_published,
                "days_pending": sum(report.pending_after.values()),
                "days_before_listing": report.days_before_history,
                "dead_letters": report.dead_letters,
                "stopped_early": report.stopped_early,
            }
        },
    )
    return plan, report


async def show_credits(
    settings: Settings,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    clock = clock or SystemClock()
    if settings.lcw_api_key is None:
        print("no COINS_LCW_API_KEY: the demo source needs no credits")
        return EXIT_OK
    async with make_client(
        settings, settings.lcw_api_key, clock=clock, transport=transport
    ) as client:
        credits = await client.credits()
    budget = stream_budget(settings, clock)
    budget.update(credits)
    print(f"credits left today: {credits.remaining} of {credits.limit} (reset 00:00 UTC)")
    print(
        f"stream: {budget.calls_per_cycle} call(s) per cycle for {len(settings.coins)} coins, "
        f"{settings.stream_credit_share:.0%} of the limit"
    )
    try:
        print(f"stream interval now: {budget.next_interval_seconds():.2f} s")
    except CreditsExhaustedError:
        print("stream: no credits left for the stream until 00:00 UTC")
    allowance = backfill_allowance(
        credits, stream_share=settings.stream_credit_share, now_ms=clock.now_ms()
    )
    print(f"backfill may use now: {allowance} credits")
    return EXIT_OK


# --- command line --------------------------------------------------------------------------
def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _codes(text: str) -> list[str]:
    codes = [c.strip().upper() for c in text.split(",") if c.strip()]
    if not codes:
        raise argparse.ArgumentTypeError("--coins must name at least one coin code, e.g. BTC,ETH")
    bad = [code for code in codes if not COIN_CODE.fullmatch(code)]
    if bad:
        raise argparse.ArgumentTypeError(f"invalid coin codes: {bad}")
    return codes


def _check_backfill_dates(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a range that can hold no day at all, instead of silently doing nothing."""
    today = utc_datetime(SystemClock().now_ms()).date()
    for option, day in (("--since", args.since), ("--until", args.until)):
        if day is not None and day > today:
            parser.error(f"{option} {day} is in the future (today is {today} UTC)")
    if args.since is not None and args.until is not None and args.since > args.until:
        parser.error(f"--since {args.since} is after --until {args.until}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coins",
        description="LiveCoinWatch (or demo) prices to Kafka. Settings: COINS_* variables / .env.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    stream = commands.add_parser("stream", help="publish current prices every cycle")
    stream.add_argument("--max-cycles", type=int, default=None, help="stop after N cycles")
    backfill = commands.add_parser("backfill", help="publish history, resuming where Kafka ends")
    backfill.add_argument(
        "--since",
        type=_date,
        help="first day (default COINS_BACKFILL_SINCE, or the day before the earliest portfolio "
        "transaction if that is earlier)",
    )
    backfill.add_argument("--until", type=_date, help="last day (default: last closed day)")
    backfill.add_argument(
        "--coins", type=_codes, help="comma-separated codes (default COINS_COINS)"
    )
    backfill.add_argument(
        "--partial",
        action="store_true",
        help="run even if the credits left do not cover everything; stop when they are spent",
    )
    commands.add_parser("credits", help="show credits left, stream interval, backfill allowance")
    commands.add_parser("topics", help="create the producers' topics if missing")
    alerts = commands.add_parser(
        "alerts", help="evaluate the alert rules on the stream and ClickHouse, deliver webhooks"
    )
    alerts.add_argument(
        "--rules", type=Path, default=None, help="rules file (default COINS_ALERTS_RULES_FILE)"
    )
    alerts.add_argument(
        "--check", action="store_true", help="validate the rules and settings, then exit"
    )
    commands.add_parser("local", help="the whole pipeline without Docker (make local)")
    terminal_cli.add_commands(commands)
    return parser


def _load_settings(
    settings_class: type[BaseSettings] = Settings, prefix: str = "COINS_"
) -> Any | None:
    try:
        return settings_class()
    except ValidationError as error:
        print("invalid configuration:", file=sys.stderr)
        for problem in error.errors(include_url=False, include_input=False):
            if problem["loc"]:
                name = prefix + "_".join(str(p) for p in problem["loc"]).upper()
                print(f"  {name}: {problem['msg']}", file=sys.stderr)
            else:  # a rule across several settings: its message names them
                print(f"  {problem['msg']}", file=sys.stderr)
        return None


class StopSignals:
    """SIGTERM and SIGINT ask the running command to stop; the first one's arrival is kept, so
    the command can say how long its shutdown took against ``COINS_SHUTDOWN_TIMEOUT_SECONDS``."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.received_at: float | None = None  # time.monotonic() of the first signal

    def install(self) -> None:
        """Handle the signals in the running event loop."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._received)

    def _received(self) -> None:
        if self.received_at is None:
            self.received_at = time.monotonic()
        self.stop.set()

    def log_shutdown(self, timeout_seconds: float) -> None:
        """After the command's last step: the time since the signal, if one came."""
        if self.received_at is None:
            return
        took = time.monotonic() - self.received_at
        log.info(
            "shutdown done",
            extra={
                "fields": {
                    "seconds_since_signal": round(took, 3),
                    "shutdown_timeout_seconds": timeout_seconds,
                }
            },
        )


async def _main_async(args: argparse.Namespace, settings: Settings, signals: StopSignals) -> int:
    signals.install()
    stop = signals.stop
    if args.command == "stream":
        stats = await run_stream(settings, stop=stop, max_cycles=args.max_cycles)
        log.info(
            "stream stopped",
            extra={
                "fields": {
                    "cycles": stats.cycles,
                    "messages_published": stats.published_messages,
                    "dead_letters": stats.dead_letters,
                }
            },
        )
        return EXIT_OK
    if args.command == "backfill":
        _plan, report = await run_backfill(
            settings,
            stop=stop,
            since=args.since,
            until=args.until,
            coins=args.coins,
            partial=args.partial,
        )
        if report is None or report.credits_exhausted:
            return EXIT_REFUSED
        return EXIT_OK
    if args.command == "credits":
        return await show_credits(settings)
    if args.command == "alerts":
        return await _run_alerts(args, settings, stop)
    if args.command == "topics":
        created = await ensure_topics(
            KafkaConnection.from_settings(settings), producer_topics(settings)
        )
        print("created: " + (", ".join(created) if created else "nothing (all exist)"))
        return EXIT_OK
    raise SystemExit(f"unknown command {args.command}")


async def _run_alerts(args: argparse.Namespace, settings: Settings, stop: asyncio.Event) -> int:
    from alerts.cli import clickhouse_client, run_alerts

    run = await run_alerts(
        settings,
        args.alert_settings,
        args.alert_rules,
        stop=stop,
        clickhouse=clickhouse_client(args.alert_settings),
    )
    log.info(
        "alerts stopped",
        extra={
            "fields": {
                "ticks_evaluated": run.stats.ticks_evaluated,
                "alerts_published": run.stats.alerts_published,
                "delivered": sum(run.delivered.values()),
                "dead_letters": sum(run.dead_letters.values()),
            }
        },
    )
    return EXIT_OK


def _prepare_alerts(args: argparse.Namespace) -> bool:
    """Alert settings and rules, validated before anything starts, their secrets hidden from
    the logs; False when invalid (the problems are printed, naming the rule and the field)."""
    from alerts.cli import load_checked_rules, print_rules_error
    from alerts.rules import RulesError
    from alerts.settings import AlertSettings

    alert_settings = _load_settings(AlertSettings, "COINS_ALERTS_")
    if alert_settings is None:
        return False
    if args.rules is not None:
        alert_settings = alert_settings.model_copy(update={"rules_file": args.rules})
    try:
        rules = load_checked_rules(alert_settings)
    except RulesError as error:
        print_rules_error(error)
        return False
    args.alert_settings, args.alert_rules = alert_settings, rules
    hide_secrets(alert_settings)
    return True


@console_script
def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["local"]:  # its own options and settings: embedded/local.py
        from embedded import local

        return local.main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command in {"top", "sql"}:
        return terminal_cli.run(args)
    if args.command == "backfill":
        _check_backfill_dates(parser, args)
    settings = _load_settings()
    if settings is None:
        return EXIT_CONFIG
    hide_secrets(settings)
    if args.command == "alerts":
        if not _prepare_alerts(args):
            return EXIT_CONFIG
        if args.check:
            rules = args.alert_rules
            print(
                f"{rules.source}: version {rules.version}, {len(rules.rules)} rules "
                f"({len(rules.live)} live, {len(rules.scheduled)} scheduled) are valid"
            )
            return EXIT_OK
    log.info(
        "starting",
        extra={
            "fields": {
                "command": args.command,
                "source": settings.source_name,
                "coins": ",".join(settings.coins),
                "kafka": settings.kafka_bootstrap_servers,
                "at": utc_datetime(SystemClock().now_ms()).isoformat(timespec="seconds"),
            }
        },
    )
    signals = StopSignals()
    try:
        if args.command in KAFKA_COMMANDS:
            return reaching_kafka(
                settings, lambda: asyncio.run(_main_async(args, settings, signals))
            )
        return asyncio.run(_main_async(args, settings, signals))
    except UnreachableError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILURE
    except AuthenticationError as error:
        log.error("%s", error)
        return EXIT_CONFIG
    except PublishTimeoutError as error:
        log.error("shutdown with unacknowledged data: %s", error)
        return EXIT_FAILURE
    except ApiError as error:
        log.error("LiveCoinWatch call failed: %s", error)
        return EXIT_FAILURE
    finally:
        signals.log_shutdown(settings.shutdown_timeout_seconds)


if __name__ == "__main__":
    sys.exit(main())
