"""The session connection's queues are bounded: a peer that never reads stalls the receive loop."""

from __future__ import annotations

import asyncio
import json

from stampede.server.hazards.session.connection import DISPATCH_QUEUE, SEND_QUEUE, Connection
from stampede.server.hazards.session.hazard import StubAgent


def test_a_peer_that_never_reads_stops_the_reads_instead_of_growing_queues() -> None:
    async def scenario() -> tuple[int, int, int]:
        reads = 0
        peer_reads = asyncio.Event()
        written: list[str] = []

        async def read() -> str:
            nonlocal reads
            reads += 1
            return json.dumps({"jsonrpc": "2.0", "id": reads, "method": "initialize"})

        async def write(frame: str) -> None:
            await peer_reads.wait()
            written.append(frame)

        conn = Connection(StubAgent("a", max_sessions=4), read, write, max_frame_bytes=1 << 20)
        listener = asyncio.create_task(conn.listen())
        await asyncio.sleep(0.3)
        stalled_at = reads
        await asyncio.sleep(0.3)
        still = reads
        peer_reads.set()  # the peer reads again: the loop resumes
        await asyncio.sleep(0.3)
        resumed = reads
        listener.cancel()
        await conn.close()
        assert written and json.loads(written[0])["id"] == 1
        return stalled_at, still, resumed

    stalled_at, still, resumed = asyncio.run(scenario())
    # One reply in write, SEND_QUEUE queued, one waiting to queue, DISPATCH_QUEUE frames, one
    # frame waiting to queue: then nothing more is read.
    assert stalled_at == still
    assert DISPATCH_QUEUE < stalled_at <= DISPATCH_QUEUE + SEND_QUEUE + 4
    assert resumed > still + 100
