"""Build the Python dependencies layer with pip on the host: no Docker.

CDK calls :meth:`PipLayerBundling.try_bundle` instead of running the bundling image.  pip
downloads manylinux wheels for Lambda's platform (CPython 3.12 on Amazon Linux 2023, glibc 2.34,
hence ``manylinux_2_28``) into ``<output>/python``, the layout Lambda expects in a layer.  The
result is trimmed of what never runs on Lambda, and a layer over the size budget fails the synth.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import jsii
from aws_cdk import ILocalBundling

#: Lambda allows 250 MB unzipped for a function and all its layers; leave room for the code.
#: 150 MB until the sealed broadcast's PyNaCl (4.9 MB with cffi) took the layer from 147.6 to
#: 152.5 MB (December 2026).
MAX_LAYER_BYTES = 160 * 1024 * 1024
#: pip 23.2 refuses ``--platform`` targets whose Python differs from the running one.
MIN_PIP_VERSION = (24, 0)
#: Bump when the build or trim steps change, so that a cached layer is rebuilt.
BUNDLING_VERSION = "1"

_MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
#: Lambda's python3.12 runs on Amazon Linux 2023, glibc 2.34.  pip does not widen an explicit
#: ``--platform`` to older glibc tags, and some wheels (pydantic-core) are only ``manylinux_2_17``,
#: so every tag up to 2.34 is listed, newest first.
_GLIBC_MINORS = range(34, 16, -1)
_TRIMMED_DIRS = frozenset(("tests", "__pycache__", "_pyinstaller"))
#: numpy's and scipy's test-only C extensions (``_umath_tests``, ``_test_ccallback``, ``_ctest``),
#: imported by their test suites only; ``conftest.py`` likewise.
_TEST_MODULE = re.compile(r"^(?:_\w+_tests|_test_\w+|_c(?:y)?test)\.cpython-.*\.so$|^conftest\.py$")
#: Stubs, bytecode, and the C/Cython/Fortran sources and headers only a compiler reads.
_TRIMMED_SUFFIXES = frozenset(
    (".pyi", ".pyc", ".pyx", ".pxd", ".pxi", ".h", ".hpp", ".c", ".cpp", ".f", ".f90", ".a")
)


class LayerBuildError(RuntimeError):
    """pip failed, or the layer is over its size budget."""


def wheel_platforms(architecture: Literal["x86_64", "arm64"]) -> list[str]:
    """The pip ``--platform`` tags a Lambda architecture can run, best first."""
    machine = _MACHINES[architecture]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in _GLIBC_MINORS]
    return [*tags, f"manylinux2014_{machine}"]


def directory_bytes(root: Path) -> int:
    """Total size of the regular files under ``root`` (what Lambda counts as unzipped)."""
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Local bundling of ``requirements.txt`` into a Lambda layer for one architecture.

    Parameters
    ----------
    requirements:
        The pinned requirements file.
    architecture:
        Lambda architecture the wheels are for.
    python_version:
        Lambda runtime's Python, ``"3.12"``.
    max_bytes:
        Unzipped size budget; over it the build fails with :class:`LayerBuildError`.
    """

    def __init__(
        self,
        *,
        requirements: Path,
        architecture: Literal["x86_64", "arm64"],
        python_version: str = "3.12",
        max_bytes: int = MAX_LAYER_BYTES,
    ) -> None:
        self.requirements = requirements
        self.architecture = architecture
        self.platforms = wheel_platforms(architecture)
        self.python_version = python_version
        self.max_bytes = max_bytes

    # jsii passes the BundlingOptions positionally: keep the parameter positional.
    def try_bundle(self, output_dir: str, options: Any) -> bool:
        del options  # the image and command are for Docker, which is never used
        self.build(Path(output_dir))
        return True

    def build(self, output_dir: Path) -> int:
        """Install, trim and measure the layer under ``output_dir/python``; return its bytes."""
        target = output_dir / "python"
        print(f"bundling Lambda layer for {self.architecture} into {target}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="layer-pip-") as scratch:
            pip = _pip_command(Path(scratch))
            abi = "cp" + self.python_version.replace(".", "")
            command = [
                *pip,
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--only-binary=:all:",
                *(option for tag in self.platforms for option in ("--platform", tag)),
                "--implementation",
                "cp",
                "--python-version",
                self.python_version,
                "--abi",
                abi,
                "--target",
                str(target),
                "--requirement",
                str(self.requirements),
            ]
            _run(command)
        trim(target)
        size = directory_bytes(output_dir)
        if size > self.max_bytes:
            raise LayerBuildError(
                f"Lambda layer for {self.architecture} is {size / 2**20:.1f} MB unzipped, over the "
                f"{self.max_bytes / 2**20:.0f} MB budget (Lambda allows 250 MB for the function "
                f"and all its layers): trim {self.requirements}"
            )
        print(f"Lambda layer: {size / 2**20:.1f} MB unzipped", file=sys.stderr)
        return size


def trim(site_packages: Path) -> None:
    """Drop what never runs on Lambda: test suites, scripts, stubs, bytecode, compiler inputs."""
    shutil.rmtree(site_packages / "bin", ignore_errors=True)
    for path in sorted(site_packages.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in _TRIMMED_DIRS:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and (path.suffix in _TRIMMED_SUFFIXES or _TEST_MODULE.match(path.name)):
            path.unlink()


def _pip_command(scratch: Path) -> list[str]:
    """This interpreter's pip if it is recent enough, else a freshly upgraded one in ``scratch``."""
    try:
        version = tuple(int(part) for part in metadata.version("pip").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        version = (0, 0)
    if version >= MIN_PIP_VERSION:
        return [sys.executable, "-m", "pip"]
    venv = scratch / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    return [python, "-m", "pip"]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LayerBuildError(
            f"{' '.join(command[:4])} ... failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-4000:]}"
        )
