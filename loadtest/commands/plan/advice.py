"""A target plan's recommendations, each with the measured figure it rests on, and the figures
per host shape that `--fail-on` gates and `stampede diff` read.

- Concurrency limit: the largest level measured with p99 within the SLO, times HEADROOM, with
  the matching uvicorn flag and semaphore. HEADROOM leaves a fifth for what a plan on loopback
  does not see (a slower network, a noisy neighbour, a longer prompt).
- Replicas for --target-rate R: at the limit L a replica carries X(L) intents/s, each intent
  taking W = L / X(L) (Little's law, L = X·W), so R needs ceil(R / X(L)) replicas.
- Retry policy: of the four measured at twice the limit (clients giving up at the SLO and
  retrying), the one with the highest goodput among those that stayed out of collapse.
Pure functions of the plan's shapes; no I/O.
"""

from __future__ import annotations

import math
from typing import Any

HEADROOM = 0.8


def recommended_limit(shape: dict[str, Any]) -> int | None:
    n = shape["ladder"]["summary"]["slo_max_concurrency"]
    return None if n is None else max(1, math.floor(n * HEADROOM))


def goodput_at(shape: dict[str, Any], n: int) -> tuple[int, float] | None:
    """The measured level nearest at or below n, and its goodput."""
    levels = [p for p in shape["ladder"]["points"] if p["concurrency"] <= n]
    if not levels:
        return None
    point = max(levels, key=lambda p: p["concurrency"])
    return point["concurrency"], point["goodput_per_s"]


SIMPLEST_FIRST = ("full-jitter", "budget", "adaptive", "none")  # "none" rides out no blip
SAME_SHARE = 0.9  # goodputs within 10% of the best are not told apart by a plan's short steps


def best_policy(shape: dict[str, Any]) -> str | None:
    """The simplest retrying policy whose goodput is within 10% of the best that held."""
    trials = (shape.get("policies") or {}).get("trials") or {}
    held = {p: t for p, t in trials.items() if not t["collapsed"]}
    if not held:
        return None
    best = max(t["goodput_per_s"] for t in held.values())
    close = [
        p for p in SIMPLEST_FIRST if p in held and held[p]["goodput_per_s"] >= SAME_SHARE * best
    ]
    return close[0]


def replicas(rate: float, per_replica: float) -> int | None:
    return None if per_replica <= 0 else math.ceil(rate / per_replica)


def shape_figures(shape: dict[str, Any], target_rate: float | None) -> dict[str, Any]:
    """The gate and diff figures of one shape (loadtest/verdict/gates.py names them)."""
    s, fit, storm = shape["ladder"]["summary"], shape["usl"], shape.get("storm") or {}
    limit = recommended_limit(shape)
    at = goodput_at(shape, limit) if limit else None
    margin = storm.get("margin_duplicates")
    if margin is None and storm.get("max_tested"):
        margin = storm["max_tested"] + 1  # no collapse up to max_tested: at least one more
    return {
        "knee_concurrency": s["knee_concurrency"],
        "peak_goodput": s["peak_goodput_per_s"],
        "slo_max_concurrency": s["slo_max_concurrency"],
        "recommended_limit": limit,
        "goodput_at_limit": at[1] if at else None,
        "replicas": replicas(target_rate, at[1]) if target_rate and at else None,
        "storm_margin_duplicates": margin,
        "storm_margin_lower_bound": storm.get("margin_duplicates") is None,
        "usl_r2": fit["r2"],
        "usl_sigma": fit["sigma"] if fit["fits"] else None,
        "usl_kappa": fit["kappa"] if fit["fits"] else None,
        "usl_fits": fit["fits"],
        "retry_policy": best_policy(shape),
    }


def _p99_at(shape: dict[str, Any], n: int) -> float | None:
    point = next(p for p in shape["ladder"]["points"] if p["concurrency"] == n)
    return point["latency_ms"].get("p99")


