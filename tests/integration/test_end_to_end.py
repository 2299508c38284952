"""A solve through the deployed stack, link by link, with the scheduler service run locally.

POST /solves (intake Lambda) -> SQS -> ``lambda-admm serve`` -> POST /workers (API Gateway,
async Lambda invoke) -> the worker function (real handler, real CDK-built layer, run by the
local executor plugin) -> ZMQ (CURVE) to the service -> status and results in S3 ->
GET /solves/{id}. Each test checks the evidence each link leaves, not only the final status.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import dump_svmlight_file

from scheduler_host.cli.remote import _signed_call, submit_spec
from scheduler_host.jobs import SolveStatus
from scheduler_host.solve_spec import SolveSpec
from tests.integration import evidence
from tests.integration.deployed import DeployedStack
from tests.integration.scheduler_service import (
    LAMBDA_ADMM,
    ServiceProcess,
)
from tests.integration.specs import SMALL

pytestmark = pytest.mark.integration

SOLVE_TIMEOUT_S = 300
WORKERS_POSTED = "/prod/workers => 202"
EMPTY_QUEUE = {"ApproximateNumberOfMessages": 0, "ApproximateNumberOfMessagesNotVisible": 0}


def test_api_url_output_maps_to_localstack(deployed_stack: DeployedStack) -> None:
    output = deployed_stack.outputs["ApiUrl"]
    api_id = re.match(r"https://([a-z0-9]+)\.execute-api\.", output)
    assert api_id, output
    endpoint = deployed_stack.localstack.endpoint_url
    assert deployed_stack.api_url == f"{endpoint}/_aws/execute-api/{api_id[1]}/prod"


def test_solve_through_the_deployed_stack(
    deployed_stack: DeployedStack, service: ServiceProcess, api_credentials: None, tmp_path: Path
) -> None:
    stack = deployed_stack
    posts_before = len(evidence.localstack_requests(stack, WORKERS_POSTED))
    solve_id = submit_spec(SMALL, api=stack.api_url, region=stack.region)
    status = evidence.wait_finished(stack, solve_id, SOLVE_TIMEOUT_S)
    assert status.status == "done", status

    # The objective is the local solve's (deterministic reduction: bit for bit, in fact).
    reference = evidence.solve_locally(SMALL, tmp_path / "local")
    assert status.objective == pytest.approx(reference.objective, rel=1e-9, abs=0)
    assert status.iterations == reference.iterations and status.converged

    # POST /solves -> intake Lambda -> SQS -> the service, which received the job once and
    # finished it; the queue is empty.
    assert evidence.localstack_requests(stack, "/prod/solves => 202")
    messages = service.log_messages()
    assert f"received solve {solve_id} from the queue (delivery 1)" in messages
    assert any(m.startswith(f"solve {solve_id} done: converged") for m in messages), messages
    assert evidence.queue_counts(stack) == EMPTY_QUEUE

    # The service POSTed /workers once per worker; API Gateway answered 202 (async invoke).
    posts = evidence.localstack_requests(stack, WORKERS_POSTED)[posts_before:]
    assert len(posts) == SMALL.workers, posts
    # The worker function's CloudWatch logs: each worker ran in an invocation of the real
    # handler (its JSON lines), framed by the executor's START/REPORT lines.
    started = evidence.worker_log_events(stack, f"of solve {solve_id} starting")
    lines = evidence.handler_messages(started)
    assert sorted(lines) == [f"worker {i} of solve {solve_id} starting" for i in range(4)]
    streams = {event["logStreamName"] for event in started}
    reports = evidence.worker_log_events(stack, "REPORT RequestId: ")
    assert streams <= {event["logStreamName"] for event in reports}

    # The workers connected and reported every iteration; x.npy and result.json are in S3.
    result = evidence.read_result(stack, solve_id)
    assert result["objective"] == status.objective
    assert [w["worker"] for w in result["workers"]] == list(range(SMALL.workers))
    assert all(len(w["compute_seconds"]) == status.iterations for w in result["workers"])
    assert status.x == f"s3://{stack.bucket}/results/{solve_id}/x.npy"
    x = evidence.read_x(stack, solve_id)
    assert x.shape == (SMALL.features,)
    np.testing.assert_allclose(x, reference.x, rtol=1e-9, atol=1e-12)


def test_worker_runs_the_cdk_built_layer(deployed_stack: DeployedStack) -> None:
    """The worker's one layer is the asset the synth bundled with pip and cdklocal published."""
    published = deployed_stack.asset("LambdaCode/Dependencies/Code")
    lambda_client = deployed_stack.client("lambda")
    config = lambda_client.get_function_configuration(FunctionName=deployed_stack.worker_function)
    assert config["Runtime"] == "python3.12" and config["Handler"] == "runtime.handler.handler"
    (layer,) = config["Layers"]
    content = lambda_client.get_layer_version_by_arn(Arn=layer["Arn"])["Content"]
    assert content["CodeSha256"] == base64.b64encode(hashlib.sha256(published).digest()).decode()

    names = set(zipfile.ZipFile(io.BytesIO(published)).namelist())
    # pip's manylinux cp312 wheels, unpacked under python/ as Lambda expects, trimmed.
    numpy_core = r"python/numpy/_core/_multiarray_umath\.cpython-312-x86_64-linux-gnu\.so"
    assert any(re.fullmatch(numpy_core, name) for name in names)
    assert any(name.startswith("python/zmq/backend/cython/") for name in names)
    assert not any("/tests/" in name or name.endswith(".pyc") for name in names)


