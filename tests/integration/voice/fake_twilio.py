"""A fake Twilio REST API on loopback: records placed calls, updates and SMS; serves recordings.

The real `twilio.rest.Client` speaks HTTP to it (its API base is pointed here), so tests cover the
provider's real request composition. Tests then fire status callbacks themselves.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "fake-auth-token"


@dataclass
class FakeTwilio:
    """State of the fake API: what was asked of it."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    recordings: dict[str, bytes] = field(default_factory=dict)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_next_call: int | None = None  # HTTP status to answer the next call creation with
    url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_sid(self, prefix: str) -> str:
        """A Twilio-shaped 34-character sid."""
        return f"{prefix}{next(self._ids):032d}"

    def add_recording(self, data: bytes) -> str:
        """Host a recording; return the URL Twilio would send as RecordingUrl (no extension)."""
        sid = self.next_sid("RE")
        self.recordings[sid] = data
        return f"{self.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"

    def call_to(self, number: str) -> dict[str, Any]:
        """The last call placed to a number."""
        return [c for c in self.calls if c["To"] == number][-1]


def _json_call(state: FakeTwilio, sid: str, form: dict[str, str], status: str = "queued") -> dict[str, Any]:
    return {"sid": sid, "account_sid": ACCOUNT_SID, "to": form.get("To"), "from": form.get("From"),
            "status": status, "direction": "outbound-api", "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json"}


class _Handler(BaseHTTPRequestHandler):
    state: FakeTwilio

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _authorised(self) -> bool:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return self.headers.get("Authorization") == expected

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if not self._authorised():
            self._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        match = re.fullmatch(rf"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/(RE\w+)\.wav", self.path)
        if match and match.group(1) in self.state.recordings:
            self._send(200, self.state.recordings[match.group(1)], "audio/x-wav")
            return
        self._send(404, {"code": 20404, "message": "not found", "status": 404})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[-1] if len(v) == 1 else v for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        state = self.state
        with state.lock:
            state.headers.append(dict(self.headers))
            if not self._authorised():
                self._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return
            base = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
            if self.path == f"{base}/Calls.json":
                if state.fail_next_call:
                    status, state.fail_next_call = state.fail_next_call, None
                    self._send(status, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": status})
                    return
                sid = state.next_sid("CA")
                state.calls.append({"sid": sid, **form})
                self._send(201, _json_call(state, sid, form))
                return
            match = re.fullmatch(rf"{base}/Calls/(CA\w+)\.json", self.path)
            if match:
                state.updates.append({"sid": match.group(1), **form})
                self._send(200, _json_call(state, match.group(1), form, status=form.get("Status", "in-progress")))
                return
            if self.path == f"{base}/Messages.json":
                sid = state.next_sid("SM")
                state.messages.append({"sid": sid, **form})
                self._send(201, {"sid": sid, "account_sid": ACCOUNT_SID, "to": form.get("To"),
                                 "from": form.get("From"), "body": form.get("Body"), "status": "queued"})
                return
        self._send(404, {"code": 20404, "message": "not found", "status": 404})


class FakeTwilioServer:
    """Start/stop the fake API on a free loopback port."""

    def __init__(self) -> None:
        self.state = FakeTwilio()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.state.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeTwilio:
        self.thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
