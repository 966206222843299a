"""Stampede's system under test: a FastAPI agent server with a stub blocking model."""

__version__ = "0.1.0"
