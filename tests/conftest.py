"""Shared fixtures: the zmq Context is torn down after every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq


@pytest.fixture(autouse=True)
def _fresh_zmq_context() -> Iterator[None]:
    yield
    zmq.Context.instance().destroy(linger=0)
