"""The suite-wide checks (`pytest --stampede`): what each test leaves behind fails that test.

Around each test's call, and after its teardown:

- tasks: tasks created during the call and still pending at its end (on loops that are not
  running then; a loop running in another thread is mid-work), with where each was created;
- threads: threads started during the call and alive after a short grace, other than pool
  workers idle between items, with their stacks;
- parked: default-executor and anyio workers parked in a wait primitive at the end;
- wedge: the default executor wedged during the test (watchdog.py);
- loop_errors: what the loops' exception handlers got ("Task exception was never retrieved",
  "Task was destroyed but it is pending!", cross-task cancel scopes, ...), with the task's
  creation stack when there is one;
- blocking: a callback that held a loop longer than the threshold, with the loop's stack
  (blocking.py; time in gc or waiting for a CPU not counted).

A finding that an allow-list entry matches is allowed (config.py); the others fail the test
with their evidence. The session's end lists the allow-list entries that matched nothing.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

# Bound at import: a test that patches time.monotonic (a fake clock) must not reach us.
from time import monotonic
from typing import Any

import pytest
from stampede.probe.stacks import classify_stack, frames_of
from stampede.pytest_plugin.blocking import SlowCallbacks
from stampede.pytest_plugin.config import Settings
from stampede.pytest_plugin.loops import Frame, Registry, WatchingPolicy, own_frames
from stampede.pytest_plugin.watchdog import THREAD_NAME, Watchdog, grouped, user_frames

POOL_THREADS = ("asyncio_", "AnyIO worker thread", "ThreadPoolExecutor-")
MAX_EVIDENCE_LINES = 60


@dataclass
class Finding:
    kind: str
    title: str
    evidence: str

    def text(self) -> str:
        lines = self.evidence.rstrip().splitlines()
        if len(lines) > MAX_EVIDENCE_LINES:
            lines = [*lines[:MAX_EVIDENCE_LINES], f"... ({len(lines) - MAX_EVIDENCE_LINES} more)"]
        body = "".join(f"\n    {line}" for line in lines)
        return f"[{self.kind}] {self.title}{body}"


def _frame_lines(frames: list[Frame]) -> list[str]:
    return [f"{file}:{line} in {name}" for file, line, name in frames]


class SuiteChecks:
    """The pytest plugin object `--stampede` registers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.allow = settings.allow
        self.registry = Registry(self._loop_error)
        self.watchdog = Watchdog(
            self.registry, self._found, settings.block_ms / 1000, settings.wedge_confirm_s
        )
        self.slow = SlowCallbacks(
            self.registry,
            lambda title, evidence, texts: self._found("blocking", title, evidence, texts),
            settings.block_ms / 1000,
        )
        self.pending: list[Finding] = []  # found since the current phase began
        self.outside: list[Finding] = []  # found when no test ran
        self.outside_elsewhere: list[str] = []  # the same, from pytest-xdist workers
        self.in_test = False
        self.nodeid = ""
        self.failed_tests = 0
        self.allowed = 0
        self._reported_parked: set[int] = set()
        # ids of the tasks reported pending (gc clears weak references before a task's
        # finalizer reports it destroyed, so a WeakSet could not tell): its later "destroyed
        # but pending" is the same leak, maybe in a later test, and is not reported again
        self._reported: set[int] = set()
        self._previous_policy: asyncio.AbstractEventLoopPolicy | None = None
        self.first_task: int | None = None  # the current test's: tasks numbered above are its
        self._original_cancel_all = asyncio.runners._cancel_all_tasks  # type: ignore[attr-defined]

    # -- the session ---------------------------------------------------------------------
    def start(self) -> None:
        self._previous_policy = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(WatchingPolicy(self._previous_policy, self.registry))
        asyncio.runners._cancel_all_tasks = self._cancel_all_tasks  # type: ignore[attr-defined]
        self.slow.install()
        self.watchdog.start()

    def stop(self) -> None:
        self.watchdog.stop()
        self.slow.uninstall()
        asyncio.runners._cancel_all_tasks = self._original_cancel_all  # type: ignore[attr-defined]
        if self._previous_policy is not None:
            asyncio.set_event_loop_policy(self._previous_policy)

    # -- findings as they happen (any thread) --------------------------------------------
    def _found(self, kind: str, title: str, evidence: str, texts: list[str]) -> None:
        texts = [title, *texts, self.nodeid]  # an entry may name a test, too
        entry = None if kind == "internal" else self.allow.allows(kind, texts)
        if entry is not None:
            self.allowed += entry != "built-in"
            return
        (self.pending if self.in_test else self.outside).append(Finding(kind, title, evidence))

    def _loop_error(
        self, kind: str, message: str, exception: BaseException | None, context: dict[str, Any]
    ) -> None:
        parts = []
        if exception is not None:
            parts.append("".join(traceback.format_exception(exception)))
        texts = [kind, message, repr(exception)]
        task = context.get("task") or context.get("future")
        if kind == "task_destroyed_pending" and id(task) in self._reported:
            self._reported.discard(id(task))  # freed now: the id may be reused
            return
        origin = self.registry.origins.get(task) if task is not None else None
        if origin is not None and origin[1]:
            lines = _frame_lines(own_frames(origin[1]))
            parts.append("the task was created at:\n  " + "\n  ".join(lines))
            texts += lines
        title = f"loop error {kind}: {message}"
        self._found("loop_errors", title, "\n".join(parts), texts)

    # -- around each test ----------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        self.in_test = True
        self.nodeid = item.nodeid
        self.pending = []
        self.first_task = None
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        self.first_task = first_task = self.registry.last_number
        threads_before = {t.ident for t in threading.enumerate()}
        try:
            result = yield
        finally:
            findings = self._end_of_call(first_task, threads_before)
        self._fail(findings)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Iterator[None]:
        try:
            result = yield
        finally:
            findings, self.pending = self.pending, []
            self.in_test = False
        self._fail(findings)
        return result

    def _fail(self, findings: list[Finding]) -> None:
        if findings:
            self.failed_tests += 1
            text = "\n".join(f.text() for f in findings)
            pytest.fail(f"stampede: {len(findings)} finding(s)\n{text}", pytrace=False)

    def _end_of_call(self, first_task: int, threads_before: set[int | None]) -> list[Finding]:
        made_tasks = self.registry.last_number > first_task
        if made_tasks:
            for watch in self.registry.watches():
                loop = watch.loop
                if loop is not None and not loop.is_running():
                    self._pending_tasks(loop)
            gc.collect()  # destroyed-pending and never-retrieved tasks report themselves now
        self._threads(threads_before)
        self._parked_workers()
        findings, self.pending = self.pending, []
        return findings

    def _cancel_all_tasks(self, loop: asyncio.AbstractEventLoop) -> None:
        """asyncio.Runner's own, after a look at what it is about to cancel: a runner that
        closes its loop with the test (anyio's, asyncio.run) would otherwise hide the tasks
        the test left pending."""
        if self.first_task is not None and loop in self.registry.loops:
            self._pending_tasks(loop)
        self._original_cancel_all(loop)

    def _pending_tasks(self, loop: asyncio.AbstractEventLoop) -> None:
        first_task = self.first_task if self.first_task is not None else 0
        for task in asyncio.all_tasks(loop):
            number, frames = self.registry.origins.get(task, (0, []))
            if number <= first_task or id(task) in self._reported:
                continue
            coro = task.get_coro()
            coro_name = getattr(coro, "__qualname__", type(coro).__name__)
            lines = _frame_lines(own_frames(frames))
            title = f"task {task.get_name()!r} ({coro_name}) left pending at the test's end"
            evidence = "created at:\n  " + "\n  ".join(lines or ["(unknown)"])
            now = task.get_stack(limit=8)
            if now:
                where = [f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}" for f in now]
                evidence += "\nwaiting at:\n  " + "\n  ".join(where)
            self._reported.add(id(task))
            self._found("tasks", title, evidence, [task.get_name(), coro_name, *lines])

    def _threads(self, before: set[int | None]) -> None:
        deadline = monotonic() + self.settings.thread_grace_s
        started = [
            t
            for t in threading.enumerate()
            if t.ident not in before
            and t.name != THREAD_NAME
            and t is not threading.current_thread()
        ]
        frames = sys._current_frames()
        for thread in started:
            if _state(frames, thread) == "idle":
                continue
            thread.join(max(0.0, deadline - monotonic()))
        frames = sys._current_frames()
        for thread in started:
            if not thread.is_alive():
                continue
            state = _state(frames, thread)
            if state == "idle":
                continue
            stack = _stack(frames, thread)
            if state == "parked":
                self._parked(thread, stack)
                continue
            title = f"thread {thread.name!r} started by the test is still running"
            self._found("threads", title, grouped("thread", [stack]), [thread.name, *stack])

    def _parked_workers(self) -> None:
        frames = sys._current_frames()
        for thread in threading.enumerate():
            if not thread.name.startswith(POOL_THREADS) or thread.ident in self._reported_parked:
                continue
            if _state(frames, thread) == "parked":
                self._parked(thread, _stack(frames, thread))

    def _parked(self, thread: threading.Thread, stack: list[str]) -> None:
        if thread.ident in self._reported_parked:
            return
        self._reported_parked.add(thread.ident)  # type: ignore[arg-type]
        title = f"worker {thread.name!r} is parked in a wait at the test's end"
        self._found("parked", title, grouped("worker", [stack]), [thread.name, *stack])

    # -- the session's end ---------------------------------------------------------------
    # Under pytest-xdist each worker checks its own tests, and only the controller prints:
    # a worker hands its counts and allow-list hits over, and the controller adds them up (else
    # its summary would count nothing and call every allow-list entry unused).
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        output = getattr(session.config, "workeroutput", None)
        if output is not None:
            output["stampede_checks"] = {
                "failed": self.failed_tests,
                "allowed": self.allowed,
                "hits": [[kind, pattern, n] for (kind, pattern), n in self.allow.hits.items()],
                "outside": [finding.text() for finding in self.outside],
            }

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        counts = getattr(node, "workeroutput", {}).get("stampede_checks")
        if not counts:
            return
        self.failed_tests += counts["failed"]
        self.allowed += counts["allowed"]
        for kind, pattern, n in counts["hits"]:
            self.allow.hits[(kind, pattern)] += n
        self.outside_elsewhere += counts["outside"]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        tr = terminalreporter
        tr.section("stampede checks")
        tr.write_line(
            f"{self.failed_tests} test phase(s) failed on findings; {self.allowed} finding(s) "
            f"allowed by the allow-lists (settings: {self.settings.source})"
        )
        for text in [finding.text() for finding in self.outside] + self.outside_elsewhere:
            tr.write_line("outside any test: " + text)
        unused = self.allow.unused()
        if unused:
            tr.write_line(f"{len(unused)} allow-list entr(y/ies) matched nothing this session:")
            for kind, pattern in unused:
                tr.write_line(f"  [tool.stampede.pytest.allow] {kind}: {pattern!r}")


def _state(frames: dict[int, Any], thread: threading.Thread) -> str:
    frame = frames.get(thread.ident)  # type: ignore[arg-type]
    if frame is None:
        return "gone"
    return classify_stack([(f, n) for f, n in frames_of(frame)])


def _stack(frames: dict[int, Any], thread: threading.Thread) -> list[str]:
    return user_frames(frames.get(thread.ident))  # type: ignore[arg-type]
