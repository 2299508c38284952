"""The Python code both Lambda functions run: the project's packages and a dependencies layer.

The code asset holds only the ``.py`` files of ``runtime/`` and ``scheduler_host/`` (kilobytes);
numpy, scipy, pyzmq, msgpack(-numpy) and pydantic come from a layer built by pip on the host
(:mod:`stacks.local_bundling`), never by Docker.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal, cast

from aws_cdk import (
    Acknowledgment,
    AssetHashType,
    BundlingOptions,
    ILocalBundling,
    RemovalPolicy,
    Validations,
)
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.local_bundling import BUNDLING_VERSION, PipLayerBundling

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = Path(__file__).resolve().parent / "layer"
RUNTIME = lambda_.Runtime.PYTHON_3_12

#: Glob excludes (matched against each path and, for patterns without "/", its basename; later
#: "!" patterns re-include): everything but the two packages, and only their ``.py`` files.
LAMBDA_CODE_EXCLUDE = [
    "*",
    ".*",
    "!runtime",
    "!runtime/**",
    "!scheduler_host",
    "!scheduler_host/**",
    "__pycache__",
    "tests",
    "deploy",
    "*.!(py)",
]


class LambdaCode(Construct):
    """The functions' code asset and their dependencies layer, for one architecture.

    Attributes
    ----------
    code:
        ``lambda_.Code`` of the two packages (shared by every function of the stack).
    layer:
        The dependencies layer, under ``/opt/python`` at run time.
    architecture, runtime:
        What the layer was built for; functions using it must match.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        architecture: Literal["x86_64", "arm64"],
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime = RUNTIME
        self.architecture = (
            lambda_.Architecture.ARM_64 if architecture == "arm64" else lambda_.Architecture.X86_64
        )
        self.code = lambda_.Code.from_asset(str(REPO_ROOT), exclude=LAMBDA_CODE_EXCLUDE)

        requirements = LAYER_DIR / "requirements.txt"
        bundling = PipLayerBundling(requirements=requirements, architecture=architecture)
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            description="numpy, scipy, pyzmq, msgpack-numpy, pydantic (stacks/layer)",
            code=lambda_.Code.from_asset(
                str(LAYER_DIR),
                # The source folder is the same for both architectures: hash what differs.
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=_layer_hash(requirements, architecture),
                bundling=BundlingOptions(
                    image=RUNTIME.bundling_image,  # never pulled: local bundling always succeeds
                    # jsii calls try_bundle(output_dir, options) positionally; the Python
                    # protocol spells the options as keywords, hence the cast.
                    local=cast(ILocalBundling, bundling),
                ),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[self.architecture],
            removal_policy=RemovalPolicy.DESTROY,
        )


def _layer_hash(requirements: Path, architecture: str) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"{architecture}/{RUNTIME.name}/bundling-{BUNDLING_VERSION}".encode())
    return digest.hexdigest()


def acknowledge_python_312(function: lambda_.Function) -> None:
    """cdk-nag L1 wants the newest Python runtime; the layer is built and tested for 3.12."""
    Validations.of(function).acknowledge(
        Acknowledgment(
            id="AwsSolutions-L1",
            reason="Pinned to python3.12: the dependencies layer is built for cp312 wheels and "
            "the worker is tested on CPython 3.12; moving runtimes is a deliberate upgrade.",
        )
    )
