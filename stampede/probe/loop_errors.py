"""The event loop's exception handler: classify and count every report, then log it.

asyncio reports what it cannot raise anywhere ("Task exception was never retrieved", "Task was
destroyed but it is pending!", errors in callbacks) to the loop's exception handler. Counting
them by kind turns the seed hazards' log noise into a metric.

The same hazard can surface in a second place: raised out of the ASGI app while a response
tears down (uvicorn then logs "Exception in ASGI application"). `Detector` is fed from both
places and counts each exception object once, wherever it surfaces first.

`install` chains: a handler the program had set before still sees every report after it is
counted; without one, asyncio's default handler logs it, prefixed with the kind.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

# The ASGI interface, spelled out so the probe needs no web framework.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]

CANCEL_SCOPE_TEXT = "cancel scope in a different task"
# Exceptions already counted, by identity; holding them keeps their ids from being reused.
REMEMBERED = 1024
# Told each counted report: (kind, exception).
Observer = Callable[[str, BaseException | None], None]


def classify(message: str, exception: BaseException | None) -> str:
    for exc in _leaves(exception):
        if CANCEL_SCOPE_TEXT in str(exc):
            return "cancel_scope"
    if CANCEL_SCOPE_TEXT in message:
        return "cancel_scope"
    if message.startswith("Task was destroyed but it is pending"):
        return "task_destroyed_pending"
    if message.startswith("Task exception was never retrieved"):
        return "task_exception_never_retrieved"
    return "other"


def _leaves(exception: BaseException | None) -> list[BaseException]:
    if exception is None:
        return []
    if isinstance(exception, BaseExceptionGroup):
        return [leaf for inner in exception.exceptions for leaf in _leaves(inner)]
    return [exception]


class Detector:
    """Counts loop reports and ASGI-surfaced hazard errors, each exception once."""

    def __init__(self, count: Callable[[str], None]) -> None:
        self._count = count
        self._seen: OrderedDict[int, BaseException] = OrderedDict()
        self._observers: list[Observer] = []

    def observe(self, observer: Observer) -> None:
        """Also tell `observer` each counted report (a hazard tracing reports to its streams)."""
        self._observers.append(observer)

    def report(self, message: str, exception: BaseException | None) -> str | None:
        """Count one report; returns its kind, or None if this exception was counted already."""
        if exception is not None and not self._first_sighting(exception):
            return None
        kind = classify(message, exception)
        self._count(kind)
        for observer in self._observers:
            observer(kind, exception)
        return kind

    def asgi_error(self, exception: BaseException) -> None:
        # Only hazard signatures: an ordinary 500 (or a cancellation) is not a loop error.
        if classify("", exception) != "other":
            self.report("Exception in ASGI application", exception)

    def _first_sighting(self, exception: BaseException) -> bool:
        leaves = _leaves(exception) or [exception]
        if any(id(leaf) in self._seen for leaf in leaves):
            return False
        for leaf in leaves:
            self._seen[id(leaf)] = leaf
        while len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
        return True


def install(loop: asyncio.AbstractEventLoop, detector: Detector) -> Handler | None:
    """Count every report the loop's exception handler gets; returns the handler it chains to
    (None: asyncio's default), for `uninstall`."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        kind = detector.report(message, context.get("exception"))
        if previous is not None:
            previous(loop, context)
            return
        label = kind or "already counted"
        loop.default_exception_handler({**context, "message": f"[{label}] {message}"})

    loop.set_exception_handler(handler)
    return previous


class CountAsgiErrors:
    """ASGI middleware: feeds exceptions escaping the app to the detector, then re-raises."""

    def __init__(self, app: ASGIApp, detector: Detector) -> None:
        self.app = app
        self.detector = detector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:  # a group may carry the RuntimeError beside a cancellation
            self.detector.asgi_error(exc)
            raise
