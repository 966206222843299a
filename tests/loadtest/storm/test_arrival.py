"""The open-model schedule: exact rates, ramps and spikes, and its flag parsers."""

from __future__ import annotations

import itertools

import pytest
from stampede.loadtest.storm.users.arrival import (
    Rate,
    RateSchedule,
    parse_phases,
    parse_rate,
    parse_trigger,
)


def starts(schedule: RateSchedule, until: float) -> list[float]:
    out, n = [], 0
    while (t := schedule.time_of(n)) is not None and t < until:
        out.append(t)
        n += 1
    return out


def test_constant_rate_is_exact_and_evenly_spaced() -> None:
    times = starts(RateSchedule(Rate(40, 40), ramp_s=10), 10)
    assert len(times) == 400
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {0.025}


def test_ramp_integrates_to_its_mean_rate() -> None:
    schedule = RateSchedule(Rate(10, 30), ramp_s=10)
    assert schedule.expected(10) == pytest.approx(200)
    assert len(starts(schedule, 10)) == 200
    # first half: 10..20/s -> 75 arrivals; the rate keeps its end value after the ramp
    assert len(starts(schedule, 5)) == 75
    assert schedule.rate_at(12) == 30


def test_spike_multiplies_the_rate_inside_the_trigger_phase_only() -> None:
    phases = parse_phases("baseline=4,trigger=2,recovery=4")
    schedule = RateSchedule(Rate(10, 10), 10, phases, parse_trigger("spike:3x"))
    times = starts(schedule, 10)
    per_phase = [sum(1 for t in times if p.start_s <= t < p.end_s) for p in phases]
    assert per_phase == [40, 60, 40]


@pytest.mark.parametrize(
    ("flag", "text", "needle"),
    [
        (parse_rate, "fast", "not a number"),
        (parse_rate, "0", "> 0 somewhere"),
        (parse_rate, "-1", ">= 0"),
        (parse_phases, "baseline=5,recovery=5", "in order"),
        (parse_phases, "baseline=0,trigger=1,recovery=1", "> 0"),
        (parse_phases, "baseline", "name=seconds"),
        (parse_trigger, "cpu:1.5", "<= 1"),
        (parse_trigger, "melt:3x", "spike:Nx"),
        (parse_trigger, "spike:0.5x", "> 1"),
    ],
)
def test_bad_values_name_flag_and_value(flag, text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle) as info:
        flag(text)
    assert str(info.value).startswith(("--arrival-rate", "--phases", "--trigger"))
