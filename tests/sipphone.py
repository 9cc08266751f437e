"""Driving tests/sipua.py phones from another process (tests and bench/sip.py): commands out, events in."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from core.settings import ROOT


def free_udp_port() -> int:
    """A UDP port nobody uses now (and its neighbour RTP range is derived from it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll a condition until it returns something truthy; fail the test naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class SipPhone:
    """One tests/sipua.py process: send commands, wait for its events."""

    def __init__(self, port: int, user: str, answer: str = "answer") -> None:
        self.port = port
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.sipua", "--port", str(port), "--user", user, "--answer", answer],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        threading.Thread(target=self._read, daemon=True).start()
        self.wait("ready", timeout=20)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                continue

    def send(self, **command: Any) -> None:
        """One command."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def wait(self, ev: str, timeout: float = 20, **match: Any) -> dict[str, Any]:
        """The next event of this kind (and these fields), including ones that already arrived."""
        for event in self.seen:
            if event.get("ev") == ev and all(event.get(k) == v for k, v in match.items()):
                self.seen.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"phone {self.port}: no {ev} {match} within {timeout}s; seen {self.seen[-8:]}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event.get("ev") == ev and all(event.get(k) == v for k, v in match.items()):
                return event
            self.seen.append(event)

    def ask(self, ev: str, **command: Any) -> dict[str, Any]:
        """Send a query command and return its answer."""
        self.send(**command)
        return self.wait(ev)

    def call(self, to: str) -> str:
        """Dial and wait for the answer; the call id."""
        self.send(cmd="call", to=to)
        call_id = self.wait("calling")["id"]
        self.wait("answered", id=call_id)
        return call_id

    def until_quiet(self, call_id: str, after: float, ms: int = 1500, timeout: float = 60) -> float:
        """Wait until the far end has spoken (after `after`) and then been quiet for `ms`; when it went quiet."""
        return wait_until(lambda: self.ask("quiet", cmd="quiet", id=call_id, ms=ms, after=after)["at"], timeout,
                          "the far end to finish speaking", interval=0.2)

    def until_loud(self, call_id: str, after: float, timeout: float = 20) -> float:
        """Wait until the far end is heard (after `after`); when."""
        return wait_until(lambda: self.ask("first_loud", cmd="first_loud", id=call_id, after=after)["at"],
                          timeout, "audio from the far end", interval=0.1)

    def now(self) -> float:
        """This phone's monotonic clock (the same clock as every process on the machine)."""
        return self.ask("now", cmd="now")["at"]

    def close(self) -> None:
        """Quit and reap the process."""
        if self.process.poll() is None:
            try:
                self.send(cmd="quit")
                self.process.wait(15)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
