"""result.json's provenance names the data a solve read: the file and its sha256, or the
prepared shards and their manifest's sha256 (the generator's case: tests/cli/test_cli.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from scheduler_host.cli.app import app

runner = CliRunner()
QUICK = ["--workers", "2", "--l1", "0.1", "--max-iter", "30", "--allow-unconverged"]


def _svm() -> str:
    lines = [f"{(-1) ** i} {i % 3 + 1}:1 4:0.5" for i in range(40)]
    Path("data.svm").write_text("\n".join(lines) + "\n")
    return "data.svm"


def _provenance(*arguments: str) -> dict[str, object]:
    result = runner.invoke(app, ["solve", *arguments, *QUICK, "--out", "out"])
    assert result.exit_code == 0, result.output
    provenance: dict[str, object] = json.loads(Path("out/result.json").read_text())["provenance"]
    return provenance


def test_a_data_file_is_recorded_by_path_and_sha256() -> None:
    data = _svm()
    provenance = _provenance("--data", data)
    assert provenance["data"] == {
        "kind": "svmlight",
        "path": str(Path(data).resolve()),
        "sha256": hashlib.sha256(Path(data).read_bytes()).hexdigest(),
    }
    assert provenance["command"] == f"lambda-admm solve --data {data} " + " ".join(
        [*QUICK, "--out", "out"]
    )


def test_prepared_shards_are_recorded_by_location_and_manifest_sha256() -> None:
    prepared = runner.invoke(app, ["data", "prepare", _svm(), "ds", "--workers", "2"])
    assert prepared.exit_code == 0, prepared.output
    provenance = _provenance("--shards", "ds")
    assert provenance["data"] == {
        "kind": "shards",
        "uri": "ds",
        "manifest_sha256": hashlib.sha256(Path("ds/manifest.json").read_bytes()).hexdigest(),
    }
