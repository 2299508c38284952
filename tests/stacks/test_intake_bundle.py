"""The intake's slim bundle (its closure + the pydantic layer) runs alone under CPython 3.12.

Slow: pip downloads (or takes from its cache) pydantic's manylinux wheels, about 2 MB.  The
handler is imported in a fresh interpreter whose ``sys.path`` is the asset and the layer only,
then rejects a bad spec: the path of ``POST /solves`` that needs no AWS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from stacks.import_closure import import_closure
from stacks.intake import HANDLER, LAYER_DIR, MAX_LAYER_BYTES
from stacks.lambda_code import REPO_ROOT
from stacks.local_bundling import PipLayerBundling, directory_bytes

PYTHON_312 = Path("/root/.pyenv/versions/3.12.1/bin/python")
#: Code and layer together; the worker's layer alone is about 143 MB.
MAX_BUNDLE_BYTES = 10 * 2**20

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PYTHON_312.exists(), reason=f"needs {PYTHON_312}"),
]

PROBE = textwrap.dedent(
    """
    import json, sys, time
    code, layer = sys.argv[1], sys.argv[2]
    assert not any("site-packages" in p for p in sys.path), sys.path
    started = time.perf_counter()
    import scheduler_host.service.intake as intake
    import_seconds = time.perf_counter() - started
    assert intake.__file__.startswith(code), intake.__file__
    import pydantic
    assert pydantic.__file__.startswith(layer), pydantic.__file__
    assert "numpy" not in sys.modules and "scipy" not in sys.modules and "zmq" not in sys.modules
    event = {"resource": "/solves", "httpMethod": "POST", "body": json.dumps({"workers": 0})}
    answer = intake.handler(event)
    print(json.dumps({"import_seconds": import_seconds, "answer": answer}))
    """
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(code, layer)``, laid out as Lambda does: ``/var/task`` and ``/opt/python``."""
    root = tmp_path_factory.mktemp("intake")
    code = root / "task"
    for name in import_closure(HANDLER.rpartition(".")[0], root=REPO_ROOT).files:
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, code / name)
    layer = root / "opt"
    PipLayerBundling(
        requirements=LAYER_DIR / "requirements.txt",
        architecture="x86_64",
        max_bytes=MAX_LAYER_BYTES,
    ).build(layer)
    return code, layer / "python"


def test_the_slim_bundle_is_small(bundle: tuple[Path, Path]) -> None:
    code, site = bundle
    size = directory_bytes(code) + directory_bytes(site)
    print(
        f"intake bundle: code {directory_bytes(code) / 2**10:.0f} KB, total {size / 2**20:.1f} MB"
    )
    assert size < MAX_BUNDLE_BYTES
    assert sorted(p.name for p in site.iterdir() if not p.name.endswith(".dist-info")) == [
        "annotated_types",
        "pydantic",
        "pydantic_core",
        "typing_extensions.py",
        "typing_inspection",
    ]


def test_the_handler_imports_from_the_bundle_alone_without_numpy(
    bundle: tuple[Path, Path],
) -> None:
    code, site = bundle
    env = {
        "PYTHONPATH": f"{code}:{site}",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/tmp",
    }
    result = subprocess.run(
        [str(PYTHON_312), "-S", "-s", "-c", PROBE, str(code), str(site)],
        env=env,
        cwd=code.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    print(f"cold import of the intake: {probe['import_seconds'] * 1000:.0f} ms")
    assert probe["answer"]["statusCode"] == 400
    assert json.loads(probe["answer"]["body"]) == {
        "error": "invalid solve spec",
        "detail": "workers: Input should be greater than or equal to 1 (got 0)",
    }
