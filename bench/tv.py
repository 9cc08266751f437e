"""TV benchmark: home page weight, key press → repaint under 4× CPU throttling, server latency at 200 clients,
ranking speed for 5,000 households, 语音导读 key press → sound start under 4× CPU throttling. Prints JSON.
Also saves bench/out/tv-home.png (1280×720); the README screenshot comes from the `make run` demo.

The load test is 200 boxes of 200 households (each client its own box token), five home pages each,
against a static file from the same server, on waitress with the production thread count. The server
runs in a process of its own, as `xiaoyuan web` does (clients in the same process took the server's
interpreter lock and blurred the figures). It runs three times and reports every run and the spread,
once with the TV cache on (`[tv] home_cache_seconds`, the default) and once with it off (the cost of a
home nobody cached). Every run starts as after a power cut: the TV cache is empty and the clock has
moved on two minutes, so each box's first page also writes when it was last seen.

Run: .venv/bin/python -m bench.tv   (needs /usr/bin/chromium; everything runs on loopback)
     .venv/bin/python -m bench.tv --load-only   (just the 200-box figures)
     .venv/bin/python -m bench.tv --voice-only  (just the voice-guide figures)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.clock import FakeClock  # noqa: E402
from core.community import points as points_service  # noqa: E402
from core.community.tvboxes import current_code, pair_box, register_box  # noqa: E402
from core.container import Services  # noqa: E402
from core.db import make_engine, make_session_factory, transaction  # noqa: E402
from core.models import Base  # noqa: E402
from core.models.places import Courtyard, Household, Town, Village  # noqa: E402
from core.models.points import PointEntry  # noqa: E402
from core.settings import load_settings  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.tv.conftest import seed_tv_world  # noqa: E402

CLIENTS = 200
REQUESTS_PER_CLIENT = 5
KEY_PRESSES = 60
RUNS = 3
SEEDED_AT = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
WEB_THREADS = 16  # what `xiaoyuan web` / `xiaoyuan run` serve with (xiaoyuan.processes.make_web_server)


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def open_services(tmp: Path, db_path: Path, cache_seconds: float | None) -> tuple[Services, object]:
    """Services over the bench's SQLite file, on a fake clock at the seeding time."""
    from core.phone.telephony.factory import make_telephony
    from core.tts import TtsService

    overrides: dict = {"data": {"dir": str(tmp / "var")}}
    if cache_seconds is not None:
        overrides["tv"] = {"home_cache_seconds": cache_seconds}
    settings = load_settings(environ={}, overrides=overrides)
    engine = make_engine(f"sqlite:///{db_path}")
    clock = FakeClock(SEEDED_AT)
    factory = make_session_factory(engine)
    services = Services(settings=settings, session_factory=factory, clock=clock)
    services.telephony = make_telephony(settings, factory, clock)
    services.tts = TtsService.from_settings(settings)
    return services, engine


