"""The shared flag converters: each value checked once, each error naming the value."""

from __future__ import annotations

import argparse

import pytest
from stampede.loadtest import flags


def _refused(convert: flags.Converter[object], text: str) -> str:
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        convert(text)
    message = str(exc.value)
    assert repr(text) in message, message
    return message


def test_numbers_with_bounds() -> None:
    cpus = flags.number(float, 0, 1024, open_low=True)
    assert cpus("0.5") == 0.5 and cpus("1024") == 1024
    assert "must be > 0" in _refused(cpus, "0")
    for bad in ("nan", "inf", "1e308", "abc", "", "\u0663"):  # an Arabic-Indic three
        _refused(cpus, bad)
    users = flags.integer(1, 10)
    assert users("10") == 10
    assert "not an integer" in _refused(users, "2.5")
    assert "must be >= 1 and <= 10" in _refused(users, "11")


def test_durations_plain_or_with_units() -> None:
    duration = flags.duration(3600)
    assert duration("20") == 20.0 and duration("2.5") == 2.5
    assert duration("1m30s") == 90.0 and duration("500ms") == 0.5 and duration("1h") == 3600
    assert "must be > 0" in _refused(duration, "0s")
    assert "<= 3600" in _refused(duration, "2h")
    _refused(duration, "1m30x")
    assert flags.duration(60, open_low=False)("0") == 0.0


def test_sizes_and_none_words() -> None:
    memory = flags.optional(flags.size)
    assert memory("512M") == 512 << 20 and memory("1g") == 1 << 30 and memory("none") is None
    assert memory("OFF") is None
    _refused(memory, "12Q")


def test_comma_lists_name_the_bad_item() -> None:
    shapes = flags.comma_list(flags.integer(1, 1024))
    assert shapes("1, 2,4") == (1, 2, 4)
    assert "item 'x'" in _refused(shapes, "1,x")
    assert "empty item" in _refused(shapes, "1,,2")
    assert "repeated" in _refused(shapes, "2,2")
    assert flags.comma_list(str, drop_repeats=True)("a,b,a") == ("a", "b")


def test_a_server_setting_is_checked_by_the_server_settings() -> None:
    latency = flags.setting("model_latency_ms")
    assert latency("300") == 300.0
    assert "greater than or equal to 0" in _refused(latency, "-1")
    waiter = flags.setting("waiter")
    assert waiter("future") == "future"
    assert "'to_thread'" in _refused(waiter, "bogus")  # the server's own list of choices
    assert flags.setting("cpus")("none") is None  # the server's "none" word, too
    with pytest.raises(KeyError):
        flags.setting("no_such_setting")
