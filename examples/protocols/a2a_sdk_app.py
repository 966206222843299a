"""An A2A server on a2a-sdk: its JSON-RPC Starlette routes and an echo executor.

The executor makes a task for the message, answers it through the stub model and completes it,
as a2a-sdk's samples do.

    uvicorn examples.protocols.a2a_sdk_app:app --port 8000          # POST / (A2A 1.0 JSON-RPC)
    uvicorn examples.protocols.a2a_sdk_app:wedged_app --port 8000   # duplicates park threads
    uvicorn examples.protocols.a2a_sdk_app:failing_app --port 8000  # the executor raises
"""

from __future__ import annotations

from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_artifact
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface
from starlette.applications import Starlette

from examples.protocols.stub_model import BrokenTool, Dedup, answer


class EchoExecutor(AgentExecutor):
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.dedup = Dedup(park_threads=True)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            assert context.message is not None
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        prompt = context.get_user_input()
        if self.mode == "failing":
            raise BrokenTool("the model backend is down")
        text = await (self.dedup.run(prompt) if self.mode == "wedged" else answer(prompt))
        artifact = new_text_artifact(name="answer", text=text)
        await updater.add_artifact(list(artifact.parts), name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError("cancel")


def create_app(mode: str = "ok") -> Starlette:
    card = AgentCard(
        name="echo-agent",
        description="Echoes the prompt through a stub model",
        version="1.0.0",
        supported_interfaces=[AgentInterface(url="http://127.0.0.1/", protocol_binding="JSONRPC")],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text"],
        default_output_modes=["text"],
    )
    handler = DefaultRequestHandlerV2(
        agent_executor=EchoExecutor(mode), task_store=InMemoryTaskStore(), agent_card=card
    )
    routes = [*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")]
    return Starlette(routes=routes)


app = create_app()
wedged_app = create_app("wedged")
failing_app = create_app("failing")
