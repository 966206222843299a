"""`stampede.probe.install`: a FastAPI app's lifespan, and a plain asyncio program with
`serve_metrics`; both export the contract's metric names and see what the program does."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
import stampede.probe
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from stampede.probe.executor import InstrumentedExecutor

from tests.serverproc import free_port

pytestmark = pytest.mark.timeout(30)

CONTRACT = {
    "stampede_build_info",
    "stampede_executor_max_workers",
    "stampede_executor_busy_workers",
    "stampede_executor_queued_items",
    "stampede_executor_parked_workers",
    "stampede_process_threads",
    "stampede_event_loop_tasks",
    "stampede_event_loop_tasks_by_name",
    "stampede_event_loop_lag_seconds",
    "stampede_loop_errors_total",
    "stampede_wedged",
    "stampede_stalled",
}


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_install_app_hooks_lifespan_and_serves_metrics() -> None:
    release = threading.Event()
    started: list[bool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The app's own start-up still runs, with the probe's executor already the default.
        executor = asyncio.get_running_loop()._default_executor  # type: ignore[attr-defined]
        started.append(isinstance(executor, InstrumentedExecutor))
        yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/park")
    async def park() -> dict[str, str]:
        await asyncio.to_thread(release.wait)
        return {"ok": "yes"}

    probe = stampede.probe.install(app, max_workers=2)

    async def main() -> dict[tuple[str, tuple], float]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                parked = [asyncio.create_task(client.post("/park")) for _ in range(2)]
                await asyncio.sleep(0.3)
                text = (await client.get("/metrics")).text
                release.set()
                assert all(r.status_code == 200 for r in await asyncio.gather(*parked))
                return _samples(text)

    samples = asyncio.run(main())
    assert started == [True]
    names = {name.removesuffix("_total").removesuffix("_bucket") for name, _ in samples}
    names |= {name for name, _ in samples}
    assert names >= CONTRACT
    assert samples[("stampede_executor_max_workers", ())] == 2
    info = [labels for name, labels in samples if name == "stampede_build_info"]
    assert len(info) == 1 and dict(info[0])["agent"] == "probed"  # the dashboards list it
    assert samples[("stampede_executor_parked_workers", ())] == 2
    assert samples[("stampede_executor_busy_workers", (("kind", "other"),))] == 2
    assert probe.loop is not None


def test_install_in_a_running_loop_counts_and_chains_to_the_existing_handler() -> None:
    seen: list[str] = []
    port = free_port()

    async def main() -> str:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: seen.append(context["message"]))
        stampede.probe.install()
        server = stampede.probe.serve_metrics(port)
        try:

            async def fail() -> None:
                raise ValueError("nobody awaits me")

            task = asyncio.create_task(fail())
            await asyncio.sleep(0.01)
            del task
            gc.collect()
            await asyncio.sleep(0.3)  # a few monitor ticks: loop lag observed
            async with httpx.AsyncClient() as client:
                return (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            server.shutdown()

    samples = _samples(asyncio.run(main()))
    assert seen == ["Task exception was never retrieved"]
    kind = (("kind", "task_exception_never_retrieved"),)
    assert samples[("stampede_loop_errors_total", kind)] == 1
    assert samples[("stampede_event_loop_lag_seconds_count", ())] >= 2


def test_install_without_loop_or_app_is_one_clear_error() -> None:
    with pytest.raises(RuntimeError, match="needs a running event loop"):
        stampede.probe.install()
    with pytest.raises(TypeError, match=r"has no router\.lifespan_context"):
        stampede.probe.install(object())
