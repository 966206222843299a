"""`-p with_pyleak`: pyleak's `no_leaks` marker (tasks, threads, blocking) on every test."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.no_leaks)
