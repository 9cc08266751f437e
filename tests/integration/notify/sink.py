"""A threaded HTTP sink on loopback that records every request and answers as a test tells it to.

Used by the channel tests, the crash test and bench/outbox.py. It can be slow (`delay_s` per request),
fail the next N requests with a status, hold the N-th request until released (so a test can kill a
sender while a request is in flight), or answer through a `responder` (e.g. a fake Twilio API).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, bytes, str]  # status, body, content type


@dataclass(frozen=True)
class Recorded:
    """One request the sink received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, list[str]]:
        """The body parsed as a URL-encoded form."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


class Sink:
    """Start with `with Sink() as sink:`; `sink.url` is its base URL."""

    def __init__(self, *, delay_s: float = 0.0, responder: Callable[[Recorded], Answer | None] | None = None,
                 record_bodies: bool = True) -> None:
        self.delay_s = delay_s
        self.responder = responder
        self.record_bodies = record_bodies
        self.records: list[Recorded] = []
        self.default: Answer = (200, b'{"ok":true}', "application/json")
        self._failures: deque[Answer] = deque()
        self._cond = threading.Condition()
        self._hold_at: int | None = None
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control

    def fail(self, times: int, status: int = 500, body: bytes = b'{"error":"boom"}',
             content_type: str = "application/json") -> None:
        """Answer the next `times` requests with this status."""
        with self._cond:
            self._failures.extend([(status, body, content_type)] * times)

    def hold(self, nth: int) -> None:
        """Keep the nth request (1-based) waiting, unanswered, until release()."""
        self._hold_at = nth
        self._released.clear()

    def release(self) -> None:
        """Let a held request be answered."""
        self._released.set()

    @property
    def count(self) -> int:
        """Requests received so far."""
        with self._cond:
            return len(self.records)

    def wait_for(self, predicate: Callable[[list[Recorded]], bool], timeout: float = 60.0) -> bool:
        """Block until predicate(records) holds (checked on every request) or the timeout passes."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.records), timeout=timeout)

    def poke(self) -> None:
        """Wake wait_for() so it re-checks its predicate (e.g. when a watched process died)."""
        with self._cond:
            self._cond.notify_all()

    def snapshot(self) -> list[Recorded]:
        """A copy of the records."""
        with self._cond:
            return list(self.records)

    # -- lifecycle

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:PORT."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Sink:
        """Listen on a free loopback port."""
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are written separately: no 40 ms delayed-ACK stalls

            def do_POST(self) -> None:
                sink._handle(self)

            def do_GET(self) -> None:
                sink._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and let held requests go."""
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if len(body) < length:
            handler.close_connection = True
            return  # the sender died mid-request: a real server discards a truncated request too
        parts = urlsplit(handler.path)
        record = Recorded(
            method=handler.command, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in handler.headers.items()}, body=body if self.record_bodies else b"",
        )
        with self._cond:
            self.records.append(record)
            number = len(self.records)
            answer = self._failures.popleft() if self._failures else None
            self._cond.notify_all()
        if self._hold_at is not None and number == self._hold_at:
            self._released.wait(timeout=60)
        if self.delay_s:
            time.sleep(self.delay_s)  # a slow provider, not a test waiting for time
        if answer is None and self.responder is not None:
            answer = self.responder(record)
        status, payload, content_type = answer or self.default
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the sender went away (killed mid-request)


def twilio_messages_responder(account_sid: str, rejects: dict[str, tuple[int, int, str]] | None = None,
                              ) -> Callable[[Recorded], Answer | None]:
    """A fake Twilio Messages API: POST /2010-04-01/Accounts/{sid}/Messages.json answers 201 with a Message.

    `rejects` maps a To number to (HTTP status, Twilio error code, message) answered instead.
    """
    counter = iter(range(1, 10**9))

    def respond(record: Recorded) -> Answer | None:
        if record.path != f"/2010-04-01/Accounts/{account_sid}/Messages.json" or record.method != "POST":
            return 404, b'{"code": 20404, "message": "not found", "status": 404}', "application/json"
        form = record.form()
        to = form.get("To", [""])[0]
        if rejects and to in rejects:
            status, code, text = rejects[to]
            return status, json.dumps({"code": code, "message": text, "status": status}).encode(), "application/json"
        sid = f"SM{next(counter):032d}"
        message = {
            "sid": sid, "account_sid": account_sid, "status": "queued", "direction": "outbound-api",
            "to": form.get("To", [""])[0], "from": form.get("From", [""])[0], "body": form.get("Body", [""])[0],
            "num_segments": "1", "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        }
        return 201, json.dumps(message).encode(), "application/json"

    return respond


def serve_main() -> None:
    """`python -m tests.integration.notify.sink [delay_ms]`: serve until stdin closes; print the URL first."""
    import sys

    delay_ms = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    with Sink(delay_s=delay_ms / 1000, record_bodies=False) as sink:
        print(sink.url, flush=True)
        sys.stdin.read()  # the parent closes our stdin to stop us
        print(sink.count, flush=True)


if __name__ == "__main__":
    serve_main()
