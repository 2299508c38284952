"""The host's boot path, minus EC2: the deployed source asset, unpacked and installed by install.sh.

The instance's user data downloads the ``Scheduler/Source`` asset, unzips it to ``src/``,
writes ``bootstrap.env`` and runs ``src/scheduler_host/deploy/install.sh``, which pip-installs
the source into a venv and starts ``lambda-admm serve``. The instance does not boot in
LocalStack, so this test does the same here: the asset as cdklocal published it, the shipped
install.sh (in ``--no-systemd`` mode: a background process with a pid file), and an env file
pointing at the deployed stack. The service must answer its health check, run a submitted
solve to ``done``, and stop on SIGTERM to the pid in its pid file.

tests/test_install_script.py covers install.sh's own logic (validation, venv reuse,
restarts) with a stand-in package; this one is about the real package on the real stack.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler_host.cli.remote import submit_spec
from scheduler_host.solve_spec import SolveSpec
from tests.integration import evidence
from tests.integration.deployed import DeployedStack
from tests.integration.localstack import REPO_ROOT
from tests.integration.scheduler_service import free_port, health, host_settings, local_settings

PYTHON = "/root/.pyenv/versions/3.12.1/bin/python"  # the host's python3.12 (dnf on AL2023)
INSTALL_TIMEOUT_S = 600

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(PYTHON).exists(), reason=f"needs {PYTHON}"),
]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.lower()
    return ""


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Path]:
    """The host's prefix; whatever runs from its pid file is killed afterwards."""
    prefix = tmp_path / "opt-lambda-admm"
    yield prefix
    pid_file = prefix / "scheduler.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_installed_service_boots_serves_and_stops(
    deployed_stack: DeployedStack, host: Path, api_credentials: None, tmp_path: Path
) -> None:
    stack = deployed_stack
    # What user data does: unzip the source asset into src/ and write bootstrap.env.
    src = host / "src"
    zipfile.ZipFile(io.BytesIO(stack.asset("Scheduler/Source"))).extractall(src)
    script = src / "scheduler_host" / "deploy" / "install.sh"
    assert script.read_bytes() == (REPO_ROOT / "scheduler_host/deploy/install.sh").read_bytes()
    health_port = free_port()
    settings = host_settings(stack, front_port=free_port(), broadcast_port=free_port())
    settings |= local_settings(stack, health_port=health_port)
    env_file = host / "bootstrap.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))

    log_file = host / "log" / "scheduler.log"
    command = ["bash", str(script), "--prefix", str(host), "--src", str(src),
               "--env-file", str(env_file), "--log-file", str(log_file),
               "--python", PYTHON, "--no-systemd"]  # fmt: skip
    # Only the env file configures the service: none of this process's AWS settings leak in.
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    completed = subprocess.run(
        command,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    pid = int((host / "scheduler.pid").read_text())
    assert f"started the scheduler in the background (pid {pid}" in completed.stderr

    def healthy() -> dict[str, object] | None:
        assert _process_alive(pid), log_file.read_text()
        return health(health_port)

    report = evidence.wait_for(healthy, timeout_s=60, what="GET /health")
    assert report == {"status": "ok", "current_solve": None, "solves_finished": 0}
    # The pid file names the console script of the venv install.sh made (run by its shebang
    # python), not a shell in between.
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[0].startswith(str(host / "venv/bin/python").encode()), cmdline
    assert cmdline[1:3] == [str(host / "venv/bin/lambda-admm").encode(), b"serve"], cmdline

    spec = SolveSpec(samples=4000, features=200, workers=4)
    solve_id = submit_spec(spec, api=stack.api_url, region=stack.region)
    status = evidence.wait_finished(stack, solve_id, timeout_s=300)
    assert status.status == "done", status
    assert health(health_port) == {"status": "ok", "current_solve": None, "solves_finished": 1}
    assert f"solve {solve_id} done: converged" in log_file.read_text()

    # Stop it as an operator would: SIGTERM to the pid in the pid file.
    os.kill(pid, signal.SIGTERM)
    evidence.wait_for(lambda: not _process_alive(pid), timeout_s=30, what=f"pid {pid} gone")
    assert health(health_port) is None
