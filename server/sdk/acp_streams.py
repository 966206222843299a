"""An in-process byte-stream pair for `acp.run_agent`, so a WebSocket can stand in for stdio.

`run_agent(agent, input_stream, output_stream)` insists on a real `asyncio.StreamWriter` (what
the agent writes, i.e. the client's input) and a real `asyncio.StreamReader` (what it reads).
Here the writer sits on a tiny transport whose `write()` feeds a second StreamReader directly:
no sockets, no threads, everything on the one event loop. Framing is ACP's NDJSON, one
JSON-RPC message per line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

# Longest message either way; a longer WebSocket frame is refused before it reaches the agent.
LINE_LIMIT = 1 << 20


class _FeedTransport(asyncio.Transport):
    """The write half of a pipe: bytes written here are fed into `sink`."""

    def __init__(self, sink: asyncio.StreamReader) -> None:
        super().__init__()
        self._sink = sink
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing:
            self._sink.feed_data(bytes(data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._sink.feed_eof()

    def abort(self) -> None:
        self.close()

    def get_write_buffer_size(self) -> int:
        return 0  # everything written is already in the sink: drain() never waits


@dataclass
class StreamPair:
    """The agent's two streams, and the client's ends of them."""

    agent_writer: asyncio.StreamWriter  # run_agent's input_stream: agent -> client
    agent_reader: asyncio.StreamReader  # run_agent's output_stream: client -> agent
    client_reader: asyncio.StreamReader  # what the agent wrote, line by line

    def send_line(self, text: str) -> None:
        """One client message to the agent. JSON allows no raw newline inside a string, so
        replacing line breaks with spaces keeps a pretty-printed message one NDJSON line."""
        line = text.replace("\r", " ").replace("\n", " ")
        self.agent_reader.feed_data(line.encode() + b"\n")


def stream_pair() -> StreamPair:
    loop = asyncio.get_running_loop()
    agent_reader = asyncio.StreamReader(limit=LINE_LIMIT)
    client_reader = asyncio.StreamReader(limit=LINE_LIMIT)
    # The protocol only serves drain(); its own reader is never fed.
    protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=LINE_LIMIT))
    writer = asyncio.StreamWriter(_FeedTransport(client_reader), protocol, None, loop)
    return StreamPair(writer, agent_reader, client_reader)
