"""Outbox dispatch throughput: messages per second to a local webhook sink and through the dry-run channel.

Prints JSON. SQLite always; PostgreSQL when --database-url or XIAOYUAN_TEST_DATABASE_URL is given (a fresh
database is created next to the one named and dropped afterwards). The sink runs in its own process.

    .venv/bin/python bench/outbox.py --messages 2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.clock import SystemClock  # noqa: E402
from core.container import Services  # noqa: E402
from core.db import make_engine, make_session_factory, normalise_url, transaction  # noqa: E402
from core.models import Base  # noqa: E402
from core.models.outbox import OutboxMessage  # noqa: E402
from core.notify.dispatcher import DEFAULT_CONCURRENCY, Dispatcher  # noqa: E402
from core.notify.outbox import Recipient, enqueue_message  # noqa: E402
from core.settings import load_settings  # noqa: E402


@contextmanager
def sink_process(delay_ms: float) -> Iterator[str]:
    """A webhook sink in a child process; yields its URL."""
    child = subprocess.Popen([sys.executable, "-m", "tests.integration.notify.sink", str(delay_ms)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield child.stdout.readline().strip()
    finally:
        child.stdin.close()
        child.wait(timeout=30)


@contextmanager
def database(kind: str, pg_base: str | None) -> Iterator[str]:
    """A fresh, empty database URL of that kind, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    admin = sa.create_engine(normalise_url(pg_base), isolation_level="AUTOCOMMIT")
    name = f"xiaoyuan_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(normalise_url(pg_base)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_case(url: str, channel: str, messages: int, batch: int, sink_url: str | None, tmp: str,
             concurrency: int) -> dict:
    """Enqueue `messages` rows for one channel and time the dispatcher until none is due."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    overrides: dict = {"data": {"dir": tmp}}
    if sink_url:  # only the webhook case has a sink (settings refuse a URL without a host)
        overrides["webhook"] = {"url": sink_url + "/hook", "secret": "bench"}
    settings = load_settings(environ={}, overrides=overrides)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock())
    clock = services.clock
    started = time.perf_counter()
    with transaction(services.session_factory) as session:
        for i in range(messages):
            enqueue_message(session, now=clock.now(), recipient=Recipient(name=f"院长{i}", phone="+8613900000001"),
                            template="bench.message", text=f"第{i}条通知：请到积分超市领取奖品", channels=(channel,))
    enqueue_s = time.perf_counter() - started
    dispatcher = Dispatcher(services, concurrency=concurrency)
    started = time.perf_counter()
    while dispatcher.run_once(batch):
        pass
    dispatch_s = time.perf_counter() - started
    dispatcher.close()
    with services.session_factory() as session:
        by_status = dict(session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)).all())
    engine.dispose()
    return {
        "database": url.split(":", 1)[0].split("+")[0],
        "channel": channel,
        "concurrency": concurrency,
        "messages": messages,
        "dispatch_seconds": round(dispatch_s, 3),
        "messages_per_s": round(messages / dispatch_s, 1),
        "enqueue_per_s": round(messages / enqueue_s, 1),
        "statuses": by_status,
    }


def main() -> None:
    """Run every case and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--sink-delay-ms", type=float, default=0.0, help="simulated provider latency per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[DEFAULT_CONCURRENCY, 1],
                        help="dispatcher send threads to measure (webhook cases)")
    parser.add_argument("--database-url", default=os.environ.get("XIAOYUAN_TEST_DATABASE_URL"),
                        help="a PostgreSQL server URL (a fresh database is created beside it)")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if args.database_url else [])
    results = []
    with sink_process(args.sink_delay_ms) as sink_url, tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            cases = [("webhook", c) for c in args.concurrency] + [("dryrun", DEFAULT_CONCURRENCY)]
            for channel, concurrency in cases:
                with database(kind, args.database_url) as url:
                    results.append(run_case(url, channel, args.messages, args.batch,
                                            sink_url if channel == "webhook" else None, tmp, concurrency))
    print(json.dumps({
        "benchmark": "outbox dispatch",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.system()},
        "batch": args.batch,
        "sink_delay_ms": args.sink_delay_ms,
        "results": results,
    }, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
