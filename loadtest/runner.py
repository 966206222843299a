"""Run one variant: capped server, headless Locust, 0.5 s sampling, and a guaranteed teardown.

Every step is bounded by the variant's deadline, and teardown runs whatever happened (an error,
a wedge, Ctrl-C): Locust's process group is stopped, the server is stopped and its cgroups
removed, and what was measured so far stays in the returned record.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from loadtest.caps import CappedProcess, CapsRequest, start_capped
from loadtest.sampler import Sampler, parse_server_metrics

SAMPLE_EVERY_S = 0.5
HEALTH_TIMEOUT_S = 20.0
LOCUST_TAIL_S = 4.0  # Locust's own start-up before its --run-time clock starts
LOCUST_STOP_S = 2.0  # Locust writes its CSVs and exits well within this on SIGTERM
SERVER_STOP_S = 3.0  # a wedged server aborts its waiters and exits in about 1 s; SIGKILL after
SETTLE_S = 1.5  # let a healthy server finish in-flight work before measuring leftovers
PORT_ATTEMPTS = 3
LOCUSTFILE = Path(__file__).with_name("locustfile.py")

Progress = Callable[[dict[str, Any]], None]


class VariantError(Exception):
    """The variant could not run (server or Locust failed to start); the message says why."""


@dataclass
class VariantPlan:
    variant: str
    server_settings: dict[str, str]  # ServerSettings field -> value, passed as serve flags
    caps: CapsRequest
    user_classes: list[str]
    locust_args: dict[str, str]  # custom argument (underscored) -> value
    users: int
    duration_s: float
    grace_s: float
    run_dir: Path
    # argv that runs `stampede serve` (flags follow); None: this interpreter's. An --sdk
    # variant's server runs with its own venv's python (loadtest/sdk_envs.py).
    server_command: list[str] | None = None


@dataclass
class VariantRecord:
    name: str
    server_settings: dict[str, str]
    caps: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    started_at: float | None = None  # wall clock, Locust start (t_s = 0)
    ran_s: float = 0.0
    ended: str = "not started"  # completed | wedged | stalled | deadline | error | interrupted
    wedged_at_s: float | None = None
    stalled_at_s: float | None = None
    baseline: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    loop_errors_by_kind: dict[str, int] = field(default_factory=dict)
    locust_exit_code: int | None = None
    server_exit_code: int | None = None
    error: str | None = None
    teardown_s: float | None = None
    files: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM until the block ends, so starting or stopping a process is never
    cut in half (a process started but not yet recorded would be leaked)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            raise KeyboardInterrupt


def server_argv(settings: dict[str, str], command: list[str] | None = None) -> list[str]:
    argv = list(command or [sys.executable, "-m", "loadtest.cli", "serve"])
    for name, value in settings.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def locust_argv(plan: VariantPlan, url: str, csv_prefix: Path, metrics_port: int) -> list[str]:
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *plan.user_classes]
    argv += ["--headless", "--only-summary", "--exit-code-on-error", "0", "--stop-timeout", "0"]
    argv += ["--users", str(plan.users), "--spawn-rate", str(plan.users)]
    argv += ["--run-time", f"{math.ceil(plan.duration_s)}s", "--host", url]
    argv += ["--targets", f"{plan.variant}={url}", "--csv", str(csv_prefix)]
    argv += ["--prometheus-port", str(metrics_port), "--prometheus-host", "127.0.0.1"]
    for name, value in plan.locust_args.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def child_env() -> dict[str, str]:
    # Settings travel as flags only: a stray STAMPEDE_* in the caller's shell must not change
    # one variant behind the report's back.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAMPEDE_", "LOCUST_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline: float, log: Path) -> None:
    with httpx.Client(timeout=0.5) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise VariantError(
                    f"server exited with code {proc.returncode} before answering /healthz "
                    f"({_tail(log)})"
                )
            with contextlib.suppress(httpx.HTTPError):
                if http.get(f"{url}/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    raise VariantError(f"server did not answer {url}/healthz in time ({_tail(log)})")


def get_json(url: str) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=0.5)
        response.raise_for_status()
        return dict(response.json())
    except (httpx.HTTPError, ValueError):
        return {}


def scrape_server(url: str) -> dict[str, Any]:
    try:
        response = httpx.get(f"{url}/metrics", timeout=0.5)
        response.raise_for_status()
        return parse_server_metrics(response.text)
    except (httpx.HTTPError, ValueError):
        return {}


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float) -> int | None:
    """SIGTERM the process group, SIGKILL it after `timeout`; returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        _killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)
    return proc.poll()


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class VariantRun:
    """State of one variant while it runs; `run()` always tears down what it started."""

    def __init__(self, plan: VariantPlan, deadline: float, progress: Progress) -> None:
        self.plan = plan
        self.deadline = deadline
        self.progress = progress
        self.record = VariantRecord(plan.variant, dict(plan.server_settings))
        self.server: CappedProcess | None = None
        self.locust: subprocess.Popen[bytes] | None = None
        self.sampler: Sampler | None = None
        self.logs: list[IO[bytes]] = []
        self.url = ""

    def run(self) -> VariantRecord:
        """Never raises KeyboardInterrupt: an interrupted variant returns with ended
        "interrupted", after its teardown, and the caller decides what to do next."""
        try:
            self._start_server()
            self._start_locust()
            self._sample()
        except VariantError as exc:
            self.record.ended, self.record.error = "error", str(exc)
        except KeyboardInterrupt:
            self.record.ended = "interrupted"
        finally:
            try:
                with deferred_interrupts():
                    self._teardown()
            except KeyboardInterrupt:  # arrived during teardown, which still ran to the end
                self.record.ended = "interrupted"
        return self.record

    def _open_log(self, relative: str, key: str) -> IO[bytes]:
        path = self.plan.run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("wb")
        self.logs.append(handle)
        self.record.files[key] = relative
        return handle

    def _start_server(self) -> None:
        log = self._open_log(f"server/{self.plan.variant}.log", "server_log")
        for attempt in range(PORT_ATTEMPTS):
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            settings = {**self.plan.server_settings, "host": "127.0.0.1", "port": str(port)}
            with deferred_interrupts():
                self.server = start_capped(
                    server_argv(settings, self.plan.server_command),
                    self.plan.caps,
                    name=f"stampede-{self.plan.variant}",
                    env=child_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.record.caps = self.server.report()
            health_deadline = min(time.monotonic() + HEALTH_TIMEOUT_S, self.deadline)
            try:
                wait_healthy(self.url, self.server.popen, health_deadline, Path(log.name))
                break
            except VariantError:
                # free_port() cannot reserve the port: another process may bind it first.
                log_text = Path(log.name).read_text(errors="replace").lower()
                if attempt + 1 == PORT_ATTEMPTS or "address already in use" not in log_text:
                    raise
                with deferred_interrupts():
                    self.server.stop(timeout=1.0)
                log.write(f"--- port {port} was taken; retrying on another ---\n".encode())
                log.flush()
        self.record.baseline = scrape_server(self.url)

    def _start_locust(self) -> None:
        metrics_port = free_port()
        prefix = self.plan.run_dir / "locust" / self.plan.variant
        log = self._open_log(f"locust/{self.plan.variant}.log", "locust_log")
        self.record.files["locust_csv_prefix"] = f"locust/{self.plan.variant}"
        with deferred_interrupts():
            self.locust = subprocess.Popen(
                locust_argv(self.plan, self.url, prefix, metrics_port),
                cwd=self.plan.run_dir,
                env=child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: Ctrl-C reaches us, we stop it
            )
            t0 = time.monotonic()
            self.record.started_at = time.time()
        assert self.server is not None
        self.sampler = Sampler(
            self.plan.variant,
            self.server.pid,
            self.url,
            f"http://127.0.0.1:{metrics_port}/metrics",
            t0,
        )

    def _sample(self) -> None:
        assert self.sampler is not None and self.locust is not None and self.server is not None
        end = min(self.sampler.t0 + self.plan.duration_s + LOCUST_TAIL_S, self.deadline)
        flagged_at: float | None = None
        next_at = time.monotonic()
        while True:
            row = self.sampler.sample()
            self.record.samples.append(row)
            flagged_at = self._note_flags(row, flagged_at)
            self.progress(row)
            now = time.monotonic()
            self.record.ran_s = round(now - self.sampler.t0, 3)
            if self.locust.poll() is not None:
                self.record.ended = "completed"
                self._check_locust_ran()
                return
            if flagged_at is not None and now - flagged_at >= self.plan.grace_s:
                self.record.ended = "wedged" if self.record.wedged_at_s is not None else "stalled"
                return
            if self.server.popen.poll() is not None:
                raise VariantError(f"server exited with code {self.server.popen.returncode}")
            if now >= end:
                self.record.ended = "deadline"
                return
            next_at += SAMPLE_EVERY_S
            time.sleep(max(0.0, min(next_at, end) - time.monotonic()))

    def _note_flags(self, row: dict[str, Any], flagged_at: float | None) -> float | None:
        if row.get("wedged") and self.record.wedged_at_s is None:
            self.record.wedged_at_s = row["t_s"]
        if row.get("stalled") and self.record.stalled_at_s is None:
            self.record.stalled_at_s = row["t_s"]
        if flagged_at is None and (row.get("wedged") or row.get("stalled")):
            return time.monotonic()
        return flagged_at

    def _check_locust_ran(self) -> None:
        assert self.locust is not None
        code = self.locust.returncode
        if code not in (0, None) and not any(r.get("client_requests") for r in self.record.samples):
            log = self.plan.run_dir / self.record.files["locust_log"]
            raise VariantError(f"locust exited with code {code} ({_tail(log)})")

    def _teardown(self) -> None:
        started = time.monotonic()
        self.record.locust_exit_code = stop_group(self.locust, LOCUST_STOP_S)
        if self.server is not None and self.server.popen.poll() is None and self.url:
            self._final_snapshot()
        if self.sampler is not None:
            self.sampler.close()
        if self.server is not None:
            self.record.server_exit_code = self.server.stop(timeout=SERVER_STOP_S)
            self.record.caps = self.server.report()
        for handle in self.logs:
            handle.close()
        self.record.teardown_s = round(time.monotonic() - started, 3)

    def _final_snapshot(self) -> None:
        interrupted = self.record.ended == "interrupted"
        wedged = self.record.wedged_at_s is not None
        # Settling is a nicety: skip it when wedged (nothing will finish) or out of time.
        settle = 0 if interrupted or wedged or time.monotonic() > self.deadline else SETTLE_S
        settle_until = time.monotonic() + settle
        final = scrape_server(self.url)
        while final.get("inflight_primaries") and time.monotonic() < settle_until:
            time.sleep(0.1)
            final = scrape_server(self.url)
        self.record.final = final
        self.record.loop_errors_by_kind = dict(final.get("loop_errors_by_kind", {}))
        self.record.status = get_json(f"{self.url}/v1/status")
        since = self.record.status.get("wedged_since")
        if isinstance(since, int | float) and self.record.started_at is not None:
            self.record.wedged_at_s = round(since - self.record.started_at, 3)


def run_variant(plan: VariantPlan, deadline: float, progress: Progress) -> VariantRecord:
    return VariantRun(plan, deadline, progress).run()
