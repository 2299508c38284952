"""The Python code a Lambda function runs: a code asset of the project's files and a layer.

The worker's code asset holds the ``.py`` files of ``runtime/`` and ``scheduler_host/``
(kilobytes), and its layer numpy, scipy, pyzmq, msgpack(-numpy) and pydantic (``stacks/layer``).
A function given a ``handler`` ships only the files its handler imports
(:mod:`stacks.import_closure`) over a layer of its own: the intake's is pydantic alone
(``stacks/intake_layer``).  Layers are built by pip on the host (:mod:`stacks.local_bundling`),
never by Docker.
"""

from __future__ import annotations

import hashlib
import re
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

from stacks.import_closure import ImportClosure, import_closure
from stacks.local_bundling import BUNDLING_VERSION, MAX_LAYER_BYTES, PipLayerBundling

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The worker's dependencies (numpy, scipy, pyzmq, msgpack-numpy, pydantic).
LAYER_DIR = Path(__file__).resolve().parent / "layer"
RUNTIME = lambda_.Runtime.PYTHON_3_12

#: Glob excludes (matched against each path and, for patterns without "/", its basename; later
#: "!" patterns re-include): everything but the two packages, and only their ``.py`` files.
#: Everything but the two packages (the start of every code asset's excludes).
PACKAGES_ONLY = ["*", ".*", "!runtime", "!runtime/**", "!scheduler_host", "!scheduler_host/**"]
LAMBDA_CODE_EXCLUDE = [
    *PACKAGES_ONLY,
    "__pycache__",
    "tests",
    "deploy",
    "*.!(py)",
]


def closure_exclude(closure: ImportClosure) -> list[str]:
    """Glob excludes (as :data:`LAMBDA_CODE_EXCLUDE`) keeping exactly ``closure.files``."""
    directories = {str(Path(f).parent) for f in closure.files}
    parents = {str(p) for d in directories for p in (Path(d), *Path(d).parents) if str(p) != "."}
    return ["*", ".*", *(f"!{path}" for path in sorted(parents | set(closure.files)))]


class LambdaCode(Construct):
    """A code asset and a dependencies layer, for one architecture.

    Parameters
    ----------
    architecture:
        Lambda architecture the layer's wheels are for.
    requirements_dir:
        The folder holding the layer's pinned ``requirements.txt``.
    layer_description:
        The layer's description (what it holds).
    handler:
        ``None``: the code asset holds both packages whole (the worker's).  A handler
        (``module.function``): only the project files its module imports, which must need no
        dependency beyond the layer's and boto3.
    max_layer_bytes:
        The layer's unzipped size budget; over it the synth fails.

    Attributes
    ----------
    code:
        ``lambda_.Code`` of the project's files.
    closure:
        The files and dependencies of ``handler``'s module; ``None`` without a handler.
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
        requirements_dir: Path = LAYER_DIR,
        layer_description: str = "numpy, scipy, pyzmq, msgpack-numpy, pydantic (stacks/layer)",
        handler: str | None = None,
        max_layer_bytes: int = MAX_LAYER_BYTES,
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime = RUNTIME
        self.architecture = (
            lambda_.Architecture.ARM_64 if architecture == "arm64" else lambda_.Architecture.X86_64
        )
        if handler is None:
            self.closure = None
            exclude = LAMBDA_CODE_EXCLUDE
        else:
            module = handler.rpartition(".")[0]
            self.closure = import_closure(module, root=REPO_ROOT)
            exclude = closure_exclude(self.closure)
            _check_dependencies(self.closure, requirements_dir / "requirements.txt", handler)
        self.code = lambda_.Code.from_asset(str(REPO_ROOT), exclude=exclude)

        requirements = requirements_dir / "requirements.txt"
        bundling = PipLayerBundling(
            requirements=requirements, architecture=architecture, max_bytes=max_layer_bytes
        )
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            description=layer_description,
            code=lambda_.Code.from_asset(
                str(requirements_dir),
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


#: What the Lambda Python runtime provides without a layer.
RUNTIME_PROVIDED = frozenset(("boto3", "botocore"))


def _check_dependencies(closure: ImportClosure, requirements: Path, handler: str) -> None:
    pinned = {
        re.split(r"[=<>~!; \[]", line.strip(), maxsplit=1)[0].lower().replace("-", "_")
        for line in requirements.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    missing = sorted(set(closure.dependencies) - RUNTIME_PROVIDED - pinned)
    if missing:
        raise ValueError(
            f"{handler} imports {', '.join(missing)}, which neither {requirements} nor the "
            f"Lambda runtime provides (its files: {', '.join(closure.files)})"
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
