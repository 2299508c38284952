"""Starting and stopping LocalStack leaves nothing behind.

The session's own instance cannot be checked after the session, so this starts a second one
on another port through the same module, runs a Lambda worker in it, stops it and checks that
the process group (LocalStack and the worker) is gone and the port is free again.
"""

from __future__ import annotations

import io
import json
import os
import socket
import zipfile

import pytest

from tests.integration import localstack as localstack_server

pytestmark = pytest.mark.integration

SECOND_PORT = 4599


def test_stop_ends_process_group_and_frees_port():
    if localstack_server.port_in_use(SECOND_PORT):
        pytest.fail(f"port {SECOND_PORT} is busy before the test; something else is running")
    instance = localstack_server.start(SECOND_PORT)
    try:
        assert localstack_server.port_in_use(SECOND_PORT)
        # A function invocation leaves a long-lived worker in LocalStack's process group.
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as files:
            files.writestr(
                "app.py", "import os\ndef handler(event, context):\n    return os.getpid()\n"
            )
        client = instance.client("lambda")
        client.create_function(
            FunctionName="lifecycle",
            Runtime="python3.12",
            Role="arn:aws:iam::000000000000:role/lambda-role",
            Handler="app.handler",
            Code={"ZipFile": archive.getvalue()},
        )
        client.get_waiter("function_active_v2").wait(FunctionName="lifecycle")
        worker_pid = json.loads(client.invoke(FunctionName="lifecycle")["Payload"].read())
        assert isinstance(worker_pid, int)
    finally:
        instance.stop()

    assert not localstack_server.process_group_alive(instance.process_group)
    assert instance.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)
    assert not localstack_server.port_in_use(SECOND_PORT)
    assert not instance.state_dir.exists()


def test_refuses_a_port_that_is_taken():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(localstack_server.LocalStackError, match="already in use"):
            localstack_server.start(port)
