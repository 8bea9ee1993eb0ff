"""``coins top``: the live terminal dashboard (Textual).

One row per coin (price, 1 h / 24 h / 7 d change, 24 h volume, 24 h sparkline); the selected
coin's minute OHLC of the last hours and its daily closes with SMA 10/30/50/200 and RSI 14; a
health line (newest data per dataset, ingestion errors in the last hour, API credits left).
Queries run in a worker thread (chDB and clickhouse-connect calls block), never on the UI loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, Sparkline, Static

from terminal.queries import CoinDetail, CoinRow, DashboardQueries, Health, Snapshot
from terminal.store import Store

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
EMPTY_STORE = (
    "No prices in the store yet. Run `make local` (no Docker needed) or `make up`, and the "
    "first ticks arrive within seconds."
)
NO_SCHEMA = (
    "This ClickHouse has no crypto schema (clickhouse/init never ran on it). Run `make local` "
    "(no Docker needed) or `make up`, or point --clickhouse at the stack's server."
)


def spark_text(values: Sequence[float], width: int = 24) -> str:
    """A one-line sparkline of ``values`` (the last ``width`` points) in block characters."""
    points = list(values)[-width:]
    if not points:
        return ""
    low, high = min(points), max(points)
    span = high - low
    if span <= 0:
        return SPARK_BLOCKS[3] * len(points)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((p - low) / span * top)] for p in points)


def price_text(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value:,.2f}"
    if value >= 1:
        return f"{value:,.4f}"
    return f"{value:.6g}"


def change_text(value: float | None) -> Text:
    if value is None:
        return Text("—", style="dim")
    return Text(f"{value:+.2f}%", style="green" if value >= 0 else "red")


def volume_text(value: float | None) -> str:
    if value is None:
        return "—"
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.2f}{unit}"
    return f"{value:,.0f}"


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.0f} d ago"


class TopApp(App[None]):
    """The dashboard over one store; ``credits`` returns the credits line (called in a thread)."""

    TITLE = "coins top"
    CSS = """
    #notice { color: $warning; padding: 0 1; }
    #message { padding: 1 2; text-style: bold; }
    #coins { height: 1fr; }
    #detail { height: 2fr; }
    #minutes { width: 1fr; }
    #daily { width: 2fr; }
    #spark { height: 3; }
    #health { padding: 0 1; background: $boost; }
    #health.stale { color: $error; text-style: bold; }
    #sql { display: none; }
    #sql.open { display: block; }
    #sql_result { display: none; height: 1fr; }
    #sql_result.open { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("r", "refresh_now", "Refresh"),
        Binding("s", "open_sql", "SQL"),
        Binding("escape", "close_sql", "Close SQL", show=False),
    ]

    def __init__(
        self,
        store: Store,
        *,
        refresh_seconds: float = 5.0,
        stale_after_seconds: float = 60.0,
        notice: str = "",
        credits: Callable[[], str] | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.queries = DashboardQueries(store.query)
        self.refresh_seconds = refresh_seconds
        self.stale_after_seconds = stale_after_seconds
        self.notice = notice
        self.credits = credits or (lambda: "credits: unknown")
        self.selected: str | None = None
        self.snapshot: Snapshot | None = None
        self.live_fresh: bool | None = None
        self.refreshes = 0
        self._credits_line = ""
        self._row_codes: list[str] = []

    # --- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.notice, id="notice")
        yield Static("Loading…", id="message")
        yield DataTable(id="coins", cursor_type="row", zebra_stripes=True)
        with Vertical(id="detail"):
            yield Static("", id="detail_title")
            yield Sparkline([], id="spark")
            with Horizontal():
                yield DataTable(id="minutes", cursor_type="none")
                yield DataTable(id="daily", cursor_type="none")
        yield Input(placeholder="SELECT … (Enter runs, Esc closes)", id="sql")
        yield DataTable(id="sql_result")
        yield Static("", id="health")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.store.description
        self.query_one("#notice", Static).display = bool(self.notice)
        coins = self.query_one("#coins", DataTable)
        coins.add_columns("coin", "price", "1 h", "24 h", "7 d", "volume 24 h", "24 h")
        self.query_one("#minutes", DataTable).add_columns(
            "minute (UTC)", "open", "high", "low", "close", "ticks"
        )
        self.query_one("#daily", DataTable).add_columns(
            "day", "close", "SMA 10", "SMA 30", "SMA 50", "SMA 200", "RSI 14"
        )
        self.action_refresh_now()
        self.set_interval(self.refresh_seconds, self.action_refresh_now)

    # --- loading ---------------------------------------------------------------------------
    def action_refresh_now(self) -> None:
        self._load(self.selected)

    @work(thread=True, exclusive=True, group="refresh")
    def _load(self, selected: str | None) -> None:
        try:
            snapshot = self.queries.load(selected)
        except Exception as error:  # a server that went away: say so, retry at the next refresh
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            self.call_from_thread(self._show_unreachable, first_line)
            return
        if self.refreshes % 60 == 0:  # the credits line changes slowly; spare the API
            self._credits_line = self.credits()
        self.call_from_thread(self._show, snapshot)

    @work(thread=True, exclusive=True, group="detail")
    def _load_detail(self, coin: CoinRow) -> None:
        detail = self.queries.detail(coin)
        self.call_from_thread(self._show_detail, detail)

    # --- rendering -------------------------------------------------------------------------
    def _show(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.refreshes += 1
        message = self.query_one("#message", Static)
        if not snapshot.schema_ready or snapshot.empty:
            message.update(NO_SCHEMA if not snapshot.schema_ready else EMPTY_STORE)
            message.display = True
        else:
            message.display = False
        self._show_coins(snapshot)
        if snapshot.detail is not None:
            self._show_detail(snapshot.detail)
        self._show_health(snapshot.health)

    def _show_unreachable(self, reason: str) -> None:
        self.refreshes += 1
        message = self.query_one("#message", Static)
        message.update(Text(f"Cannot read {self.store.description}: {reason}. Retrying."))
        message.display = True
        health = self.query_one("#health", Static)
        health.update(Text(f"store unreachable: {reason}"))
        health.add_class("stale")
        self.live_fresh = False

    def _show_coins(self, snapshot: Snapshot) -> None:
        table = self.query_one("#coins", DataTable)
        cursor = table.cursor_row
        table.clear()
        self._row_codes = []
        for coin in snapshot.coins:
            table.add_row(
                Text(coin.code, style="bold"),
                Text(price_text(coin.price), justify="right"),
                change_text(coin.change_1h_pct),
                change_text(coin.change_24h_pct),
                change_text(coin.change_7d_pct),
                Text(volume_text(coin.volume_24h), justify="right"),
                spark_text(coin.sparkline),
                key=coin.code,
            )
            self._row_codes.append(coin.code)
        if self.selected in self._row_codes:
            table.move_cursor(row=self._row_codes.index(self.selected))
        elif self._row_codes:
            table.move_cursor(row=min(cursor, len(self._row_codes) - 1))

    def _show_detail(self, detail: CoinDetail) -> None:
        closes = [bar.close for bar in detail.minutes]
        title = f"[b]{detail.code}[/b] minute OHLC, last {self.queries.detail_hours} h"
        if not detail.daily:
            title += " · no daily closes yet (the backfill and the minute snapshots fill them)"
        self.query_one("#detail_title", Static).update(title)
        self.query_one("#spark", Sparkline).data = closes
        minutes = self.query_one("#minutes", DataTable)
        minutes.clear()
        for bar in reversed(detail.minutes):
            minutes.add_row(
                bar.minute.strftime("%m-%d %H:%M"),
                price_text(bar.open),
                price_text(bar.high),
                price_text(bar.low),
                price_text(bar.close),
                str(bar.ticks),
            )
        daily = self.query_one("#daily", DataTable)
        daily.clear()
        for row in reversed(detail.daily):
            daily.add_row(
                row.day.isoformat(),
                price_text(row.close),
                price_text(row.sma_10),
                price_text(row.sma_30),
                price_text(row.sma_50),
                price_text(row.sma_200),
                "—" if row.rsi_14 is None else f"{row.rsi_14:.1f}",
            )

    def _show_health(self, health: Health | None) -> None:
        widget = self.query_one("#health", Static)
        if health is None:
            widget.update(Text(f"health: no data · {self._credits_line}"))
            widget.remove_class("stale")
            self.live_fresh = None
            return
        live = health.live_age_seconds
        self.live_fresh = live is not None and live <= self.stale_after_seconds
        widget.set_class(not self.live_fresh, "stale")
        history = age_text(health.history_age_seconds)
        if health.history_until is not None:
            history += f" (up to {health.history_until.date().isoformat()})"
        ksql = age_text(health.ksql_age_seconds)
        widget.update(
            Text(
                f"newest live tick {age_text(live)}"
                + ("" if self.live_fresh else " STALE")
                + f" · history received {history} · ksqlDB windows {ksql}"
                f" · ingestion errors last hour: {health.errors_last_hour}"
                f" · {self._credits_line}"
                f" · {dt.datetime.now(dt.UTC).strftime('%H:%M:%S')} UTC"
            )
        )

    # --- interaction -----------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#coins")
    def _coin_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is None:
            return
        code = str(event.row_key.value)
        if code != self.selected:
            self.selected = code
            coins = () if self.snapshot is None else self.snapshot.coins
            coin = next((coin for coin in coins if coin.code == code), None)
            if coin is not None:
                self._load_detail(coin)

    def action_open_sql(self) -> None:
        box = self.query_one("#sql", Input)
        box.add_class("open")
        box.focus()

    def action_close_sql(self) -> None:
        self.query_one("#sql", Input).remove_class("open")
        self.query_one("#sql_result", DataTable).remove_class("open")
        self.query_one("#coins", DataTable).focus()

    @on(Input.Submitted, "#sql")
    def _sql_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self._run_sql(event.value)

    @work(thread=True, exclusive=True, group="sql")
    def _run_sql(self, sql: str) -> None:
        try:
            columns, rows = self.store.query_table(sql)
        except Exception as error:
            columns, rows = ["error"], [[str(error).strip().splitlines()[0]]]
        self.call_from_thread(self._show_sql, columns, rows)

    def _show_sql(self, columns: list[str], rows: list[Sequence[Any]]) -> None:
        table = self.query_one("#sql_result", DataTable)
        table.clear(columns=True)
        table.add_columns(*columns)
        for row in rows[:1000]:
            table.add_row(*(str(value) for value in row))
        table.add_class("open")
