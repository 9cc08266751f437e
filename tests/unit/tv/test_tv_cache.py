"""The TV cache: values live until any write in this process or until their time is up."""

from __future__ import annotations

from tvportal.homecache import TvCache


class Clock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_lives_until_a_write_or_its_time_is_up():
    clock = Clock()
    cache = TvCache(5, clock)
    cache.put("home", "<html>1</html>", cache.generation)
    assert cache.get("home") == "<html>1</html>"
    clock.now += 5
    assert cache.get("home") == "<html>1</html>"
    clock.now += 0.1
    assert cache.get("home") is None  # older than 5 s
    cache.put("home", "<html>2</html>", cache.generation)
    cache.changed()  # something was written
    assert cache.get("home") is None


def test_a_value_computed_before_a_write_is_not_kept():
    cache = TvCache(5, Clock())
    started = cache.generation
    cache.changed()  # a write landed while the page was being computed
    cache.put("home", "stale", started)
    assert cache.get("home") is None
    assert cache.remember("board", lambda: [1, 2]) == [1, 2]
    assert cache.remember("board", lambda: [3]) == [1, 2]


def test_a_remembered_none_is_reused():
    """No meeting today is an answer too: the 小院's boxes do not each look it up again."""
    cache = TvCache(5, Clock())
    assert cache.remember("meeting", lambda: None) is None
    assert cache.remember("meeting", lambda: {"id": 1}) is None


def test_off_and_bounded():
    off = TvCache(0, Clock())
    off.put("home", "x", off.generation)
    assert off.get("home") is None
    small = TvCache(5, Clock(), max_entries=2)
    for key in ("a", "b", "c"):
        small.put(key, key, small.generation)
    assert small.get("a") is None and small.get("b") == "b" and small.get("c") == "c"
