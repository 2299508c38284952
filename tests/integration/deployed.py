"""Deploy the real CDK app into a test LocalStack with ``cdklocal``, once per test session.

``cdklocal`` (npm ``aws-cdk-local``, pinned beside ``aws-cdk`` in ``package.json``) is the CDK
CLI with ``AWS_ENDPOINT_URL`` pointed at LocalStack. Its default endpoints are names under
``localhost.localstack.cloud``, which do not resolve on a machine without DNS to the internet;
we set ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_S3`` to ``http://127.0.0.1:<port>`` instead
(an IP address also makes the S3 client use path-style URLs, so no bucket subdomain needs to
resolve either).

The app is synthesized by the deploy with the context of :data:`LOCALSTACK_CONTEXT`, into a
``cdk.out`` inside the LocalStack instance's state dir (not the project's ``cdk.out``, which stays
the real account's synth; and one per session, so concurrent sessions never share one). The
layer asset is keyed by a hash of ``stacks/layer/requirements.txt``: when ``make synth`` has
built it in ``cdk.out`` already it is hard-linked over, and the deploy does not run pip again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.localstack import REPO_ROOT, LocalStack

STACK_NAME = "LambdaAdmm"
ACCOUNT = "000000000000"  # LocalStack's default account
CDK_OUT = REPO_ROOT / "cdk.out"
CDKLOCAL = REPO_ROOT / "node_modules" / ".bin" / "cdklocal"
DEPLOY_TIMEOUT_S = 900  # includes building the layer with pip when cdk.out lacks it

#: Turned off for LocalStack only; each deploys a Node.js Lambda-backed custom resource and the
#: local executor (tools/localstack-executor) runs Python functions only. See stacks/config.py.
LOCALSTACK_CONTEXT = {"auto_delete_objects": "false", "restrict_default_security_group": "false"}

#: ``https://<api id>.execute-api.<host>/<stage>/`` as the stack output renders the stage URL.
_STAGE_URL = re.compile(r"^https?://(?P<api>[a-z0-9]+)\.execute-api\.[^/]+/(?P<stage>[\w-]+)/?$")


class DeployError(RuntimeError):
    """The CDK CLI failed; the message holds the tail of its output."""


@dataclass(frozen=True)
class DeployedStack:
    """The deployed stack's outputs, with the API URL reachable on this machine."""

    localstack: LocalStack
    outputs: dict[str, str]
    api_url: str  # http://127.0.0.1:<port>/_aws/execute-api/<api id>/<stage>
    bucket: str
    queue_url: str
    worker_function: str
    cdk_out: Path  # the cloud assembly that was deployed
    deploy_seconds: float

    @property
    def region(self) -> str:
        return self.localstack.region

    def client(self, service: str) -> Any:
        return self.localstack.client(service)

    def asset(self, display_name: str) -> bytes:
        """The published zip of the file asset ``display_name`` (e.g. ``Scheduler/Source``), as
        the CLI uploaded it to the bootstrap bucket and as the stack's resources reference it."""
        manifest = json.loads((self.cdk_out / f"{STACK_NAME}.assets.json").read_text())
        (entry,) = [a for a in manifest["files"].values() if a["displayName"] == display_name]
        (destination,) = entry["destinations"].values()
        bucket = destination["bucketName"].replace("${AWS::AccountId}", ACCOUNT)
        bucket = bucket.replace("${AWS::Region}", self.region)
        answer = self.client("s3").get_object(Bucket=bucket, Key=destination["objectKey"])
        body: bytes = answer["Body"].read()
        return body

    def aws_env(self) -> dict[str, str]:
        """What a process needs to talk to this LocalStack with boto3 (test credentials)."""
        return {
            "AWS_ENDPOINT_URL": self.localstack.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.localstack.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.localstack.aws_secret_access_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }


def local_api_url(stage_url: str, endpoint_url: str) -> str:
    """Map the ``ApiUrl`` output to LocalStack's path-style ``/_aws/execute-api/`` URL."""
    match = _STAGE_URL.match(stage_url)
    if match is None:
        raise DeployError(f"ApiUrl output {stage_url!r} is not an execute-api stage URL")
    return f"{endpoint_url}/_aws/execute-api/{match['api']}/{match['stage']}"


