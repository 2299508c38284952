"""Shared fixtures: the zmq Context is torn down after every test; moto's AWS on request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq
from moto import mock_aws

#: What boto3 needs to talk to moto (and never to a real account).
FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's AWS for the test, with fake credentials in the environment."""
    for name, value in FAKE_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture(autouse=True)
def _fresh_zmq_context() -> Iterator[None]:
    yield
    zmq.Context.instance().destroy(linger=0)
