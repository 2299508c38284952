"""The README's "Solving" examples, run as written but for their sizes.

Each example in the README's first code block under "## Solving" is a comment with the model
it solves (``# model: ...``) and the command. The test runs each command with the CLI (N,
d and W made small, ``--out`` in a temporary directory, ``train.svm`` generated), and checks
that it prints that model first, converges and writes its result.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler_host.cli.app import app

README = Path(__file__).resolve().parents[2] / "README.md"
PROGRAM = ".venv/bin/lambda-admm"
#: The flags whose values are sizes, and the small values the test uses.
SMALL = {"--samples": "3000", "--features": "100", "--workers": "2"}

runner = CliRunner()


def readme_examples() -> list[tuple[str, list[str]]]:
    """``(model line, arguments)`` of each example in the "Solving" section's code block."""
    section = README.read_text().split("\n## Solving\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    examples: list[tuple[str, list[str]]] = []
    model = None
    for line in block.replace("\\\n", " ").splitlines():
        if line.startswith("# model: "):
            model = line.removeprefix("# ")
        elif line.strip():
            program, *arguments = shlex.split(line)
            assert program == PROGRAM and model is not None, line
            examples.append((model, arguments))
            model = None
    return examples


def _small(arguments: list[str], out: Path) -> list[str]:
    """The arguments with the sizes of :data:`SMALL` and ``--out`` in ``out``."""
    changed = list(arguments)
    for flag, value in [*SMALL.items(), ("--out", str(out))]:
        if flag in changed:
            changed[changed.index(flag) + 1] = value
        elif flag != "--features" or "--problem" in changed:
            changed += [flag, value]
    return changed


def _train_svm() -> None:
    """``train.svm`` in the current directory: a small two-class problem."""
    from sklearn.datasets import dump_svmlight_file

    from runtime.generator import generate_rows

    rows = generate_rows(samples=600, features=40, density=0.2, seed=3, start=0, stop=600)
    dump_svmlight_file(rows.features, rows.labels, "train.svm", zero_based=False)


def test_the_solving_section_has_its_examples() -> None:
    examples = readme_examples()
    assert len(examples) == 4
    assert [arguments[0] for _, arguments in examples] == ["solve"] * 4


@pytest.mark.slow
@pytest.mark.parametrize(("model", "arguments"), readme_examples())
def test_a_readme_example_solves_the_model_it_states(
    model: str, arguments: list[str], tmp_path: Path
) -> None:
    _train_svm()
    out = tmp_path / "out"
    result = runner.invoke(app, _small(arguments, out))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()  # notes on the data file go to stderr
    assert lines[0] == model
    assert lines[1].startswith("converged in ")
    assert lines[-1] == f"results in {out}/ (result.json, x.npy, model.json, convergence.png)"
    body = json.loads((out / "result.json").read_text())
    assert body["model"]["objective"] == model.removeprefix("model: ")
    assert body["status"] == "converged"
