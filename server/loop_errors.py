"""The event loop's exception handler: classify and count every report, then log it.

asyncio reports what it cannot raise anywhere ("Task exception was never retrieved", "Task was
destroyed but it is pending!", errors in callbacks) to the loop's exception handler. Counting
them by kind turns the seed hazards' log noise into a metric.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

CANCEL_SCOPE_TEXT = "cancel scope in a different task"


def classify(message: str, exception: BaseException | None) -> str:
    if exception is not None and CANCEL_SCOPE_TEXT in str(exception):
        return "cancel_scope"
    if CANCEL_SCOPE_TEXT in message:
        return "cancel_scope"
    if message.startswith("Task was destroyed but it is pending"):
        return "task_destroyed_pending"
    if message.startswith("Task exception was never retrieved"):
        return "task_exception_never_retrieved"
    return "other"


def install(loop: asyncio.AbstractEventLoop, count: Callable[[str], None]) -> None:
    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        kind = classify(message, context.get("exception"))
        count(kind)
        loop.default_exception_handler({**context, "message": f"[{kind}] {message}"})

    loop.set_exception_handler(handler)
