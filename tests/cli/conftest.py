"""Every CLI test runs in a fresh current directory and a fresh TMPDIR, which it leaves empty,
and leaves no process behind (no descendant of the test process: fork servers, workers)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import descendants


@pytest.fixture(autouse=True)
def temp_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The TMPDIR of the CLI under test (and its workers); no file may outlive the test."""
    directory = tmp_path_factory.mktemp("tmpdir")
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # results/<solve id> land here
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    before = descendants(os.getpid())
    yield directory
    assert sorted(path.name for path in directory.iterdir()) == []
    assert {
        pid: command for pid, command in descendants(os.getpid()).items() if pid not in before
    } == {}
