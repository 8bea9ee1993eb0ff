"""A fake LiveCoinWatch API written from docs/reference (livecoinwatch-api.md).

Usable two ways, same behaviour:
- in process: ``httpx.MockTransport(fake.handle)``;
- as a real HTTP server on loopback: ``with fake.serve() as base_url: ...`` (for subprocesses).

Programmable faults, all through public fields and methods (no private state to patch):
- ``fail_next``: faults consumed in order, per endpoint or for any endpoint: HTTP 429 with or
  without ``Retry-After``, 500, 503, 400/403/404, 401, timeouts, ``"malformed"`` (an HTTP 200
  whose body is the real answer cut in half: not JSON), ``"invalid_item"`` (one history point
  made invalid);
- ``flaky_rate`` / ``flaky_kinds``: a seeded share of paid calls answers one of those faults;
- ``history_lag_ms``: the newest history point is that far behind the fake's clock (an API
  whose data lags, or a close asked for too soon after 12:00 UTC);
- ``history_point_overrides``: fields of given history points replaced (an invalid close);
- ``set_burst_limit``: more than N answered calls within a sliding window get 429 with
  ``Retry-After`` (the reference: "bursts ... were seen to get HTTP 429");
- credits that run out (429 once spent, optionally with ``exhausted_answer_retry_after``,
  reset at the fake clock's midnight; ``/credits`` then answers 429 too, as the reference says
  a spent key does);
- per-coin payload mutations (missing fields, nulls, numbers as strings, garbage), coins
  listed late, missing points, and a pluggable history-granularity rule.

Documented rule of the default granularity (the benchmark's): a range of at most 1 day answers
5-minute points, up to 90 days hourly points, longer ranges daily points at 00:00 UTC. Points
lie on multiples of the step (UTC), both ends inclusive. Every call except ``/status`` costs
one credit, failed ones included; credits reset at 00:00 UTC of the fake's clock.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from pydantic import SecretStr

from producers.retry import RetryPolicy
from producers.sources.livecoinwatch import LiveCoinWatchClient

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MISSING = object()  # in a coin override: remove the field from the payload

GranularityRule = Callable[[int], tuple[int, int]]  # span_ms -> (step_ms, offset_ms)


def benchmark_granularity(span_ms: int) -> tuple[int, int]:
    """5-minute points up to 1 day, hourly up to 90 days, daily (at 00:00 UTC) beyond."""
    if span_ms <= DAY_MS:
        return 5 * MINUTE_MS, 0
    if span_ms <= 90 * DAY_MS:
        return HOUR_MS, 0
    return DAY_MS, 0


def hourly_granularity(span_ms: int) -> tuple[int, int]:
    """Hourly points for any range (no thinning): every day keeps its 12:00 point."""
    return HOUR_MS, 0


BASE_PRICES = {
    "BTC": 95_000.0,
    "ETH": 3_300.0,
    "USDT": 1.0,
    "FDUSD": 1.0,
    "XRP": 2.2,
    "SOL": 190.0,
    "USDC": 1.0,
    "DOGE": 0.32,
    "LINK": 20.0,
    "AAVE": 300.0,
}


@dataclass
class Fault:
    """One programmed failure. ``kind``: 429, 500, 503, 401, 400, 403, 404, "timeout",
    "malformed" (HTTP 200, body cut short), "invalid_item" (one history point invalid)."""

    kind: int | str
    retry_after: str | None = None
    endpoint: str | None = None  # None: the next call to any endpoint
    when: Callable[[dict[str, Any]], bool] | None = None  # only calls whose body matches


@dataclass
class Call:
    endpoint: str
    body: dict[str, Any]
    api_key: str | None
    status: int
    at_ms: int = 0
    burst: bool = False  # refused by the burst limit


@dataclass
class FakeLiveCoinWatch:
    api_key: str = "fake_key_for_tests_only"
    credits_limit: int = 10_000
    credits_remaining: int | None = None
    granularity: GranularityRule = benchmark_granularity
    now_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    timeout_sleep_seconds: float = 2.0
    history_delay_seconds: float = 0.0  # served mode only: slow history answers down
    faults: list[Fault] = field(default_factory=list)
    coin_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    listed_from_ms: dict[str, int] = field(default_factory=dict)
    missing_points: set[tuple[str, int]] = field(default_factory=set)
    flaky_rate: float = 0.0  # share of paid calls that answer a fault at random (seeded)
    flaky_kinds: tuple[int | str, ...] = (503,)  # drawn uniformly for each flaky answer
    flaky_seed: int = 42
    history_lag_ms: int = 0  # history holds no point newer than now - lag (0: no clipping)
    history_point_overrides: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    exhausted_answer_retry_after: str | None = None
    burst_limit_calls: int = 0  # 0: no burst limit
    burst_window_seconds: float = 1.0
    burst_retry_after: str | None = "1"
    # Called first for every request with (endpoint, body): a scenario's own rule. Returning
    # a response answers the call with it (it still costs a credit); None lets it through.
    on_request: Callable[[str, Any], httpx.Response | None] | None = None
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.credits_remaining is None:
            self.credits_remaining = self.credits_limit
        self._lock = threading.Lock()
        self._credit_day = self.now_ms() // DAY_MS
        self._rng = random.Random(self.flaky_seed)
        self._answered_at: list[int] = []
        self.faults_served: Counter[str] = Counter()  # every fault answered, by kind

    # --- programming -------------------------------------------------------------------
    def fail_next(
        self,
        kind: int | str,
        *,
        times: int = 1,
        retry_after: str | None = None,
        endpoint: str | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Answer the next ``times`` matching calls with ``kind`` (see Fault)."""
        self.faults.extend(Fault(kind, retry_after, endpoint, when) for _ in range(times))

    def set_burst_limit(
        self, calls: int, *, per_seconds: float = 1.0, retry_after: str | None = "1"
    ) -> None:
        """Refuse (429) any call beyond ``calls`` answered within ``per_seconds``."""
        self.burst_limit_calls = calls
        self.burst_window_seconds = per_seconds
        self.burst_retry_after = retry_after

    @property
    def burst_refusals(self) -> int:
        return sum(1 for c in self.calls if c.status == 429 and c.burst)

    def calls_to(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    @property
    def credits_used(self) -> int:
        return sum(1 for c in self.calls if c.endpoint != "/status")

    # --- data --------------------------------------------------------------------------
    @staticmethod
    def price(code: str, at_ms: int) -> float:
        """Deterministic price of ``code`` at ``at_ms`` (tests recompute it independently)."""
        base = BASE_PRICES.get(code, 10.0)
        phase = sum(map(ord, code))
        wave = math.sin(at_ms / (7 * DAY_MS) + phase) * 0.05 + math.sin(at_ms / HOUR_MS) * 0.002
        return round(base * (1 + wave), 8)

    def coin_payload(self, code: str, rank: int, at_ms: int) -> dict[str, Any]:
        rate = self.price(code, at_ms)
        supply = 1_000_000_000.0 / max(rate, 1e-9) if code not in ("BTC",) else 19_790_000.0
        payload: dict[str, Any] = {
            "code": code,
            "rate": rate,
            "volume": rate * supply * 0.03,
            "cap": rate * supply,
            "liquidity": rate * supply * 0.001,
            "delta": {
                "hour": 1.001,
                "day": 0.99,
                "week": 1.05,
                "month": 1.2,
                "quarter": 1.5,
                "year": 2.4,
            },
            "name": code.title(),
            "symbol": code[:1],
            "rank": rank,
            "age": 3000 + rank,
            "color": "#fa9e32",
            "png32": f"https://example.invalid/32/{code.lower()}.png",
            "png64": f"https://example.invalid/64/{code.lower()}.png",
            "webp32": f"https://example.invalid/32/{code.lower()}.webp",
            "webp64": f"https://example.invalid/64/{code.lower()}.webp",
            "exchanges": 100 + rank,
            "markets": 1000 + rank,
            "pairs": 500 + rank,
            "allTimeHighUSD": rate * 1.2,
            "circulatingSupply": supply,
            "totalSupply": supply,
            "maxSupply": None,
            "categories": ["test"],
        }
        for key, value in self.coin_overrides.get(code, {}).items():
            if value is MISSING:
                payload.pop(key, None)
            else:
                payload[key] = value
        return payload

    def history_points(self, code: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        step, offset = self.granularity(end_ms - start_ms)
        first = start_ms + ((offset - start_ms) % step)
        listed = self.listed_from_ms.get(code, 0)
        newest = self.now_ms() - self.history_lag_ms if self.history_lag_ms else end_ms
        points = []
        for at in range(first, min(end_ms, newest) + 1, step):
            if at < listed or (code, at) in self.missing_points:
                continue
            rate = self.price(code, at)
            point: dict[str, Any] = {
                "date": at,
                "rate": rate,
                "volume": rate * 1e6,
                "cap": rate * 1e9,
                "liquidity": rate * 1e5,
            }
            point.update(self.history_point_overrides.get((code, at), {}))
            points.append(point)
        return points

    # --- protocol ----------------------------------------------------------------------
    @staticmethod
    def error_response(
        status: int, text: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """An answer in the documented error shape (for ``on_request`` scenarios)."""
        body = {"error": {"code": status, "status": text, "description": text}}
        return httpx.Response(status, json=body, headers=headers)

    @staticmethod
    def _error(status: int, text: str, headers: dict[str, str] | None = None) -> httpx.Response:
        body = {"error": {"code": status, "status": text, "description": text}}
        return httpx.Response(status, json=body, headers=headers)

    def _next_fault(self, endpoint: str, body: Any) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.endpoint not in (None, endpoint):
                continue
            if fault.when is not None and not (isinstance(body, dict) and fault.when(body)):
                continue
            return self.faults.pop(index)
        return None

    def _roll_credits(self) -> None:
        day = self.now_ms() // DAY_MS
        if day != self._credit_day:
            self._credit_day = day
            self.credits_remaining = self.credits_limit

    def respond(
        self, method: str, endpoint: str, headers: dict[str, str], raw_body: bytes
    ) -> httpx.Response | Fault:
        """The answer to one request, or the timeout Fault the transport must simulate."""
        with self._lock:
            try:
                body = json.loads(raw_body or b"{}")
            except ValueError:
                body = {}
            key = headers.get("x-api-key")
            response, burst = self._respond(method, endpoint, key, body)
            status = response.status_code if isinstance(response, httpx.Response) else 0
            self.calls.append(
                Call(
                    endpoint,
                    body if isinstance(body, dict) else {},
                    key,
                    status,
                    self.now_ms(),
                    burst,
                )
            )
            return response

    def _burst_refused(self) -> bool:
        if not self.burst_limit_calls:
            return False
        now = self.now_ms()
        window_ms = self.burst_window_seconds * 1000
        self._answered_at = [t for t in self._answered_at if now - t < window_ms]
        if len(self._answered_at) >= self.burst_limit_calls:
            return True
        self._answered_at.append(now)
        return False

    def _respond(
        self, method: str, endpoint: str, key: str | None, body: Any
    ) -> tuple[httpx.Response | Fault, bool]:
        self._roll_credits()
        if method != "POST":
            return self._error(405, "Method Not Allowed"), False
        scripted = self.on_request(endpoint, body) if self.on_request is not None else None
        if endpoint != "/status":
            assert self.credits_remaining is not None
            if self.credits_remaining <= 0:
                retry = self.exhausted_answer_retry_after
                headers = {"retry-after": retry} if retry else None
                return self._error(429, "daily credits exhausted", headers), False
            self.credits_remaining -= 1
        if scripted is not None:
            return scripted, False
        if self._burst_refused():
            headers = {"retry-after": self.burst_retry_after} if self.burst_retry_after else None
            return self._error(429, "too many requests", headers), True
        fault = self._next_fault(endpoint, body)
        if fault is None and self.flaky_rate and self._rng.random() < self.flaky_rate:
            fault = Fault(self._rng.choice(self.flaky_kinds))
        if fault is not None:
            self.faults_served[str(fault.kind)] += 1
        if fault is not None and fault.kind not in ("malformed", "invalid_item"):
            if fault.kind == "timeout":
                return fault, False
            assert isinstance(fault.kind, int)
            headers = {"retry-after": fault.retry_after} if fault.retry_after else None
            return self._error(fault.kind, f"fault {fault.kind}", headers), False
        response = self._answer(endpoint, key, body)
        if fault is not None and response.status_code == 200:
            if fault.kind == "malformed":
                # A truncated answer: what a dropped connection behind a proxy looks like.
                content = response.content
                return httpx.Response(
                    200,
                    content=content[: max(1, len(content) // 2)],
                    headers={"content-type": "application/json"},
                ), False
            if fault.kind == "invalid_item" and endpoint == "/coins/single/history":
                answer = json.loads(response.content)
                if answer["history"]:
                    victim = self._rng.randrange(len(answer["history"]))
                    answer["history"][victim]["rate"] = "not a number"
                return httpx.Response(200, json=answer), False
        return response, False

    def _answer(self, endpoint: str, key: str | None, body: Any) -> httpx.Response:
        if endpoint != "/status" and key != self.api_key:
            return self._error(401, "Unauthorized")
        if endpoint == "/status":
            return httpx.Response(200, json={})
        if endpoint == "/credits":
            return httpx.Response(
                200,
                json={
                    "dailyCreditsRemaining": self.credits_remaining,
                    "dailyCreditsLimit": self.credits_limit,
                },
            )
        if endpoint == "/coins/map":
            codes = body.get("codes") if isinstance(body, dict) else None
            if not isinstance(codes, list) or len(codes) > 100:
                return self._error(400, "Bad Request")
            now = self.now_ms()
            known = [c for c in codes if c in BASE_PRICES or c in self.coin_overrides]
            return httpx.Response(
                200, json=[self.coin_payload(c, i + 1, now) for i, c in enumerate(known)]
            )
        if endpoint == "/coins/single/history":
            try:
                code, start, end = body["code"], int(body["start"]), int(body["end"])
            except (KeyError, TypeError, ValueError):
                return self._error(400, "Bad Request")
            if end < start:
                return self._error(400, "Bad Request")
            return httpx.Response(
                200, json={"code": code, "history": self.history_points(code, start, end)}
            )
        return self._error(404, "Not Found")

    # --- transports --------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        """Handler for ``httpx.MockTransport``."""
        answer = self.respond(
            request.method, request.url.path, dict(request.headers), request.content
        )
        if isinstance(answer, Fault):
            raise httpx.ReadTimeout("fake timeout", request=request)
        return answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(
        self,
        *,
        retry: RetryPolicy,
        sleep: Callable[[float], Any],
        on_call: Callable[[str], None] | None = None,
        api_key: str | None = None,
    ) -> LiveCoinWatchClient:
        """A real client talking to this fake in process (no socket)."""
        return LiveCoinWatchClient(
            api_key=SecretStr(api_key or self.api_key),
            base_url="http://fake.invalid",
            transport=self.transport(),
            retry=retry,
            sleep=sleep,
            on_call=on_call,
        )

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on a free loopback port; yields the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path == "/coins/single/history" and fake.history_delay_seconds:
                    time.sleep(fake.history_delay_seconds)
                answer = fake.respond(self.command, self.path, headers, raw)
                if isinstance(answer, Fault):
                    time.sleep(fake.timeout_sleep_seconds)
                    answer = httpx.Response(200, json=[])
                content = answer.content
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_POST = _answer  # noqa: N815
            do_GET = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="fake-lcw", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