def build(tmp: Path, boxes: int = CLIENTS, cache_seconds: float | None = None) -> tuple[Services, list[str], object]:
    """A seeded SQLite app with `boxes` households (two 小院), each with a paired box; their tokens.

    `cache_seconds` overrides `[tv] home_cache_seconds` (0 = no TV cache).
    """
    db_path = tmp / f"bench-{boxes}-{cache_seconds}.db"
    services, engine = open_services(tmp, db_path, cache_seconds)
    Base.metadata.create_all(engine)
    clock = services.clock
    factory = services.session_factory
    tokens = []
    with transaction(factory) as session:
        world = seed_tv_world(session, clock.now(), households_per_courtyard=max(1, boxes // 2))
        for household_id in world.households[:boxes]:
            box, token = register_box(session, now=clock.now())
            code = current_code(session, now=clock.now(), box=box).code
            pair_box(session, now=clock.now(), code=code, household_id=household_id)
            tokens.append(token)
    return services, tokens, engine


def serve(app, threads: int = WEB_THREADS):
    """waitress on a free loopback port, in a thread; returns a function that stops it, and its URL."""
    from waitress import wasyncore
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=threads, connection_limit=CLIENTS + 50,
                           backlog=2048)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def stop() -> None:
        # Close the sockets inside the server's own loop: closing them from here, under its select(),
        # printed "Bad file descriptor" tracebacks after every run.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(10)
        server.task_dispatcher.shutdown()

    return stop, f"http://127.0.0.1:{server.effective_port}"


def browser_figures(base: str, token: str) -> dict:
    """Bytes and requests of the home page; key → repaint p95 under 4× CPU throttling; the screenshot."""
    from playwright.sync_api import sync_playwright

    out: dict = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        context.add_cookies([{"name": "xy_tv", "value": token, "url": f"{base}/tv/"}])
        page = context.new_page()
        sizes: list[int] = []
        page.on("requestfinished", lambda req: sizes.append(len(req.response().body() or b"")))
        page.goto(f"{base}/tv/", wait_until="networkidle")
        out["home_requests"] = len(sizes)
        out["home_bytes"] = sum(sizes)
        shot = ROOT / "bench" / "out" / "tv-home.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot))
        out["screenshot"] = str(shot.relative_to(ROOT))
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        timings = page.evaluate(
            """(n) => new Promise(function (resolve) {
                 var out = [], i = 0, keys = [39, 39, 40, 37, 38, 37];
                 function one() {
                   if (i >= n) { resolve(out); return; }
                   var code = keys[i % keys.length]; i++;
                   var t0 = performance.now();
                   document.dispatchEvent(new KeyboardEvent('keydown', {keyCode: code, which: code, bubbles: true}));
                   requestAnimationFrame(function () { requestAnimationFrame(function () {
                     out.push(performance.now() - t0); setTimeout(one, 30); }); });
                 }
                 one();
               })""",
            KEY_PRESSES,
        )
        out["key_to_repaint_ms_p95_cpu4x"] = round(p95(timings), 1)
        out["key_to_repaint_ms_median_cpu4x"] = round(statistics.median(timings), 1)
        browser.close()
    return out


VOICE_PRESSES = 12


def voice_figures(base: str, token: str, services: Services) -> dict:
    """语音导读: key press → the guide's <audio> fires `playing`, on clips already cached, 4× CPU throttle.

    The box's guide is switched on; one warm-up walk over the home tiles renders every clip (the
    server's WAV cache) and fills the browser's cache, as on a box that has been used. Then RUNS
    runs of VOICE_PRESSES arrow keys, each waiting for the sound to start before the next press.
    """
    from playwright.sync_api import sync_playwright

    from core.community.tvboxes import box_for_token, set_voice_guide

    with transaction(services.session_factory) as session:
        set_voice_guide(session, box=box_for_token(session, token), on=True)
    measure = """(n) => new Promise(function (resolve) {
        var out = [], i = 0, keys = [39, 39, 40, 37, 37, 38];
        var player = document.getElementById('guide-player');
        var t0 = 0, waiting = false;
        player.addEventListener('playing', function () {
          if (!waiting) { return; }
          waiting = false; out.push(performance.now() - t0); setTimeout(one, 150);
        }, false);
        function one() {
          if (i >= n) { resolve(out); return; }
          var code = keys[i % keys.length]; i++;
          waiting = true;
          t0 = performance.now();
          document.dispatchEvent(new KeyboardEvent('keydown', {keyCode: code, which: code, bubbles: true}));
        }
        one();
      })"""
    runs: list[dict] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        context.add_cookies([{"name": "xy_tv", "value": token, "url": f"{base}/tv/"}])
        page = context.new_page()
        page.goto(f"{base}/tv/", wait_until="networkidle")
        page.wait_for_function("() => document.getElementById('guide-player')")
        page.evaluate(measure, VOICE_PRESSES)  # warm-up: every clip rendered and cached once
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        for _ in range(RUNS):
            page.reload(wait_until="networkidle")
            page.wait_for_function("() => window.TvApp && document.getElementById('guide-player')")
            timings = page.evaluate(measure, VOICE_PRESSES)
            runs.append({"median_ms": round(statistics.median(timings), 1), "p95_ms": round(p95(timings), 1),
                         "max_ms": round(max(timings), 1)})
        browser.close()
    return {"presses_per_run": VOICE_PRESSES, "cpu_throttle": 4, "runs": runs,
            "spread": {k: [min(r[k] for r in runs), max(r[k] for r in runs)] for k in runs[0]}}


async def _fetch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
    """One keep-alive HTTP/1.1 exchange; the whole body read (Content-Length or chunked)."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status == 200, status
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)}
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
        return
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


def _run_clients(host: str, port: int, tokens: list[str], path: str) -> tuple[list[float], float]:
    """CLIENTS connected boxes ask for `path` at the same moment, REQUESTS_PER_CLIENT times each, one after
    another on their own keep-alive connection; every latency (ms) and the time until the last answer (s)."""

    async def main() -> tuple[list[float], float]:
        latencies: list[float] = []
        go, ready = asyncio.Event(), asyncio.Event()
        connected: list[int] = []

        async def box(token: str) -> None:
            reader, writer = await asyncio.open_connection(host, port)
            request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: xy_tv={token}\r\n\r\n").encode()
            connected.append(1)
            if len(connected) == CLIENTS:
                ready.set()
            await go.wait()
            for _ in range(REQUESTS_PER_CLIENT):
                started = time.perf_counter()
                await _fetch(reader, writer, request)
                latencies.append((time.perf_counter() - started) * 1000)
            writer.close()

        tasks = [asyncio.create_task(box(tokens[i % len(tokens)])) for i in range(CLIENTS)]
        await ready.wait()  # every box connected before any asks: the load starts at once
        started = time.perf_counter()
        go.set()
        await asyncio.gather(*tasks)
        return latencies, time.perf_counter() - started

    return asyncio.run(main())


def load_figures(base: str, tokens: list[str], server_cpu: Callable[[], float]) -> dict:
    """200 concurrent keep-alive clients, each its own box: home page vs a static file from the same server.

    The clients are one asyncio loop in this process (200 client threads spent more of the machine than
    the server did); `server_cpu` reads the server process's CPU time in seconds."""
    host, port = base.replace("http://", "").split(":")

    def run(path: str) -> list[float]:
        latencies, elapsed = _run_clients(host, int(port), tokens, path)
        elapsed_s[path] = elapsed
        return latencies

    elapsed_s: dict[str, float] = {}
    cpu = server_cpu()
    home = run("/tv/")  # first: the cold start is the homes'
    home_cpu = (server_cpu() - cpu) * 1000 / len(home)
    cpu = server_cpu()
    static = run("/tv/static/tv.css")
    static_cpu = (server_cpu() - cpu) * 1000 / len(static)
    return {
        "clients": CLIENTS, "requests_each": REQUESTS_PER_CLIENT,
        # CPU of the server process per request: unlike latency, other load on the machine hardly moves it.
        "home_cpu_ms": round(home_cpu, 2), "static_cpu_ms": round(static_cpu, 2),
        "home_vs_static_cpu": round(home_cpu / static_cpu, 2),
        "home_ms_median": round(statistics.median(home), 1), "home_ms_p95": round(p95(home), 1),
        "static_ms_median": round(statistics.median(static), 1), "static_ms_p95": round(p95(static), 1),
        "home_vs_static_median": round(statistics.median(home) / statistics.median(static), 2),
        "home_vs_static_p95": round(p95(home) / p95(static), 2),
        # the time until the last of the 1,000 answers: the server's throughput, steadier than latency
        "home_all_s": round(elapsed_s["/tv/"], 2), "static_all_s": round(elapsed_s["/tv/static/tv.css"], 2),
    }


def spread(runs: list[dict]) -> dict:
    """Lowest and highest of each figure over the runs (pure)."""
    keys = [k for k in runs[0] if k not in ("clients", "requests_each")]
    return {k: [min(r[k] for r in runs), max(r[k] for r in runs)] for k in keys}


def server_process(conn, tmp: str, db_path: str, cache_seconds: float | None) -> None:
    """The web server of the load test, in its own process; obeys "cold", "cpu" and "stop" from `conn`."""
    from core.community.tvboxes import TvConfig
    from tvportal.homecache import cache_for
    from xiaoyuan.app import create_app

    services, engine = open_services(Path(tmp), Path(db_path), cache_seconds)
    stop_server, base = serve(create_app(services))
    conn.send(base)
    try:
        while True:
            command = conn.recv()
            if command == "cold":  # as after a power cut: nothing cached, every box unseen for two minutes
                config = TvConfig.from_settings(services.settings)
                cache_for(services.session_factory, config.home_cache_seconds, time.monotonic).changed()
                services.clock.advance(minutes=2)
                conn.send("ok")
            elif command == "cpu":
                conn.send(time.process_time())
            else:
                break
    finally:
        stop_server()
        services.tts.close()
        engine.dispose()


def warm_up(base: str, token: str) -> None:
    """One home and one static file, so no run pays for the server's first templates and statements."""
    host, port = base.replace("http://", "").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    for path in ("/tv/", "/tv/static/tv.css"):
        conn.request("GET", path, headers={"Cookie": f"xy_tv={token}"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    conn.close()


def load_runs(tmp: Path, cache_seconds: float | None) -> dict:
    """RUNS load tests of one server process, each from a cold start; every run and the spread."""
    import multiprocessing

    services, tokens, engine = build(tmp, cache_seconds=cache_seconds)
    db_path = str(engine.url.database)
    services.tts.close()
    engine.dispose()
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    child = context.Process(target=server_process, args=(child_conn, str(tmp), db_path, cache_seconds))
    child.start()
    try:
        base = conn.recv()
        warm_up(base, tokens[0])
        runs = []
        for _ in range(RUNS):
            conn.send("cold")
            conn.recv()
            runs.append(load_figures(base, tokens, lambda: conn.send("cpu") or conn.recv()))
    finally:
        conn.send("stop")
        child.join(30)
    return {"web_threads": WEB_THREADS, "boxes": len(tokens), "runs": runs, "spread": spread(runs)}


def ranking_figures(tmp: Path, url: str | None = None) -> dict:
    """Ranking queries for a village of 5,000 households (200 小院) with 20 ledger entries each."""
    engine = make_engine(url or f"sqlite:///{tmp / 'rank.db'}")
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    now = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
    with transaction(factory) as session:
        town = Town(name="基准镇")
        session.add(town)
        session.flush()
        village = Village(town_id=town.id, name="基准村")
        session.add(village)
        session.flush()
        courtyards = [{"village_id": village.id, "name": f"院{i}", "pickup_place": ""} for i in range(200)]
        session.execute(sa.insert(Courtyard), courtyards)
        court_ids = list(session.scalars(sa.select(Courtyard.id).order_by(Courtyard.id)))
        session.execute(sa.insert(Household), [
            {"courtyard_id": court_ids[i % 200], "name": f"户{i}", "address": "", "created_at": now}
            for i in range(5000)])
        homes = list(session.execute(sa.select(Household.id, Household.courtyard_id)))
        rows = []
        for index, (hid, cid) in enumerate(homes):
            for k in range(20):
                rows.append({"household_id": hid, "courtyard_id": cid, "village_id": village.id, "town_id": town.id,
                             "delta": (index * 7 + k) % 11 - 2, "category": "环境卫生", "reason": "检查",
                             "source": "bench", "actor_label": "bench",
                             "created_at": now - dt.timedelta(days=(k * 3) % 60, minutes=index % 600)})
        session.execute(sa.insert(PointEntry), rows)
        village_id, court_id = village.id, court_ids[0]
    timings: dict[str, float] = {}
    with factory() as session:
        for name, scope, scope_id, period in (("village_month", "village", village_id, "month"),
                                              ("village_all", "village", village_id, "all"),
                                              ("village_progress", "village", village_id, "progress"),
                                              ("courtyard_month", "courtyard", court_id, "month")):
            runs = []
            for _ in range(5):
                started = time.perf_counter()
                board = points_service.ranking(session, now=now, scope=scope, scope_id=scope_id, period=period)
                points_service.with_reasons(session, board[:6])
                runs.append((time.perf_counter() - started) * 1000)
            timings[f"{name}_ms"] = round(statistics.median(runs), 1)
    engine.dispose()
    return {"households": 5000, "entries": 100000, **timings}


def main() -> None:
    """Run every figure and print one JSON object."""
    from xiaoyuan.app import create_app

    results: dict = {}
    load_only = "--load-only" in sys.argv[1:]
    voice_only = "--voice-only" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        if not load_only:
            services, tokens, engine = build(tmp, boxes=1)
            stop_server, base = serve(create_app(services))
            try:
                if not voice_only:
                    results["browser"] = browser_figures(base, tokens[0])
                results["voice_guide"] = voice_figures(base, tokens[0], services)  # switches the guide on
            finally:
                stop_server()
                services.tts.close()
                engine.dispose()
            if voice_only:
                results["goals"] = {"voice_key_to_sound_ms": 300}
                print(json.dumps(results, ensure_ascii=False, indent=2))
                return
        results["load"] = load_runs(tmp, cache_seconds=None)
        results["load_without_tv_cache"] = load_runs(tmp, cache_seconds=0)
        if load_only:
            print(json.dumps(results, ensure_ascii=False, indent=2))
            return
        results["ranking_sqlite"] = ranking_figures(tmp)
        pg = next((arg.split("=", 1)[1] for arg in sys.argv[1:] if arg.startswith("--pg=")), None)
        if pg:
            results["ranking_postgresql"] = ranking_figures(tmp, pg)
    results["goals"] = {"home_bytes": 60 * 1024, "home_requests": 10, "key_to_repaint_ms_p95": 50,
                        "home_vs_static": 2.0, "voice_key_to_sound_ms": 300}
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
