"""Reading svmlight files: each refusal names the file and the line; nothing guessed silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime.svmlight import SvmlightError, read_svmlight


def _file(tmp_path: Path, text: str, name: str = "data.svm") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _refusal(path: Path, **options: object) -> SvmlightError:
    with pytest.raises(SvmlightError) as raised:
        read_svmlight(path, **options)  # type: ignore[arg-type]
    return raised.value


def test_raw_labels_and_one_based_indices(tmp_path: Path) -> None:
    path = _file(tmp_path, "1 1:0.5 3:2.0\n0 2:-1.5\n1 3:4.0\n")
    loaded = read_svmlight(path, num_features=5)
    assert loaded.data.features.shape == (3, 5)
    np.testing.assert_array_equal(loaded.data.labels, [1.0, 0.0, 1.0])
    dense = loaded.data.features.toarray()
    np.testing.assert_array_equal(dense[0], [0.5, 0.0, 2.0, 0.0, 0.0])
    np.testing.assert_array_equal(dense[1], [0.0, -1.5, 0.0, 0.0, 0.0])
    assert loaded.notes == (
        f"{path}: feature indices read as 1-based (--zero-based auto: no index 0 in the file)",
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"^data file not found: {tmp_path / 'no.svm'}$"):
        read_svmlight(tmp_path / "no.svm")


@pytest.mark.parametrize("text", ["", "# only a comment\n\n# and another\n"])
def test_no_samples(tmp_path: Path, text: str) -> None:
    path = _file(tmp_path, text)
    error = _refusal(path)
    assert (str(error), error.field) == (f"no samples in {path}", "data")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1 1:1\n0 3:x\n", "line 2: cannot parse '3:x' as index:value"),
        ("1 1:1\n\n# c\nyes 1:1\n", "line 4: cannot parse the label 'yes'"),
        ("1 1:1 this:is:not\n", "line 1: cannot parse 'this:is:not' as index:value"),
        ("1 1:1\n1 3:1 2:1\n", "line 2: feature indices must be sorted and unique, got 2 after 3"),
        ("1 -2:1\n", "line 1: negative feature index -2"),
    ],
)
def test_parse_errors_name_the_line(tmp_path: Path, text: str, problem: str) -> None:
    path = _file(tmp_path, text)
    assert str(_refusal(path)) == f"{path} {problem}"


def test_a_huge_index_names_the_line_the_index_and_the_limit(tmp_path: Path) -> None:
    path = _file(tmp_path, "1 1:1\n0 2:1 1000000000:2\n")
    error = _refusal(path)
    assert error.field == "data"
    assert str(error) == (
        f"{path} line 2: feature index 1,000,000,000 is beyond the limit of 1,000,000 features "
        "(allowed: indices 1 to 1,000,000, or more with --features N)"
    )


def test_a_stray_large_index_is_refused_unless_the_features_are_given(tmp_path: Path) -> None:
    path = _file(tmp_path, "1 1:1\n0 9000000:2\n1 2:1\n")
    assert str(_refusal(path)).startswith(f"{path} line 2: feature index 9,000,000 is beyond")
    assert read_svmlight(path, num_features=9_000_000).data.num_features == 9_000_000


def test_trailing_zero_columns_are_kept_with_the_number_of_features(tmp_path: Path) -> None:
    path = _file(tmp_path, "1 1:1 13:2\n0 2:1\n")
    assert read_svmlight(path).data.num_features == 13
    assert read_svmlight(path, num_features=18).data.num_features == 18
    error = _refusal(path, num_features=12)
    assert (str(error), error.field) == (
        f"{path} line 1: feature index 13 is beyond --features 12 (allowed: indices 1 to 12)",
        "features",
    )


def test_zero_based_auto_true_false(tmp_path: Path) -> None:
    path = _file(tmp_path, "1 1:1\n0 0:2 2:1\n")
    auto = read_svmlight(path)
    assert auto.zero_based and auto.data.features.toarray().tolist() == [[0, 1, 0], [2, 0, 1]]
    assert auto.notes == (
        f"{path}: feature indices read as 0-based (--zero-based auto: line 2 has 0)",
    )
    assert read_svmlight(path, zero_based="true").notes == ()
    error = _refusal(path, zero_based="false")
    assert (str(error), error.field) == (
        f"{path} line 2: feature index 0, but indices are read as 1-based (allowed: auto, true)",
        "zero_based",
    )
    one_based = _file(tmp_path, "1 1:1\n0 3:2\n", name="one.svm")
    assert read_svmlight(one_based, zero_based="true").data.features.toarray().tolist() == [
        [0, 1, 0, 0],
        [0, 0, 0, 2],
    ]


def test_qid_is_ignored_and_said_so(tmp_path: Path) -> None:
    path = _file(tmp_path, "1 qid:1 1:1\n0 qid:2 2:1\n")
    loaded = read_svmlight(path, zero_based="false")
    assert loaded.data.features.toarray().tolist() == [[1, 0], [0, 1]]
    assert loaded.notes == (f"{path}: qid: fields ignored (no query groups in these models)",)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1 1:1\n# c\n0 1:nan\n", "line 3: the value nan is not finite"),
        ("1 1:1\n0 2:1 3:inf\n", "line 2: the value inf is not finite"),
        ("1 1:1\nnan 1:1\n", "line 2: the label nan is not finite"),
        (
            "1 1:1\n0 10000000000:2\n",
            "line 2: feature index 10,000,000,000 is beyond the limit of 1,000,000 features",
        ),
    ],
)
def test_values_no_solver_can_take_name_the_line(tmp_path: Path, text: str, problem: str) -> None:
    path = _file(tmp_path, text)
    assert str(_refusal(path)) == f"{path} {problem}"
