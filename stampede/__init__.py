"""Stampede: retry-storm load testing for Python agent servers.

One import namespace. `stampede.server` (the system under test, on disk in server/) never
imports `stampede.loadtest` (the harness, in loadtest/); the layers are import-linter
contracts in pyproject.toml.
"""

__version__ = "0.1.0"
