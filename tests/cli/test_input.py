"""Input checked before anything starts, results never lost (issue 11: labels, data, --out).

Every test runs in a fresh current directory and TMPDIR (tests/cli/conftest.py), which it
must leave empty; data files are written to the current directory so that messages, which
name them, are short and exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scheduler_host.cli.app import app
from tests.cli.helpers import session_members

runner = CliRunner()
LABELS_ALLOWED = "(allowed: any two classes; the smaller becomes -1, the larger +1)"
#: A quick solve of a tiny file.
QUICK = [
    "--l1",
    "0.1",
    "--max-iter",
    "30",
    "--allow-unconverged",
]  # exit 0 at the cap: checks of input


def _svm(labels: list[float], name: str = "data.svm", features: int = 4) -> str:
    """A small file with these labels (row i has features i % d + 1 and d), in the cwd."""
    lines = [
        f"{label:g} {i % (features - 1) + 1}:1 {features}:0.5" for i, label in enumerate(labels)
    ]
    Path(name).write_text("\n".join(lines) + "\n")
    return name


def _refused(arguments: list[str], message: str) -> None:
    """Exit 2 with ``error: message`` as the only output, nothing written."""
    before = sorted(Path().rglob("*"))
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {message}\n"
    assert sorted(Path().rglob("*")) == before


# Labels


@pytest.mark.parametrize("workers", [2, 3])
def test_three_classes_are_refused_at_any_w_before_anything_starts(workers: int) -> None:
    data = _svm([-1, 0, 1] * 4)
    _refused(
        ["solve", "--data", data, "--workers", str(workers), "--out", "out"],
        f"--data: {data}: the logistic loss needs two label classes, "
        f"found 3: -1, 0, 1 {LABELS_ALLOWED}",
    )


def test_four_classes_are_refused_for_the_squared_hinge_too() -> None:
    data = _svm([1, 2, 3, 4] * 4)
    _refused(
        ["solve", "--data", data, "--loss", "squared_hinge", "--workers", "4"],
        f"--data: {data}: the squared_hinge loss needs two label classes, "
        f"found 4: 1, 2, 3, 4 {LABELS_ALLOWED}",
    )


def test_two_classes_2_and_4_are_mapped_and_solved() -> None:
    data = _svm([2, 4, 4, 2] * 10)
    result = runner.invoke(app, ["solve", "--data", data, "--workers", "4", *QUICK])
    assert result.exit_code == 0, result.output
    # The same data coded ±1 gives the same solve.
    signed = _svm([-1, 1, 1, -1] * 10, name="signed.svm")
    again = runner.invoke(app, ["solve", "--data", signed, "--workers", "4", *QUICK])
    assert again.exit_code == 0, again.output
    first, second = sorted(Path("results").iterdir())
    np.testing.assert_array_equal(np.load(first / "x.npy"), np.load(second / "x.npy"))


def test_regression_targets_are_kept_for_the_squared_loss() -> None:
    data = _svm([0.5, 1.5, 2.5, 3.5] * 5)
    result = runner.invoke(
        app, ["solve", "--data", data, "--loss", "squared", "--workers", "2", *QUICK]
    )
    assert result.exit_code == 0, result.output


def test_prepared_shards_with_three_classes_are_refused_before_spawning() -> None:
    data = _svm([-1, 0, 1] * 4)
    prepared = runner.invoke(app, ["data", "prepare", data, "ds", "--workers", "3"])
    assert prepared.exit_code == 0, prepared.output
    assert "labels: 3: -1, 0, 1\n" in prepared.output
    _refused(
        ["solve", "--shards", "ds", "--workers", "3"],
        f"--shards: the logistic loss needs two label classes, found 3: -1, 0, 1 {LABELS_ALLOWED}",
    )
    squared = runner.invoke(
        app, ["solve", "--shards", "ds", "--workers", "3", "--loss", "squared", *QUICK]
    )
    assert squared.exit_code == 0, squared.output


def test_data_prepare_records_the_mapping() -> None:
    data = _svm([0, 1, 1, 0])
    prepared = runner.invoke(app, ["data", "prepare", data, "ds", "--workers", "2"])
    assert prepared.exit_code == 0, prepared.output
    assert prepared.output.endswith(
        "wrote 2 shards of 4 x 4 to ds\n"
        "labels: 2: 0, 1 (0 → -1, 1 → +1 for a classification loss)\n"
    )
    manifest = json.loads(Path("ds/manifest.json").read_text())
    assert manifest["labels"] == {
        "classes": [0.0, 1.0],
        "count": 2,
        "mapping": {"-1": 0.0, "+1": 1.0},
    }


def test_an_old_manifest_is_refused_for_a_classification_loss_only() -> None:
    data = _svm([0, 1, 1, 0])
    assert runner.invoke(app, ["data", "prepare", data, "ds", "--workers", "2"]).exit_code == 0
    manifest = json.loads(Path("ds/manifest.json").read_text())
    del manifest["labels"]
    Path("ds/manifest.json").write_text(json.dumps(manifest))
    _refused(
        ["solve", "--shards", "ds", "--workers", "2"],
        "--shards: the manifest at ds records no label classes (it predates "
        "them), which the logistic loss needs (allowed: prepare the data again with "
        "`lambda-admm data prepare`)",
    )
    squared = runner.invoke(
        app, ["solve", "--shards", "ds", "--workers", "2", "--loss", "squared", *QUICK]
    )
    assert squared.exit_code == 0, squared.output


# Data files


@pytest.mark.parametrize("text", ["", "# a comment\n# and another\n"])
def test_an_empty_file_has_no_samples(text: str) -> None:
    Path("data.svm").write_text(text)
    _refused(["solve", "--data", "data.svm", "--out", "out"], "--data: no samples in data.svm")
    _refused(["data", "prepare", "data.svm", "ds"], "SOURCE: no samples in data.svm")
    assert not Path("ds").exists()


def test_a_huge_index_names_file_line_index_and_limit_and_writes_nothing() -> None:
    Path("data.svm").write_text("1 1:1\n-1 2:1 1000000000:2\n")
    message = (
        "data.svm line 2: feature index 1,000,000,000 is beyond the limit of 1,000,000 "
        "features (allowed: indices 1 to 1,000,000, or more with --features N)"
    )
    _refused(["solve", "--data", "data.svm", "--out", "out"], f"--data: {message}")
    _refused(["data", "prepare", "data.svm", "ds", "--workers", "2"], f"SOURCE: {message}")
    assert not Path("ds").exists()


def test_a_stray_index_of_nine_million_is_refused() -> None:
    Path("data.svm").write_text("1 1:1\n-1 9000000:2\n1 2:1\n")
    _refused(
        ["solve", "--data", "data.svm", "--workers", "3"],
        "--data: data.svm line 2: feature index 9,000,000 is beyond the limit of 1,000,000 "
        "features (allowed: indices 1 to 1,000,000, or more with --features N)",
    )


def test_features_keep_trailing_zero_columns() -> None:
    lines = [f"{(-1) ** i} {i % 13 + 1}:1" for i in range(40)]
    Path("data.svm").write_text("\n".join(lines) + "\n")
    result = runner.invoke(
        app, ["solve", "--data", "data.svm", "--features", "18", "--workers", "2", *QUICK]
    )
    assert result.exit_code == 0, result.output
    (directory,) = Path("results").iterdir()
    assert np.load(directory / "x.npy").shape == (18,)
    assert json.loads((directory / "result.json").read_text())["spec"]["features"] == 18
    _refused(
        ["solve", "--data", "data.svm", "--features", "12", "--workers", "2", "--out", "out"],
        "--features: data.svm line 13: feature index 13 is beyond "
        "--features 12 (allowed: indices 1 to 12)",
    )


def test_zero_based_is_a_choice_and_auto_says_what_it_decided() -> None:
    Path("data.svm").write_text("1 0:1 2:1\n-1 1:1\n1 2:2\n-1 1:0.5\n")
    _refused(
        ["solve", "--data", "data.svm", "--zero-based", "maybe"],
        "--zero-based: got 'maybe' (allowed: auto, true, false)",
    )
    _refused(
        ["solve", "--data", "data.svm", "--zero-based", "false", "--workers", "2"],
        "--zero-based: data.svm line 1: feature index 0, but indices are "
        "read as 1-based (allowed: auto, true)",
    )
    _refused(["solve", "--zero-based", "true"], "--zero-based: only with --data")
    result = runner.invoke(app, ["solve", "--data", "data.svm", "--workers", "2", *QUICK])
    assert result.exit_code == 0, result.output
    assert (
        "note: data.svm: feature indices read as 0-based (--zero-based auto: line 1 has 0)\n"
        in result.output
    )
    prepared = runner.invoke(app, ["data", "prepare", "data.svm", "ds", "--zero-based", "true"])
    assert prepared.exit_code == 0, prepared.output
    assert "note:" not in prepared.output  # nothing decided: the base was given


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1 1:1\n-1 3:x\n", "line 2: cannot parse '3:x' as index:value"),
        ("1 1:1\n# ok\nyes 1:1\n", "line 3: cannot parse the label 'yes'"),
        ("1 2:1 1:1\n", "line 1: feature indices must be sorted and unique, got 1 after 2"),
    ],
)
def test_parse_errors_name_the_line(text: str, problem: str) -> None:
    Path("data.svm").write_text(text)
    _refused(["solve", "--data", "data.svm", "--out", "out"], f"--data: data.svm {problem}")


def test_qid_is_ignored_and_said_so() -> None:
    lines = [f"{(-1) ** i} qid:{i // 5} {i % 3 + 1}:1" for i in range(20)]
    Path("data.svm").write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["solve", "--data", "data.svm", "--workers", "2", *QUICK])
    assert result.exit_code == 0, result.output
    assert "note: data.svm: qid: fields ignored (no query groups in these models)\n" in (
        result.output
    )


# The output directory


def test_out_that_is_a_file_is_refused_and_data_not_blamed() -> None:
    Path("out").write_text("not a directory")
    data = _svm([0, 1] * 4)
    for extra in ([], ["--data", data]):
        result = runner.invoke(app, ["solve", *extra, "--out", "out"])
        assert result.exit_code == 2
        assert result.output == "error: --out: out exists and is not a directory\n"
    assert Path("out").read_text() == "not a directory"


def test_out_in_a_read_only_place_is_refused() -> None:
    _refused(
        ["solve", "--out", "/sys/lambda-admm-out"],
        "--out: cannot create /sys/lambda-admm-out: /sys is not writable (Permission denied)",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_existing_read_only_out_is_refused() -> None:
    Path("out").mkdir(mode=0o500)
    _refused(
        ["solve", "--out", "out"],
        "--out: out is not writable (Permission denied)",
    )


def test_a_non_empty_out_needs_overwrite_which_removes_the_old_result_only() -> None:
    data = _svm([0, 1, 1, 0] * 5)
    first = runner.invoke(app, ["solve", "--data", data, "--workers", "4", "--out", "out", *QUICK])
    assert first.exit_code == 0, first.output
    assert sorted(path.name for path in Path("out/logs").iterdir())[-1] == "worker-00003-0.log"
    Path("out/notes.txt").write_text("mine")
    again = runner.invoke(app, ["solve", "--data", data, "--workers", "2", "--out", "out"])
    assert again.exit_code == 2
    assert again.output == (
        "error: --out: out is not empty (allowed: a new or empty directory, or "
        "--overwrite to replace an earlier result there)\n"
    )
    overwritten = runner.invoke(
        app, ["solve", "--data", data, "--workers", "2", "--out", "out", "--overwrite", *QUICK]
    )
    assert overwritten.exit_code == 0, overwritten.output
    assert sorted(path.name for path in Path("out/logs").iterdir()) == [
        "fork-server.log",
        "worker-00000-0.log",
        "worker-00001-0.log",
    ]  # no stale logs of the old W
    assert Path("out/notes.txt").read_text() == "mine"
    assert sorted(path.name for path in Path("out").iterdir()) == [
        "convergence.png",
        "logs",
        "model.json",
        "notes.txt",
        "result.json",
        "x.npy",
    ]  # no shards, no temporary files


def test_without_out_results_go_to_results_solve_id() -> None:
    result = runner.invoke(app, ["solve", "--samples", "400", "--features", "20", "--workers", "2"])
    assert result.exit_code == 0, result.output
    (directory,) = Path("results").iterdir()
    assert len(directory.name) == 32
    assert json.loads((directory / "result.json").read_text())["solve_id"] == directory.name
    assert result.output.endswith(
        f"results in results/{directory.name}/ (result.json, x.npy, model.json, convergence.png)\n"
    )


def test_a_result_the_destination_refuses_goes_to_a_fallback() -> None:
    # result.json turns into a directory while the solve runs: the result must survive.
    def sabotage() -> None:
        deadline = time.monotonic() + 60
        while not Path("out/logs").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        Path("out/result.json").mkdir()

    saboteur = threading.Thread(target=sabotage)
    saboteur.start()
    result = runner.invoke(app, ["solve", "--samples", "400", "--features", "20", "--out", "out"])
    saboteur.join()
    assert result.exit_code == 1
    (fallback,) = Path("results").iterdir()
    assert result.output.endswith(
        "error: --out: cannot write the result to out: [Errno 21] Is a directory: "
        f"'out/result.json'; the result was saved to results/{fallback.name}/ instead\n"
    )
    assert sorted(path.name for path in fallback.iterdir()) == [
        "convergence.png",
        "model.json",
        "result.json",
        "x.npy",
    ]
    assert sorted(path.name for path in Path("out").iterdir()) == ["logs", "result.json"]


def test_the_real_cli_leaves_no_process_and_no_temporary_file(temp_dir: Path) -> None:
    data = _svm([0, 1, 1, 0] * 5)
    repo = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "PYTHONPATH": str(repo), "TMPDIR": str(temp_dir)}
    for arguments, code in [
        (["--data", data, "--workers", "4", *QUICK], 0),
        (["--data", data, "--workers", "4", "--loss", "squared", "--features", "3"], 2),
    ]:
        cli = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from scheduler_host.cli.app import app; app()",
                "solve",
                *arguments,
            ],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        _, stderr = cli.communicate(timeout=120)
        assert cli.returncode == code, stderr.decode()
        assert session_members(cli.pid) == {}
        assert list(temp_dir.iterdir()) == []


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary() -> None:
    from scheduler_host.results import write_atomically

    target = Path("result.json")
    target.write_text("old")

    def fail_halfway(stream: object) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match=r"^\[Errno 28\] No space left on device: 'result.json'$"):
        write_atomically(target, fail_halfway)
    assert [path.name for path in Path().iterdir()] == ["result.json"]
    assert target.read_text() == "old"


def test_data_prepare_takes_features_and_zero_based() -> None:
    Path("data.svm").write_text("1 0:1\n-1 3:1\n")
    _refused(
        ["data", "prepare", "data.svm", "ds", "--features", "0"],
        "--features: got 0 (allowed: 1 to 10,000,000)",
    )
    _refused(
        ["data", "prepare", "data.svm", "ds", "--zero-based", "no"],
        "--zero-based: got 'no' (allowed: auto, true, false)",
    )
    prepared = runner.invoke(
        app, ["data", "prepare", "data.svm", "ds", "--workers", "2", "--features", "9"]
    )
    assert prepared.exit_code == 0, prepared.output
    assert "wrote 2 shards of 2 x 9 to ds\n" in prepared.output
    assert (
        "note: data.svm: feature indices read as 0-based (--zero-based auto: line 1 has 0)\n"
        in (prepared.output)
    )
