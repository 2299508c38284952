"""Where a function version's code, layers and runtime SDK live on the host.

Lambda's python runtimes see the function code in ``/var/task``, every layer extracted (in the
configured order, later layers overwriting earlier ones) into ``/opt``, and the runtime's own
boto3 in ``/var/lang/lib/python3.x/site-packages``. Here:

- code: LocalStack's own unzipped copy (``get_unzipped_code_location()``), used as is;
- layers: merged into ``<tmp>/lambda-local/versions/<key>/opt`` with hard links (so a 150 MB
  layer costs no copy), built once per function version;
- SDK: ``<sdk root>/<runtime>``, boto3 installed with the runtime's own pip on first use and
  cached. The root is ``$LOCAL_LAMBDA_SDK_DIR`` or ``<LocalStack venv>/lambda-sdk``, so it is
  rebuilt together with the venv.

The import path is then: code, ``opt/python/lib/python3.x/site-packages``, ``opt/python``,
SDK -- the SDK last, so that a layer's boto3 wins, as on Lambda.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException

LOG = logging.getLogger(__name__)

#: Interpreter per supported Lambda runtime; each can be overridden by an environment variable.
RUNTIME_INTERPRETERS: dict[str, tuple[str, str]] = {
    "python3.12": ("LOCAL_LAMBDA_PYTHON312", "/root/.pyenv/versions/3.12.1/bin/python"),
}
#: What the emulated runtime ships. Pinned to LocalStack's own boto3 so pip can reuse its cache.
DEFAULT_SDK_REQUIREMENT = "boto3==1.42.72"
SDK_INSTALL_TIMEOUT_S = 600

_sdk_lock = threading.Lock()


def interpreter_for(runtime: str | None) -> str:
    """Return the Python interpreter emulating ``runtime``, or raise if there is none."""
    if runtime not in RUNTIME_INTERPRETERS:
        supported = ", ".join(sorted(RUNTIME_INTERPRETERS))
        raise LambdaRuntimeException(
            f"Runtime {runtime!r} is not supported by the local executor (supported: {supported})"
        )
    variable, default = RUNTIME_INTERPRETERS[runtime]
    interpreter = os.environ.get(variable) or default
    if not os.access(interpreter, os.X_OK):
        raise LambdaRuntimeException(
            f"Interpreter {interpreter} for runtime {runtime} is missing (set {variable})"
        )
    return interpreter


def state_root() -> Path:
    """Root of everything the executor writes at run time (under LocalStack's TMPDIR)."""
    return Path(tempfile.gettempdir()) / "lambda-local"


def version_dir(function_version: FunctionVersion) -> Path:
    """Per-version directory; the key changes whenever the code or layers change."""
    config = function_version.config
    # Not revision_id: LocalStack regenerates it on every state change of the same version.
    parts = [function_version.qualified_arn, config.internal_revision]
    parts += [getattr(config.code, "code_sha256", "")]
    parts += [layer.layer_version_arn for layer in config.layers]
    key_source = "|".join(str(part) for part in parts)
    key = hashlib.sha256(key_source.encode()).hexdigest()[:20]
    return state_root() / "versions" / key


def opt_dir(function_version: FunctionVersion) -> Path:
    """The directory standing in for ``/opt`` (all layers merged)."""
    return version_dir(function_version) / "opt"


def code_dir(function_version: FunctionVersion) -> Path:
    """The directory standing in for ``/var/task``."""
    code = function_version.config.code
    if code is None:
        raise LambdaRuntimeException("The local executor runs only zip-packaged functions")
    return Path(code.get_unzipped_code_location())


def sdk_dir(runtime: str) -> Path:
    """The directory standing in for the runtime's bundled SDK."""
    root = os.environ.get("LOCAL_LAMBDA_SDK_DIR") or str(Path(sys.prefix) / "lambda-sdk")
    return Path(root) / runtime


def python_path(function_version: FunctionVersion) -> list[str]:
    """The import path of a function, in Lambda's order (code, layers, SDK)."""
    runtime = str(function_version.config.runtime)
    opt = opt_dir(function_version)
    return [
        str(code_dir(function_version)),
        str(opt / "python" / "lib" / runtime / "site-packages"),
        str(opt / "python"),
        str(sdk_dir(runtime)),
    ]


def prepare(function_version: FunctionVersion) -> None:
    """Unzip the code and layers and build the merged ``opt`` dir and the SDK (idempotent)."""
    config = function_version.config
    interpreter = interpreter_for(config.runtime)
    if config.package_type != PackageType.Zip or config.code is None:
        raise LambdaRuntimeException("The local executor runs only zip-packaged functions")
    config.code.prepare_for_execution()
    merge_layers(function_version)
    ensure_sdk(str(config.runtime), interpreter)


def merge_layers(function_version: FunctionVersion) -> None:
    """Extract every layer and overlay them, in order, into :func:`opt_dir` (idempotent)."""
    target = opt_dir(function_version)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename, so a concurrent reader never sees half a tree.
    staging = Path(tempfile.mkdtemp(prefix="opt-", dir=target.parent))
    for layer in function_version.config.layers:
        if layer.code is None:
            continue
        layer.code.prepare_for_execution()
        _link_tree(Path(layer.code.get_unzipped_code_location()), staging)
        LOG.debug("Merged layer %s into %s", layer.layer_version_arn, target)
    try:
        staging.rename(target)
    except OSError:
        # Another thread won the race; its tree is equivalent.
        shutil.rmtree(staging, ignore_errors=True)


def _link_tree(source: Path, target: Path) -> None:
    """Overlay ``source`` onto ``target`` with hard links (copies across file systems)."""
    for directory, _subdirs, files in os.walk(source):
        relative = Path(directory).relative_to(source)
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            src = Path(directory) / name
            dst = target / relative / name
            if dst.is_symlink() or dst.exists():
                dst.unlink()
            if src.is_symlink():
                dst.symlink_to(os.readlink(src))
                continue
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def ensure_sdk(runtime: str, interpreter: str) -> Path:
    """Install the runtime SDK (boto3) for ``runtime`` unless it is already cached."""
    target = sdk_dir(runtime)
    marker = target / ".installed"
    if marker.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # A thread lock for this process and a file lock for other LocalStack instances.
    with _sdk_lock, open(target.parent / f".{runtime}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if marker.exists():
            return target
        requirement = os.environ.get("LOCAL_LAMBDA_SDK_REQUIREMENT") or DEFAULT_SDK_REQUIREMENT
        staging = Path(tempfile.mkdtemp(prefix=f"{runtime}-", dir=target.parent))
        command = [
            interpreter,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(staging),
            requirement,
        ]
        LOG.info("Installing the %s runtime SDK: %s", runtime, " ".join(command))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        completed = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=SDK_INSTALL_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise LambdaRuntimeException(
                f"Installing the {runtime} SDK failed: {completed.stderr[-2000:]}"
            )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        marker.touch()
    return target


def cleanup(function_version: FunctionVersion) -> None:
    """Remove the per-version directory (the code cache belongs to LocalStack)."""
    shutil.rmtree(version_dir(function_version), ignore_errors=True)
