"""Open-model load: when intents start, whatever the responses do.

`--arrival-rate R` (intents per second) or `R1:R2` (a linear ramp over the run) gives a rate
r(t); `--phases baseline=20,trigger=10,recovery=30` with `--trigger spike:3x` multiplies it
during the trigger phase. The schedule is the inverse of the cumulative rate: global arrival n
starts at the t where the integral of r equals n, so the rate is exact by construction and
nothing waits for an answer (wrk2's constant-throughput model, no coordinated omission).

Pure functions and the schedule only (no Locust): the harness validates the same flags with
them before anything starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PHASE_NAMES = ("baseline", "trigger", "recovery")
TRIGGER_KINDS = ("spike", "slow-model", "cpu")
MAX_RATE = 100_000.0


@dataclass(frozen=True)
class Rate:
    start: float  # intents per second at t = 0
    end: float  # at the end of the ramp (== start: constant)

    @property
    def ramp(self) -> bool:
        return self.start != self.end


@dataclass(frozen=True)
class Phase:
    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Trigger:
    kind: str  # spike | slow-model | cpu
    factor: float  # spike: rate x factor; slow-model: latency x factor; cpu: quota x factor

    def __str__(self) -> str:
        return f"{self.kind}:{self.factor:g}" + ("" if self.kind == "cpu" else "x")


def _number(flag: str, text: str, low: float, high: float, *, open_low: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not a number") from None
    if not math.isfinite(value) or value > high or value < low or (open_low and value == low):
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        raise ValueError(f"{flag} {text!r}: must be {bound} and <= {high:g}")
    return value


def parse_rate(text: str) -> Rate | None:
    """'' -> None (closed model); 'R' -> constant; 'R1:R2' -> a ramp over the run."""
    text = (text or "").strip()
    if not text:
        return None
    first, sep, second = text.partition(":")
    start = _number("--arrival-rate", first, 0, MAX_RATE)
    end = _number("--arrival-rate", second, 0, MAX_RATE) if sep else start
    if start == end == 0:
        raise ValueError(f"--arrival-rate {text!r}: must be > 0 somewhere")
    return Rate(start, end)


def parse_phases(text: str) -> tuple[Phase, ...]:
    """'baseline=20,trigger=10,recovery=30' -> three consecutive phases (seconds)."""
    text = (text or "").strip()
    if not text:
        return ()
    items = [part.strip() for part in text.split(",")]
    names, phases, at = [], [], 0.0
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--phases item {item!r}: not name=seconds")
        seconds = _number(f"--phases {name}", value, 0, 86_400, open_low=True)
        names.append(name.strip())
        phases.append(Phase(name.strip(), at, at + seconds))
        at += seconds
    if tuple(names) != PHASE_NAMES:
        raise ValueError(
            f"--phases {text!r}: give {','.join(f'{n}=SECONDS' for n in PHASE_NAMES)} in order"
        )
    return tuple(phases)


def parse_trigger(text: str) -> Trigger | None:
    """'spike:3x' | 'slow-model:5x' | 'cpu:0.5' (the CPU quota's new share)."""
    text = (text or "").strip()
    if not text:
        return None
    kind, sep, value = text.partition(":")
    if kind not in TRIGGER_KINDS or not sep:
        raise ValueError(f"--trigger {text!r}: give spike:Nx, slow-model:Nx or cpu:SHARE")
    if kind == "cpu":
        return Trigger(kind, _number("--trigger cpu", value, 0, 1, open_low=True))
    factor = _number(f"--trigger {kind}", value.removesuffix("x"), 1, 1000, open_low=True)
    return Trigger(kind, factor)


def total_s(phases: tuple[Phase, ...]) -> float:
    return phases[-1].end_s if phases else 0.0


def phase_at(phases: tuple[Phase, ...], t: float) -> str | None:
    return next((p.name for p in phases if p.start_s <= t < p.end_s), None)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float  # math.inf for the last one
    r0: float
    r1: float  # rate at `end` (== r0 for the infinite last segment)

    def area(self) -> float:
        return (self.r0 + self.r1) / 2 * (self.end - self.start)


class RateSchedule:
    """Piecewise-linear rate r(t) from t = 0; `time_of(n)`: when global arrival n is due."""

    def __init__(
        self,
        rate: Rate,
        ramp_s: float,
        phases: tuple[Phase, ...] = (),
        trigger: Trigger | None = None,
    ) -> None:
        self.rate = rate
        cuts = {0.0, ramp_s}
        spike = trigger is not None and trigger.kind == "spike"
        window = next((p for p in phases if p.name == "trigger"), None) if spike else None
        if window is not None:
            cuts |= {window.start_s, window.end_s}
        self.ramp_s = ramp_s
        self.spike = (window, trigger.factor if trigger else 1.0) if window else None
        points = sorted(c for c in cuts if c >= 0)
        self.segments: list[Segment] = []
        for a, b in zip(points, [*points[1:], math.inf], strict=True):
            r0 = self.rate_at(a)
            r1 = r0 if b == math.inf else self._rate_before(b)
            self.segments.append(Segment(a, b, r0, r1))

    def _base(self, t: float) -> float:
        if self.ramp_s <= 0:
            return self.rate.end
        share = min(1.0, max(0.0, t / self.ramp_s))
        return self.rate.start + (self.rate.end - self.rate.start) * share

    def _factor(self, t: float, *, before: bool = False) -> float:
        if self.spike is None:
            return 1.0
        window, factor = self.spike
        if before:  # the rate just before t: a segment's end belongs to it
            inside = window.start_s < t <= window.end_s
        else:
            inside = window.start_s <= t < window.end_s
        return factor if inside else 1.0

    def rate_at(self, t: float) -> float:
        return self._base(t) * self._factor(t)

    def _rate_before(self, t: float) -> float:
        return self._base(t) * self._factor(t, before=True)

    def expected(self, t: float) -> float:
        """Arrivals due in [0, t): the integral of r."""
        total = 0.0
        for seg in self.segments:
            if t <= seg.start:
                break
            end = min(t, seg.end)
            slope = 0.0 if seg.end == math.inf else (seg.r1 - seg.r0) / (seg.end - seg.start)
            tau = end - seg.start
            total += seg.r0 * tau + slope * tau * tau / 2
        return total

    def time_of(self, n: float) -> float | None:
        """Seconds from t = 0 at which the integral of r reaches n; None: never."""
        left = n
        for seg in self.segments:
            area = seg.area() if seg.end != math.inf else math.inf
            if left > area:
                left -= area
                continue
            if seg.end == math.inf:
                return seg.start + left / seg.r0 if seg.r0 > 0 else None
            slope = (seg.r1 - seg.r0) / (seg.end - seg.start)
            if abs(slope) < 1e-12:
                return seg.start + (left / seg.r0 if seg.r0 > 0 else 0.0)
            tau = (-seg.r0 + math.sqrt(max(0.0, seg.r0**2 + 2 * slope * left))) / slope
            return seg.start + tau
        return None
