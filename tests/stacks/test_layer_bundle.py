"""The real dependencies layer, built without Docker and run under CPython 3.12 in isolation.

Slow: pip downloads (or takes from its cache) about 45 MB of manylinux wheels.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from stacks.lambda_code import LAYER_DIR
from stacks.local_bundling import (
    MAX_LAYER_BYTES,
    LayerBuildError,
    PipLayerBundling,
    directory_bytes,
)

PYTHON_312 = Path("/root/.pyenv/versions/3.12.1/bin/python")

pytestmark = pytest.mark.slow

SMOKE = textwrap.dedent(
    """
    import sys
    layer = sys.argv[1]
    assert not any("site-packages" in p for p in sys.path), sys.path

    import numpy as np
    import scipy
    import scipy.optimize
    import scipy.sparse
    import zmq
    import msgpack
    import msgpack_numpy
    import pydantic
    import nacl
    from nacl import bindings as sodium

    for module in (np, scipy, zmq, msgpack, msgpack_numpy, pydantic, nacl):
        assert module.__file__.startswith(layer), (module.__name__, module.__file__)

    rows = scipy.sparse.random(200, 50, density=0.05, format="csr", random_state=0)
    product = rows @ np.ones(50)
    assert product.shape == (200,)
    solution = scipy.optimize.minimize(lambda x: ((x - 3.0) ** 2).sum(), np.zeros(4))
    assert np.allclose(solution.x, 3.0, atol=1e-4)

    payload = {"z": np.arange(5, dtype=np.float64), "iteration": 7}
    packed = msgpack.packb(payload, default=msgpack_numpy.encode)
    unpacked = msgpack.unpackb(packed, object_hook=msgpack_numpy.decode)
    assert np.array_equal(unpacked["z"], payload["z"])

    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = context.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{port}")
    push.send(packed)
    assert pull.poll(5000), "no message over tcp loopback"
    echoed = msgpack.unpackb(pull.recv(), object_hook=msgpack_numpy.decode)
    assert np.array_equal(echoed["z"], payload["z"])
    context.destroy(linger=0)

    key, nonce = b"k" * 32, b"n" * 12
    sealed = sodium.crypto_aead_aes256gcm_encrypt(packed, b"t", nonce, key)
    assert sodium.crypto_aead_aes256gcm_decrypt(sealed, b"t", nonce, key) == packed

    class Probe(pydantic.BaseModel):
        workers: int = pydantic.Field(ge=1)
    try:
        Probe(workers=0)
    except pydantic.ValidationError:
        pass
    else:
        raise AssertionError("pydantic-core did not validate")
    print("ok", np.__version__, scipy.__version__, zmq.zmq_version(), pydantic.VERSION)
    """
)


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layer")
    bundling = PipLayerBundling(requirements=LAYER_DIR / "requirements.txt", architecture="x86_64")
    assert bundling.try_bundle(str(out), None) is True  # options positional, as jsii passes them
    return out


def test_layer_fits_the_budget_and_is_trimmed(layer: Path) -> None:
    size = directory_bytes(layer)
    print(f"layer: {size / 2**20:.1f} MB unzipped")
    assert size < MAX_LAYER_BYTES == 160 * 2**20
    site = layer / "python"
    assert (site / "numpy").is_dir() and (site / "scipy").is_dir()
    assert not (site / "bin").exists()
    assert not list(site.rglob("tests"))
    assert not list(site.rglob("__pycache__"))
    assert not list(site.rglob("*.pyi"))


@pytest.mark.skipif(not PYTHON_312.exists(), reason=f"needs {PYTHON_312}")
def test_layer_imports_and_runs_under_isolated_python_312(layer: Path) -> None:
    site = str(layer / "python")
    env = {"PYTHONPATH": site, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}
    result = subprocess.run(
        [str(PYTHON_312), "-S", "-s", "-c", SMOKE, site],
        env=env,
        cwd=layer,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok 2.4.6 1.17.1")


def test_a_layer_over_budget_fails_with_a_clear_error(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("msgpack==1.2.4\n")
    bundling = PipLayerBundling(requirements=requirements, architecture="arm64", max_bytes=1000)
    with pytest.raises(LayerBuildError, match=r"Lambda layer for arm64 is .* MB unzipped, over"):
        bundling.build(tmp_path / "out")
