"""An A2A server on fasta2a (pydantic-ai's A2A bridge, `agent_to_a2a`) with a stub model.

    uvicorn examples.protocols.fasta2a_app:app --port 8000          # A2A JSON-RPC at POST /
    uvicorn examples.protocols.fasta2a_app:wedged_app --port 8000   # duplicates park threads
    uvicorn examples.protocols.fasta2a_app:failing_app --port 8000  # the tool raises

SendMessage answers with a submitted task at once; the agent runs in fasta2a's worker and the
task is read back with GetTask.
"""

from __future__ import annotations

from fasta2a import FastA2A
from fasta2a.pydantic_ai import agent_to_a2a

from examples.protocols.pydantic_ai_agent import create_agent


def create_app(mode: str = "ok") -> FastA2A:
    return agent_to_a2a(create_agent(mode))


app = create_app()
wedged_app = create_app("wedged")
failing_app = create_app("failing")
