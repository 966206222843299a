"""False positives of the loop-block, spin and state-leak detectors: many short storms of every
fixed form, each must come out clean.

For each fixed form (Stampede's fix, the example app's fixed form black-box, and the same app
with `stampede.probe.install(app)`) one server is started and stormed `--rounds` times in a
row: `--storm` seconds of back-to-back trigger requests from `--clients` threads, read by the
same observers `stampede compare` uses (the sampler with its pinger beside the storm, the idle
phase after it) and decided by the same scenario hooks and pure rules. One server per form
keeps a round to the storm and its idle phase (a compare run pays a server and a Locust
start-up, 10-15 s on a busy host, per storm). The script holds the run lock while it storms,
as compare does. With `--bugs`, each buggy form gets one storm too: the same driver must flag
it. Prints one line per storm, then per form: storms, clean, flagged, inconclusive and the
range of the figure the detector decided on; exit code 1 on any false positive.

    .venv/bin/python benchmarks/runtime_false_positives.py                 # 10 rounds, ~10 min
    .venv/bin/python benchmarks/runtime_false_positives.py --rounds 2 --families spin --bugs

Loopback only; every storm is bounded by its time and a request count.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from stampede.loadtest.observe.idle_phase import idle_phase
from stampede.loadtest.observe.sampler import Sampler
from stampede.loadtest.observe.server_http import scrape_server
from stampede.loadtest.process.launcher import CommandTarget, launched, stampede_target
from stampede.loadtest.process.runlock import run_lock
from stampede.loadtest.storm.scenarios.loop_block import loop_block_summary
from stampede.loadtest.storm.scenarios.spin import spin_summary
from stampede.loadtest.storm.scenarios.state_leak import leak_summary
from stampede.server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[1]
MAX_REQUESTS = 100_000
IDLE_S = 2.0
SAMPLE_EVERY_S = 0.5
# family: (trigger path and params, the hook, builtin setting, fix, bug, example module)
FAMILIES: dict[str, dict[str, Any]] = {
    "loop_block": {
        "path": "/v1/agents/a/tool",
        "params": {"ms": 200},
        "hook": loop_block_summary,
        "setting": "tool_impl",
        "fix": "to_thread",
        "bug": "inline",
        "module": "sync_tool",
        "idle": False,
    },
    "spin": {
        "path": "/v1/agents/a/cancel",
        "params": {"tool_ms": 100, "deadline_ms": 5},
        "hook": spin_summary,
        "setting": "cancel_impl",
        "fix": "owner_task",
        "bug": "wrong_task",
        "module": "deadline_tools",
        "idle": True,
    },
    "state_leak": {
        "path": "/v1/sessions",
        "params": {},
        "hook": leak_summary,
        "setting": "session_store",
        "fix": "reaped",
        "bug": "kept",
        "module": "session_store",
        "idle": True,
    },
}


def forms(family: str, fixed: bool) -> dict[str, CommandTarget]:
    spec = FAMILIES[family]
    impl, app = (spec["fix"], "fixed_app") if fixed else (spec["bug"], "app")
    factory = f"examples.probed_runtime:{spec['module']}_{'fixed' if fixed else 'app'}"
    uvicorn = (sys.executable, "-m", "uvicorn", "--port", "{port}")
    return {
        f"builtin {impl}": stampede_target(ServerSettings.explicit(**{spec["setting"]: impl})),
        f"example {app}": CommandTarget(
            (*uvicorn, f"examples.{spec['module']}:{app}"), cwd=ROOT, tcp_fallback=True
        ),
        f"example probed {app}": CommandTarget(
            (*uvicorn, "--factory", factory), cwd=ROOT, tcp_fallback=True
        ),
    }


def drive(url: str, spec: dict[str, Any], until: float, counts: list[int]) -> None:
    with httpx.Client(timeout=5.0) as client:
        for _ in range(MAX_REQUESTS):
            if time.monotonic() >= until:
                return
            try:
                ok = client.post(url + spec["path"], params=spec["params"]).status_code == 200
            except httpx.HTTPError:
                ok = False
            counts[0 if ok else 1] += 1


def storm(handle: Any, spec: dict[str, Any], args: argparse.Namespace, out: Path) -> dict:
    """One storm and its idle phase; the finding the scenario's hook decides."""
    url, pid = handle.base_url, handle.pid
    t0 = time.monotonic()
    sampler = Sampler("fp", pid, url, None, t0, ping_path="/healthz")
    baseline = scrape_server(url)
    rows = [{**sampler.sample(), "client_users": 0, "client_ok": 0}]
    counts = [0, 0]
    until = time.monotonic() + args.storm
    threads = [
        threading.Thread(target=drive, args=(url, spec, until, counts), daemon=True)
        for _ in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    while time.monotonic() < until:
        time.sleep(SAMPLE_EVERY_S)
        rows.append({**sampler.sample(), "client_users": args.clients, "client_ok": counts[0]})
    for thread in threads:
        thread.join(10)
    assert sampler.pinger is not None
    sampler.pinger.close()
    pings = list(sampler.pinger.pings)
    idle = idle_phase(pid, url, IDLE_S, out, "fp", stacks=True) if spec["idle"] else {}
    final = scrape_server(url)
    sampler.close()
    record = SimpleNamespace(
        samples=rows, pings=pings, baseline=baseline, final=final, idle=idle,
        timings={"load_s": args.storm}, blackbox=None,
    )  # fmt: skip
    summary = {"requests": {"ok": counts[0], "failed": counts[1]}}
    return next(iter(spec["hook"](record, summary).values()))


def figure(family: str, f: dict[str, Any]) -> float | None:
    """The number the detector decided on."""
    if family == "loop_block":
        if f.get("evidence") == "exact":
            return (f.get("lag") or {}).get("blocked_share")
        return (f.get("ping") or {}).get("p50_ms")
    if family == "spin":
        return f.get("share")
    held = f.get("held_per_1000") or {}
    value = held.get("event_loop_tasks", held.get("rss_bytes"))
    return value if "event_loop_tasks" in held or value is None else round(value / 2**20, 2)


def run_form(
    family: str, name: str, target: CommandTarget, rounds: int, args: argparse.Namespace,
    out: Path, say: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    spec = FAMILIES[family]
    tally: dict[str, Any] = {"storms": 0, "findings": {}, "figures": [], "evidence": set()}
    with launched(target, log_path=out / f"{family}-{name}.log".replace(" ", "_")) as handle:
        for round_ in range(rounds):
            f = storm(handle, spec, args, out)
            tally["storms"] += 1
            tally["findings"][f["finding"]] = tally["findings"].get(f["finding"], 0) + 1
            tally["evidence"].add(f.get("evidence"))
            tally["figures"].append(figure(family, f))
            bb = f.get("black_box")
            if bb:
                key = f"black_box {bb['finding']}"
                tally["findings"][key] = tally["findings"].get(key, 0) + 1
            say(f"{family} | {name} | storm {round_ + 1}: {f['finding']} "
                f"({f.get('evidence')}) {f.get('reason')}")  # fmt: skip
    tally["evidence"] = sorted(e for e in tally["evidence"] if e)
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--storm", type=float, default=3.0, help="seconds of load per storm")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--bugs", action="store_true", help="one storm of each buggy form too")
    parser.add_argument("--wait", type=float, default=1800, help="for the run lock")
    parser.add_argument("--json", metavar="FILE", help="write the tally here")
    args = parser.parse_args()
    families = [f for f in args.families.split(",") if f]
    if [f for f in families if f not in FAMILIES] or not 1 <= args.rounds <= 100:
        parser.error(f"--families from {list(FAMILIES)}, --rounds 1..100")
    if not 1 <= args.clients <= 32 or not 1 <= args.storm <= 60:
        parser.error("--clients 1..32, --storm 1..60")

    def say(line: str) -> None:
        print(line, flush=True)

    started = time.monotonic()
    report: dict[str, Any] = {}
    false_positives = missed = 0
    with run_lock("false_positives", args.wait, say), tempfile.TemporaryDirectory() as tmp:
        for family in families:
            for fixed in (True, False) if args.bugs else (True,):
                for name, target in forms(family, fixed).items():
                    tally = run_form(
                        family, name, target, args.rounds if fixed else 1, args, Path(tmp), say
                    )
                    quiet = ("clean", "inconclusive")
                    main_flagged = sum(
                        n for k, n in tally["findings"].items()
                        if not k.startswith("black_box") and k not in quiet
                    )  # fmt: skip
                    outside_flagged = sum(
                        n for k, n in tally["findings"].items()
                        if k.startswith("black_box") and k.split(" ", 1)[1] not in quiet
                    )  # fmt: skip
                    if fixed:
                        false_positives += main_flagged + outside_flagged
                    else:
                        missed += tally["storms"] - main_flagged
                    report[f"{family} | {name}"] = tally
                    say(f"== {family} | {name}: {json.dumps(tally)}")
    report["wall_s"] = round(time.monotonic() - started, 1)
    say(f"false positives: {false_positives}; bugs missed: {missed}; wall {report['wall_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 1 if false_positives or missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
