"""A real HTTP server on 127.0.0.1 that plays a webhook: records what it accepts, can be down."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class WebhookReceiver:
    url: str
    status_when_down: int = 503
    down: bool = False
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted_event: threading.Condition = field(default_factory=threading.Condition)

    def accepted_ids(self) -> list[str]:
        with self.lock:
            return [r.headers.get("idempotency-key", "") for r in self.received]

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.accepted_event:
            return self.accepted_event.wait_for(lambda: len(self.received) >= count, timeout)


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    state: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = state["receiver"]
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if receiver.down:
                with receiver.lock:
                    receiver.refused += 1
                self.send_response(receiver.status_when_down)
                self.end_headers()
                return
            entry = Received(
                self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw)
            )
            with receiver.accepted_event:
                with receiver.lock:
                    receiver.received.append(entry)
                receiver.accepted_event.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    state["receiver"] = WebhookReceiver(url=f"http://{host!s}:{port}/hook/secret-path-token")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
