"""The template, built once per session: with ``cdk.json``'s context, and with non-defaults."""

from __future__ import annotations

import os

import pytest

from tests.stacks.template import Built, build


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    return build(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Built:
    # As `-c` passes them: strings.
    return build(
        tmp_path_factory.mktemp("cdk-custom"),
        worker_memory_mb="3008",
        worker_timeout_seconds="600",
        worker_reserved_concurrency="50",
        worker_architecture="arm64",
        scheduler_instance_type="c7g.xlarge",
        zmq_front_port="6000",
        zmq_broadcast_port="6001",
    )
