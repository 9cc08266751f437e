"""Secrets kept in the data dir (web secret key, broker service and gateway passwords) when processes start
together on a fresh data dir: every one gets the same, complete secret, none crashes."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.settings import load_settings
from devices.broker import gateway_account, service_password
from xiaoyuan.app import secret_key_for


def _all_at_once(read, workers: int = 16) -> list[object]:
    barrier = threading.Barrier(workers)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(read())
        except Exception as exc:  # the crash is what the test looks for
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


@pytest.mark.parametrize("read", [service_password, lambda s: gateway_account(s)[1],
                                  lambda s: secret_key_for(SimpleNamespace(settings=s))],
                         ids=["broker service", "watch gateway", "web secret key"])
def test_processes_starting_together_get_one_complete_secret(tmp_path: Path, read) -> None:
    for round_ in range(30):
        settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / str(round_))}})
        results = _all_at_once(lambda settings=settings: read(settings))
        assert [r for r in results if isinstance(r, Exception)] == []
        assert len(set(results)) == 1 and len(str(results[0])) >= 20
