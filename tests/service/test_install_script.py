"""scheduler_host/deploy/install.sh in --no-systemd mode, with a stand-in package for the project.

The stand-in's ``lambda-admm serve`` records its environment and waits for SIGTERM, so the test
sees what the real service would be started with.  Slow: it builds a venv and pip-installs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scheduler_host" / "deploy" / "install.sh"
PYTHON = "/root/.pyenv/versions/3.12.1/bin/python"
CONFIG = {
    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
    "BUCKET": "lambda-admm-data",
    "API_URL": "https://abc123.execute-api.us-east-1.amazonaws.com/prod/",
    "AWS_REGION": "us-east-1",
    "ADVERTISE_HOST": "10.0.0.5",
    "FRONT_PORT": "5555",
    "BROADCAST_PORT": "5556",
}
STAND_IN = """
import json, os, signal, sys, time
def main() -> None:
    assert sys.argv[1:] == ["serve"], sys.argv
    keys = {k: v for k, v in os.environ.items() if k.isupper() and not k.startswith("_")}
    with open("seen.json", "w") as out:
        json.dump({"pid": os.getpid(), "cwd": os.getcwd(), "env": keys}, out)
    print("stand-in scheduler serving", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(1)
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(PYTHON).exists(), reason=f"needs {PYTHON}"),
]


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[dict[str, Path]]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "stand-in-admm"\nversion = "0"\n'
        '[project.scripts]\nlambda-admm = "stand_in_admm:main"\n'
        '[tool.setuptools]\npy-modules = ["stand_in_admm"]\n'
    )
    (src / "stand_in_admm.py").write_text(STAND_IN)
    env_file = tmp_path / "bootstrap.env"
    env_file.write_text("# from user data\n" + "".join(f"{k}={v}\n" for k, v in CONFIG.items()))
    prefix = tmp_path / "prefix"
    yield {"src": src, "env_file": env_file, "prefix": prefix}
    pid_file = prefix / "scheduler.pid"
    if pid_file.exists():  # stop the process this test started
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def install(layout: dict[str, Path], *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        "bash", str(SCRIPT), "--prefix", str(layout["prefix"]), "--src", str(layout["src"]),
        "--env-file", str(layout["env_file"]), "--python", PYTHON, "--no-systemd", *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def wait_for(path: Path, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return status != "Z"


def test_installs_writes_the_env_and_starts_then_restarts(layout: dict[str, Path]) -> None:
    first = install(layout)
    assert first.returncode == 0, first.stderr
    prefix = layout["prefix"]

    env_out = prefix / "scheduler.env"
    assert env_out.read_text() == "".join(f"{k}={v}\n" for k, v in CONFIG.items())
    assert stat.S_IMODE(env_out.stat().st_mode) == 0o600
    pid = int((prefix / "scheduler.pid").read_text())
    seen = wait_for(prefix / "seen.json")
    assert seen["pid"] == pid and seen["cwd"] == str(prefix)
    assert {k: seen["env"][k] for k in CONFIG} == CONFIG  # type: ignore[index]
    assert "stand-in scheduler serving" in (prefix / "log" / "scheduler.log").read_text()
    assert (prefix / "venv" / "bin" / "lambda-admm").exists()

    # Again: the venv is reused and exactly one scheduler runs, the new one.
    (prefix / "seen.json").unlink()
    second = install(layout)
    assert second.returncode == 0, second.stderr
    assert "reusing" in second.stderr
    new_pid = int((prefix / "scheduler.pid").read_text())
    assert new_pid != pid
    assert wait_for(prefix / "seen.json")["pid"] == new_pid
    assert not alive(pid)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FRONT_PORT=", "FRONT_PORT: value '' has unsupported characters"),
        ("FRONT_PORT=70000", "FRONT_PORT: must be a TCP port, got '70000'"),
        ("BUCKET=a b", "BUCKET: value 'a b' has unsupported characters"),
        ("BUCKET=$(reboot)", "unsupported characters"),
    ],
)
def test_bad_configuration_is_refused_before_installing(
    layout: dict[str, Path], line: str, message: str
) -> None:
    key = line.split("=", maxsplit=1)[0]
    kept = [f"{k}={v}" for k, v in CONFIG.items() if k != key]
    layout["env_file"].write_text("\n".join([*kept, line]) + "\n")
    result = install(layout)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (layout["prefix"] / "venv").exists()


def test_missing_key_is_named(layout: dict[str, Path]) -> None:
    layout["env_file"].write_text(
        "".join(f"{k}={v}\n" for k, v in CONFIG.items() if k != "API_URL")
    )
    result = install(layout)
    assert result.returncode == 2
    assert "API_URL is missing" in result.stderr
