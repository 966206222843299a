"""A cancel scope that delivers its cancellation the way anyio's does, for the spin hazard.

anyio's `CancelScope.cancel()` schedules `_deliver_cancellation`, which cancels every task the
scope still holds that is waiting, then reschedules itself with `loop.call_soon` as long as the
scope holds any task: a task can ignore one cancel (catch it, or be between awaits), so the
delivery retries on every loop iteration until the task leaves the scope. A task leaves by
exiting the scope; exited in another task (anyio #1111), the scope drops the exiting task,
not its host, the host stays held after it has finished, and the delivery never stops. One
such scope keeps the ready queue non-empty forever: the selector is polled with a zero timeout
and the loop's thread runs at 100% while serving nothing.
"""

from __future__ import annotations

import asyncio


class DeliveringScope:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self._cancel_called = False
        self.deliveries = 0

    def enter(self) -> None:
        task = asyncio.current_task()
        assert task is not None, "enter() runs in a task"
        self._tasks.add(task)

    def exit(self) -> None:
        # The shape of the bug: the scope forgets the task that exits it, whichever that is.
        self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]

    def cancel(self) -> None:
        if not self._cancel_called:
            self._cancel_called = True
            asyncio.get_running_loop().call_soon(self._deliver_cancellation)

    def _deliver_cancellation(self) -> None:
        self.deliveries += 1
        for task in self._tasks:
            if not task.done():
                task.cancel()
        # Retry while any task is held: right for a task that swallowed the cancel, endless
        # for one that finished without leaving the scope.
        if self._tasks:
            asyncio.get_running_loop().call_soon(self._deliver_cancellation)