def shape_advice(shape: dict[str, Any], slo_ms: float, target_rate: float | None) -> list[str]:
    where = shape["label"]
    s, figures = shape["ladder"]["summary"], shape["figures"]
    out = []
    limit = figures["recommended_limit"]
    if limit is None:
        out.append(
            f"{where}: no level met the SLO (p99 <= {slo_ms:g} ms), even N=1 "
            f"(p99 {_p99_at(shape, 1)} ms): no concurrency limit can fix that; speed up a "
            "single request first."
        )
    else:
        n = s["slo_max_concurrency"]
        out.append(
            f"{where}: limit concurrency to {limit} per replica. The largest level measured "
            f"within the SLO was N={n} (p99 {_p99_at(shape, n):.0f} ms <= {slo_ms:g} ms"
            + (f"; N={s['first_slo_breach']} breached it" if s["first_slo_breach"] else "")
            + f"), and {HEADROOM:.0%} of it leaves headroom. Configure `uvicorn --limit-"
            f"concurrency {limit}` (uvicorn answers 503 beyond it, counting connections "
            f"too), or hold an `asyncio.Semaphore({limit})` around the handler's work."
        )
        at = goodput_at(shape, limit)
        if target_rate and at:
            level, x = at
            count = figures["replicas"]
            out.append(
                f"{where}: {target_rate:g} intents/s need {count} replica(s): at N={level} "
                f"one replica served {x:.3g} intents/s, W = N/X = {level / x:.3g} s per intent "
                f"(Little's law), so ceil({target_rate:g} / {x:.3g}) = {count}."
                if x > 0
                else f"{where}: no goodput measured at N={level}: cannot size replicas."
            )
    out.extend(_storm_advice(shape, where))
    return out


def _storm_advice(shape: dict[str, Any], where: str) -> list[str]:
    out = []
    storm = shape.get("storm")
    if storm:
        base = storm["baseline_goodput_per_s"]
        if storm["margin_duplicates"] is None:
            out.append(
                f"{where}: no retry-storm collapse up to {storm['max_tested']} same-key "
                f"duplicates per intent at N={storm['concurrency']} (goodput stayed >= half of "
                f"{base:.3g}/s)."
            )
        else:
            d = storm["margin_duplicates"]
            step = next(p for p in storm["steps"] if p["duplicates"] == d)
            what = "wedged (nothing succeeded)" if step["stalled"] else "collapsed"
            fact = (
                f"at N={storm['concurrency']} goodput {what} at D={d} "
                f"({step['goodput_per_s']:.3g}/s against {base:.3g}/s with none)"
            )
            out.append(
                f"{where}: keep same-key retry fan-out below {d} concurrent duplicates: {fact}."
                if d > 1
                else f"{where}: even one same-key duplicate per intent is too many: {fact}. "
                "The target serves each duplicate as new work; make duplicates of an in-flight "
                "idempotency key wait for the primary's answer before allowing any fan-out."
            )
    trials = (shape.get("policies") or {}).get("trials")
    if trials:
        pol = shape["policies"]
        shown = ", ".join(
            f"{p} {t['goodput_per_s']:.3g}/s{' (collapsed)' if t['collapsed'] else ''}"
            for p, t in trials.items()
        )
        best = shape["figures"]["retry_policy"]
        head = (
            f"{where}: retry with `{best}` (the simplest retrying policy within 10% of the "
            "best goodput that stayed out of collapse)"
            if best
            else f"{where}: every retry policy collapsed; lower the limit or the fan-out"
        )
        out.append(
            f"{head}: at N={pol['concurrency']} (twice the limit), clients giving up at the "
            f"SLO and retrying, goodput was {shown} (against {pol['baseline_goodput_per_s']:.3g}"
            "/s at the limit; collapse is below half of it)."
        )
    return out


def fit_sentence(shape: dict[str, Any]) -> str:
    fit = shape["usl"]
    if not fit["fits"]:
        return f"{shape['label']}: the USL is not quoted: {fit['reason']}."
    star = (
        f"N* = sqrt((1-σ)/κ) = {fit['n_star']:g}, predicted peak {fit['predicted_peak']:.3g}/s"
        if fit["n_star"] is not None
        else "κ = 0: throughput never falls again, it levels off towards λ/σ = "
        + (f"{fit['predicted_peak']:.3g}/s" if fit["predicted_peak"] else "infinity (linear)")
    )
    return (
        f"{shape['label']}: USL σ = {fit['sigma']:.4g} (contention), κ = {fit['kappa']:.3g} "
        f"(coherency), λ = {fit['lam']:.3g}/s; {star}; R² = {fit['r2']:.3f} over "
        f"{fit['points']} levels."
    )
