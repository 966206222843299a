"""An MCP server (the `mcp` package's MCPServer) over streamable HTTP at /mcp, one `echo` tool.

uvicorn examples.protocols.mcp_app:app --port 8000               # SSE answers, sessions
uvicorn examples.protocols.mcp_app:json_app --port 8000          # JSON answers
uvicorn examples.protocols.mcp_app:stateless_app --port 8000     # no Mcp-Session-Id
uvicorn examples.protocols.mcp_app:stateless_json_app --port 8000
uvicorn examples.protocols.mcp_app:wedged_app --port 8000   # duplicates park threads
uvicorn examples.protocols.mcp_app:failing_app --port 8000  # the tool raises

stampede compare --protocol mcp --target app="uvicorn examples.protocols.mcp_app:app --port {port}"
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from examples.protocols.stub_model import BrokenTool, Dedup, answer


def create_app(
    *, json_response: bool = False, stateless: bool = False, mode: str = "ok"
) -> Starlette:
    server = MCPServer("stampede-example")
    dedup = Dedup(park_threads=True)

    @server.tool()
    async def echo(text: str) -> str:
        """Answer the prompt through the (stub) model."""
        if mode == "failing":
            raise BrokenTool("the model backend is down")
        if mode == "wedged":
            return await dedup.run(text)
        return await answer(text)

    return server.streamable_http_app(json_response=json_response, stateless_http=stateless)


app = create_app()
json_app = create_app(json_response=True)
stateless_app = create_app(stateless=True)
stateless_json_app = create_app(stateless=True, json_response=True)
wedged_app = create_app(mode="wedged")
failing_app = create_app(mode="failing")