def test_intake_runs_its_slim_code_over_a_pydantic_layer(deployed_stack: DeployedStack) -> None:
    """The intake's code is its handler's imports only; its one layer is pydantic's, no numpy."""
    lambda_client = deployed_stack.client("lambda")
    (config,) = [
        function
        for function in lambda_client.list_functions()["Functions"]
        if function["Handler"] == "scheduler_host.service.intake.handler"
    ]
    published_layer = deployed_stack.asset("Intake/Code/Dependencies/Code")
    (layer,) = config["Layers"]
    content = lambda_client.get_layer_version_by_arn(Arn=layer["Arn"])["Content"]
    digest = base64.b64encode(hashlib.sha256(published_layer).digest()).decode()
    assert content["CodeSha256"] == digest
    layer_names = set(zipfile.ZipFile(io.BytesIO(published_layer)).namelist())
    assert any(name.startswith("python/pydantic_core/") for name in layer_names)
    assert not any(name.startswith(("python/numpy", "python/scipy")) for name in layer_names)

    code = deployed_stack.asset("Intake/Function/Code")
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    files = set(zipfile.ZipFile(io.BytesIO(code)).namelist())
    assert "scheduler_host/service/intake.py" in files
    assert not any(name.startswith(("scheduler_host/solve/", "runtime/worker")) for name in files)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"workers": 0}, "workers: Input should be greater than or equal to 1 (got 0)"),
        ({"workers": 4, "colour": "blue"}, "colour: unknown field"),
        (
            {"samples": 3, "workers": 4},
            "workers: must be between 1 and the number of samples (3), got 4",
        ),
    ],
)
def test_bad_spec_is_rejected_naming_the_field(
    deployed_stack: DeployedStack, api_credentials: None, body: dict[str, object], detail: str
) -> None:
    url = f"{deployed_stack.api_url}/solves"
    response = _signed_call(
        "POST", url, body=json.dumps(body).encode(), region=deployed_stack.region
    )
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "invalid solve spec", "detail": detail}
    assert evidence.queue_counts(deployed_stack)["ApproximateNumberOfMessages"] == 0


def _write_svmlight(path: Path, samples: int = 3000, features: int = 100) -> None:
    """A sparse logistic-regression data set with ±1 labels, in svmlight format."""
    rng = np.random.default_rng(7)
    dense = rng.standard_normal((samples, features)) * (rng.random((samples, features)) < 0.05)
    truth = rng.standard_normal(features)
    labels = np.where(dense @ truth + 0.1 * rng.standard_normal(samples) > 0, 1.0, -1.0)
    matrix = scipy.sparse.csr_array(dense)
    dump_svmlight_file(matrix, labels, str(path))


