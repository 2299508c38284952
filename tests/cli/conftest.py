"""Every CLI test runs in a fresh current directory and a fresh TMPDIR, which it leaves empty."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def temp_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The TMPDIR of the CLI under test (and its workers); no file may outlive the test."""
    directory = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # results/<solve id> land here
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    assert sorted(path.name for path in directory.iterdir()) == []
