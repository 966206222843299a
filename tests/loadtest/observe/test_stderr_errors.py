"""Loop errors classified from real stderr output: asyncio's own reports, uvicorn's ASGI
tracebacks, counted once each however many lines they span; look-alike log lines are not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from stampede.loadtest.observe.stderr_errors import StderrClassifier

PROGRAM = textwrap.dedent(
    """
    import asyncio, gc, logging, sys
    import anyio

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    log = logging.getLogger("app")

    async def main():
        log.info("Task was destroyed: cleanup job 12 finished")  # a look-alike, not a report
        async def fail():
            raise ValueError("nobody awaits me")
        t = asyncio.create_task(fail()); await asyncio.sleep(0.01); del t

        class Holder: pass
        async def wait(h): await h.future
        h = Holder(); h.future = asyncio.get_running_loop().create_future()
        h.task = asyncio.create_task(wait(h)); await asyncio.sleep(0.01); del h

        scope = anyio.CancelScope()
        async def enter(): scope.__enter__()
        await asyncio.create_task(enter())
        async def exit_elsewhere(): scope.__exit__(None, None, None)
        t = asyncio.create_task(exit_elsewhere()); await asyncio.sleep(0.01); del t

        asyncio.get_running_loop().call_soon(lambda: 1 / 0)
        await asyncio.sleep(0.01)
        gc.collect(); await asyncio.sleep(0.05)
        print("Task exception was never retrieved", file=sys.stderr)  # no context line after
    asyncio.run(main())
    """
)


def test_real_asyncio_reports_are_counted_once_by_kind(tmp_path: Path) -> None:
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as out:
        subprocess.run([sys.executable, "-c", PROGRAM], stderr=out, check=True, timeout=30)
    classifier = StderrClassifier()
    classifier.read_new(stderr, final=True)
    assert classifier.counts() == {
        "task_exception_never_retrieved": 1,
        "task_destroyed_pending": 1,
        "cancel_scope": 1,
        "other": 1,
    }


def test_asgi_tracebacks_count_only_with_a_hazard_signature() -> None:
    classifier = StderrClassifier()
    report = [
        "ERROR:    Exception in ASGI application",
        "Traceback (most recent call last):",
        '  File "/app/relay.py", line 12, in stream',
        "    yield chunk",
        "GeneratorExit",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        "RuntimeError: Attempted to exit cancel scope in a different task than it was entered in",
        'INFO:     127.0.0.1:5000 - "GET /v1/agents/a/stream HTTP/1.1" 200 OK',
        "ERROR:    Exception in ASGI application",
        "Traceback (most recent call last):",
        "ValueError: an ordinary bug",
        'INFO:     127.0.0.1:5000 - "GET /bug HTTP/1.1" 500 Internal Server Error',
    ]
    for line in report:
        classifier.feed(line)
    classifier.finish()
    assert classifier.counts() == {"cancel_scope": 1}


def test_reading_in_pieces_keeps_a_report_whole(tmp_path: Path) -> None:
    path = tmp_path / "stderr.log"
    lines = [
        "Task was destroyed but it is pending!",
        "task: <Task pending name='acp.Sender.loop' coro=<MessageSender._loop()>>",
        "Task was destroyed but it is pending!",
        "task: <Task pending name='acp.Dispatcher.loop' coro=<MessageDispatcher._run()>>",
    ]
    classifier = StderrClassifier()
    with path.open("w") as out:
        out.write(lines[0] + "\ntask: <Task pen")
        out.flush()
        classifier.read_new(path)
        out.write("ding name='acp.Sender.loop'>\n" + "\n".join(lines[2:]) + "\n")
        out.flush()
        classifier.read_new(path)
    classifier.read_new(path)  # quiet: the last report is complete
    assert classifier.counts() == {"task_destroyed_pending": 2}
