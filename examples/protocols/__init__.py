"""One user-style app per agent protocol (A2A, MCP, AG-UI, AgentCore, ADK), built on the real
server packages with a stub model. No Stampede code in them; each runs in its own venv
(loadtest/targets/protocol_envs.py) and is stormed by `stampede compare --protocol NAME`."""