def seed_assets(target: Path, source: Path = CDK_OUT) -> list[str]:
    """Hard-link the staged asset dirs of ``source`` into ``target``; returns the names linked.

    A staged asset's dir name is its hash, so an existing dir is exactly what the synth would
    build; CDK then skips bundling it.
    """
    target.mkdir(parents=True, exist_ok=True)
    linked = []
    for asset in sorted(source.glob("asset.*")) if source.is_dir() else []:
        destination = target / asset.name
        if asset.is_dir() and not destination.exists():
            staging = target / f".{asset.name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(asset, staging, copy_function=os.link, symlinks=True)
            staging.rename(destination)
            linked.append(asset.name)
    return linked


def _cli_environment(localstack: LocalStack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        AWS_ENDPOINT_URL=localstack.endpoint_url,
        AWS_ENDPOINT_URL_S3=localstack.endpoint_url,
        AWS_ACCESS_KEY_ID=localstack.aws_access_key_id,
        AWS_SECRET_ACCESS_KEY=localstack.aws_secret_access_key,
        AWS_REGION=localstack.region,
        AWS_DEFAULT_REGION=localstack.region,
        CDK_DISABLE_CLI_TELEMETRY="true",
        CDK_DISABLE_VERSION_CHECK="1",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        # CloudFormation's built-in template validation runs in `make synth`; here it would
        # only add ~9 s. cdk-nag still runs: it is a validation plugin of the app.
        CDK_VALIDATION="false",
        # `python3 app.py` must be this venv's interpreter (it has aws-cdk-lib).
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


def _run_cli(args: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
    with open(log, "ab") as out:
        out.write(f"\n$ cdklocal {' '.join(args)}\n".encode())
        out.flush()
        completed = subprocess.run(
            [str(CDKLOCAL), *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=DEPLOY_TIMEOUT_S,
            check=False,
        )
    if completed.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise DeployError(f"cdklocal {args[0]} failed ({completed.returncode}); {log}:\n{tail}")


def ensure_cli() -> None:
    """Install the pinned CDK CLI with ``make node`` unless it is there."""
    if CDKLOCAL.exists():
        return
    completed = subprocess.run(
        ["make", "node"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise DeployError(f"`make node` failed:\n{(completed.stdout + completed.stderr)[-4000:]}")


def deploy(localstack: LocalStack) -> DeployedStack:
    """Bootstrap the environment and deploy the app; return the stack's outputs.

    The log of both CLI runs is ``build/localstack-logs/<LocalStack log name>.cdk.log``.
    """
    started = time.monotonic()
    ensure_cli()
    env = _cli_environment(localstack)
    log = localstack.log_path.with_suffix(".cdk.log")
    # Bootstrap from an empty directory: in the project the CLI would synthesize the app first.
    bootstrap_dir = localstack.state_dir / "cdk-bootstrap"
    bootstrap_dir.mkdir(exist_ok=True)
    environment = f"aws://{ACCOUNT}/{localstack.region}"
    _run_cli(["bootstrap", environment], cwd=bootstrap_dir, env=env, log=log)

    cdk_out = localstack.state_dir / "cdk.out"
    seed_assets(cdk_out)
    outputs_file = localstack.state_dir / "cdk-outputs.json"
    context = [
        part for key, value in LOCALSTACK_CONTEXT.items() for part in ("-c", f"{key}={value}")
    ]
    args = ["deploy", STACK_NAME, "--require-approval", "never", "--progress", "events"]
    args += [*context, "--output", str(cdk_out), "--outputs-file", str(outputs_file)]
    _run_cli(args, cwd=REPO_ROOT, env=env, log=log)

    outputs: dict[str, str] = json.loads(outputs_file.read_text())[STACK_NAME]
    return DeployedStack(
        localstack=localstack,
        outputs=outputs,
        api_url=local_api_url(outputs["ApiUrl"], localstack.endpoint_url),
        bucket=outputs["BucketName"],
        queue_url=outputs["QueueUrl"],
        worker_function=outputs["WorkerFunctionName"],
        cdk_out=cdk_out,
        deploy_seconds=time.monotonic() - started,
    )