def _cli(*args: str, env: dict[str, str]) -> str:
    command = [LAMBDA_ADMM, *args]
    environment = {**os.environ, **env}
    completed = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_prepared_dataset_is_solved_by_workers_reading_their_own_shards(
    deployed_stack: DeployedStack, service: ServiceProcess, api_credentials: None, tmp_path: Path
) -> None:
    stack, workers = deployed_stack, 4
    source = tmp_path / "train.svm"
    _write_svmlight(source)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    prefix = f"s3://{stack.bucket}/datasets/{name}"
    _cli("data", "prepare", str(source), prefix, "--workers", str(workers), env=stack.aws_env())
    manifest = json.loads(evidence.read_object(stack, f"datasets/{name}/manifest.json"))
    shard_keys = [f"datasets/{name}/{shard['file_name']}" for shard in manifest["shards"]]
    assert len(shard_keys) == workers

    submit = ["submit", "--api", stack.api_url, "--shards", prefix, "--workers", str(workers)]
    solve_id = _cli(*submit, env=stack.aws_env()).strip()
    # The user's way to wait: `lambda-admm status --wait` polls GET /solves/{id} until done.
    watch = ["status", solve_id, "--api", stack.api_url, "--wait", "--interval", "0.5"]
    status = SolveStatus.model_validate_json(_cli(*watch, env=stack.aws_env()))
    assert status.status == "done", status
    assert status.x == f"s3://{stack.bucket}/results/{solve_id}/x.npy"

    # Each worker read exactly its own shard, once (the worker function's CloudWatch logs).
    reads = evidence.handler_messages(evidence.worker_log_events(stack, f"/datasets/{name}/"))
    assert sorted(reads) == [
        f"worker {i} read s3://{stack.bucket}/{key}" for i, key in enumerate(shard_keys)
    ]

    # The same shards, prepared into a directory and solved locally, give the same objective.
    local_dir = tmp_path / "shards"
    _cli("data", "prepare", str(source), str(local_dir), "--workers", str(workers), env={})
    local_spec = SolveSpec(problem="shards", shards=str(local_dir), workers=workers)
    reference = evidence.solve_locally(local_spec, tmp_path / "local")
    assert status.objective == pytest.approx(reference.objective, rel=1e-9, abs=0)
    assert evidence.queue_counts(stack) == EMPTY_QUEUE


def test_a_corrupt_shard_fails_the_solve_within_seconds_with_its_reason(
    deployed_stack: DeployedStack, service: ServiceProcess, api_credentials: None, tmp_path: Path
) -> None:
    # Before the Lambda worker reported failures: 300 s join timeout per replacement (~20 min).
    stack, workers = deployed_stack, 2
    source = tmp_path / "train.svm"
    _write_svmlight(source, samples=400, features=20)
    name = f"corrupt-{uuid.uuid4().hex[:8]}"
    prefix = f"s3://{stack.bucket}/datasets/{name}"
    _cli("data", "prepare", str(source), prefix, "--workers", str(workers), env=stack.aws_env())
    key = f"datasets/{name}/shard-00001.npz"
    blob = evidence.read_object(stack, key)
    stack.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=blob[:-9] + b"corrupted")

    submit = ["submit", "--api", stack.api_url, "--shards", prefix, "--workers", str(workers)]
    solve_id = _cli(*submit, env=stack.aws_env()).strip()
    status = evidence.wait_finished(stack, solve_id, timeout_s=60)
    assert status.status == "failed", status
    assert status.reason is not None
    assert status.reason.startswith(
        "worker 1 failed: ValueError: shard shard-00001.npz failed its sha256 check: "
    ), status.reason
    assert status.finished_at is not None and status.started_at is not None
    assert (status.finished_at - status.started_at).total_seconds() < 30.0
