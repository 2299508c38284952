"""Stop LocalStack when the process that started it is gone.

The test fixture starts LocalStack in its own session, so that the whole process group
(LocalStack and its Lambda workers) can be signalled. The flip side: if the test runner is
killed outright (SIGKILL, a CI time limit) nothing would stop LocalStack. With
``LOCAL_LAMBDA_WATCH_PID=<pid>`` this hook watches that process and, once it has gone, sends
SIGTERM to LocalStack's process group, then SIGKILL if it is still there 20 s later.
"""

import logging
import os
import signal
import threading
import time

from localstack.runtime import hooks
from psutil import pid_exists  # a dependency of localstack-core

LOG = logging.getLogger(__name__)
POLL_INTERVAL_S = 1.0
GRACE_PERIOD_S = 20.0


def _watch(pid: int) -> None:
    while pid_exists(pid):
        time.sleep(POLL_INTERVAL_S)
    LOG.warning("Process %s that started LocalStack is gone: shutting down", pid)
    group = os.getpgrp()
    os.killpg(group, signal.SIGTERM)
    time.sleep(GRACE_PERIOD_S)
    os.killpg(group, signal.SIGKILL)


@hooks.on_infra_start()
def watch_test_runner() -> None:
    """Start the watchdog thread if ``LOCAL_LAMBDA_WATCH_PID`` names a process."""
    value = os.environ.get("LOCAL_LAMBDA_WATCH_PID", "")
    if not value.isdigit():
        return
    thread = threading.Thread(target=_watch, args=(int(value),), name="watch-test-runner")
    thread.daemon = True
    thread.start()
