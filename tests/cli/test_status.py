"""``lambda-admm status``'s exit code, against a real HTTP server that serves a stored status."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from scheduler_host.cli.app import app
from scheduler_host.jobs import SolveStatus

runner = CliRunner()
SOLVE_ID = "b" * 32
DONE = {
    "solve_id": SOLVE_ID,
    "status": "done",
    "objective": 1.6e12,
    "iterations": 418,
    "x": f"s3://bucket/results/{SOLVE_ID}/x.npy",
    "result": f"s3://bucket/results/{SOLVE_ID}/result.json",
}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, SolveStatus]]:
    """A local stand-in for ``GET /solves/{id}``: serves ``served["status"]``."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    served: dict[str, SolveStatus] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served["status"].to_json().encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served["url"] = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[assignment]
    yield served
    server.shutdown()
    thread.join()


def _status(api: dict, *flags: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["status", SOLVE_ID, "--api", str(api["url"]), "--region", "eu-north-1", *flags]
    )
    return result.exit_code, result.output


def test_a_done_solve_that_is_not_converged_exits_3(api: dict) -> None:
    reason = "optimality 1.8e+00 > tolerance 1.0e-02"
    api["status"] = SolveStatus.model_validate({**DONE, "converged": False, "reason": reason})
    code, output = _status(api)
    assert code == 3
    assert f'"reason": "{reason}"' in output
    assert _status(api, "--allow-unconverged")[0] == 0


def test_a_converged_solve_exits_0(api: dict) -> None:
    api["status"] = SolveStatus.model_validate({**DONE, "converged": True, "optimality": 1e-6})
    code, output = _status(api)
    assert code == 0, output
    assert '"optimality": 1e-6' in output
