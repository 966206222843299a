"""Stampede in pytest: a seconds-long storm as a test, and suite-wide hazard checks.

Registered through the `pytest11` entry point (`stampede.pytest_plugin.plugin`). That module
imports only pytest and the standard library, so a session that uses neither form pays for
nothing: the checks (checks.py, loops.py, watchdog.py, which import the probe) load only under
`--stampede` or `[tool.stampede.pytest] enabled = true`, and the storm (storm.py, which imports
the harness) only when a test asks for `stampede_storm`.
"""
