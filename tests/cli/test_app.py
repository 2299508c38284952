"""The root of the command line: lazy commands, one error voice, the help texts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler_host.cli import remote
from scheduler_host.cli.app import COMMANDS, app, load_command
from scheduler_host.cli.solve_command import INJECT_FAULTS_HELP, OUT_HELP

runner = CliRunner()
REPO_ROOT = Path(__file__).resolve().parents[2]
#: What the root must not import: the solve's and the cloud's libraries.
HEAVY = ("numpy", "scipy", "zmq", "matplotlib", "sklearn", "boto3", "pydantic", "httpx", "rich")


def _modules_after(code: str) -> list[str]:
    """The top-level packages of HEAVY imported by a fresh interpreter running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    modules = json.loads(completed.stdout.splitlines()[-1])
    return sorted({name.split(".")[0] for name in modules} & set(HEAVY))


def test_importing_the_app_imports_none_of_the_heavy_libraries() -> None:
    assert _modules_after("import scheduler_host.cli.app") == []


def test_the_roots_help_imports_none_of_the_heavy_libraries() -> None:
    code = (
        "import sys\nfrom scheduler_host.cli.app import app\nsys.argv = ['lambda-admm', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    assert _modules_after(code) == []


def test_the_solve_command_module_imports_no_solver_library() -> None:
    # Validating flags needs pydantic; the solve's numpy, zmq, plots come when it runs.
    imported = _modules_after("import scheduler_host.cli.solve_command")
    assert set(imported) <= {"pydantic"}, imported


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_roots_summary_of_each_command_is_the_commands_own(name: str) -> None:
    command = load_command(name)
    assert command.get_short_help_str(limit=1000) == COMMANDS[name][2]


def test_the_roots_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = re.findall(r"^  (\w+) ", result.output.split("Commands:")[1], flags=re.MULTILINE)
    assert listed == list(COMMANDS)


# One voice: `error: --flag: what is wrong (allowed: ...)`, exit 2 for usage errors


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (
            ["solv"],
            "error: no such command 'solv' (allowed: solve, demo, path, predict, data, submit, "
            "status, cancel, serve)",
        ),
        (["solve", "--wokers", "2"], "error: --wokers: no such option (did you mean --workers?)"),
        (
            ["solve", "--workers", "two"],
            "error: --workers: Input should be a valid integer, unable to parse string as an "
            "integer",
        ),
        (["status"], "error: SOLVE_ID: required"),
        (["status", "0" * 32], "error: --api: required"),
        (["data", "prepare"], "error: SOURCE: required"),
        (
            ["solve", "--backend", "cloud"],
            "error: --backend: got 'cloud' (allowed: local, lambda, emulated)",
        ),
        (["solve", "--backend", "lambda"], "error: --api: required with --backend lambda"),
        (
            ["solve", "--backend", "lambda", "--api", "https://example.com"],
            "error: --advertise-host: required with --backend lambda",
        ),
        (
            ["solve", "--worker-time-limit", "0"],
            "error: --worker-time-limit: got 0.0 (allowed: > 0)",
        ),
        (
            ["data", "prepare", "x.svm", "ds", "--workers", "0"],
            "error: --workers: got 0 (allowed: >= 1)",
        ),
        (
            ["solve", "--problem", "paper", "--data", "x.svm"],
            "error: --problem, --data and --shards are mutually exclusive (allowed: one of them)",
        ),
    ],
)
def test_usage_errors_are_one_line_naming_the_flag_and_exit_2(
    arguments: list[str], line: str
) -> None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    assert result.output == line + "\n"


def test_features_with_shards_is_refused_not_ignored(tmp_path: Path) -> None:
    source = tmp_path / "d.svm"
    source.write_text("".join(f"{(-1) ** i} {i % 5 + 1}:1\n" for i in range(20)))
    prepared = runner.invoke(app, ["data", "prepare", str(source), str(tmp_path / "ds")])
    assert prepared.exit_code == 0, prepared.output
    result = runner.invoke(
        app, ["solve", "--shards", str(tmp_path / "ds"), "--features", "9", "--out", "out"]
    )
    assert result.exit_code == 2
    assert result.output == (
        "error: --features: not with --shards: d is the manifest's (allowed: --features with "
        "--data or the paper generator)\n"
    )
    assert not Path("out").exists()


def test_an_unexpected_error_is_one_line_and_its_traceback_needs_verbose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(**_: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(remote, "fetch_status", broken)
    arguments = ["status", "0" * 32, "--api", "http://127.0.0.1:9"]
    quiet = runner.invoke(app, arguments)
    assert quiet.exit_code == 1
    assert quiet.output == (
        "error: ZeroDivisionError: division by zero (run with --verbose for the traceback)\n"
    )
    verbose = runner.invoke(app, ["--verbose", *arguments])
    assert verbose.exit_code == 1
    assert verbose.output.startswith("Traceback (most recent call last):\n")
    assert verbose.output.endswith("\nerror: ZeroDivisionError: division by zero\n")


def test_a_real_process_reports_a_usage_error_in_one_line_on_stderr() -> None:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "lambda-admm"), "solve", "--box", "1,0"],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr == (
        "error: --box: the lower bound must be <= the upper bound (0.0), got 1.0\n"
    )


# Help texts


def _help(*command: str) -> str:
    """The help at 80 columns, its wrapping undone (words split at a hyphen rejoined)."""
    result = runner.invoke(app, [*command, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return re.sub(r"\s+", " ", re.sub(r"-\n\s+", "-", result.output))


@pytest.mark.parametrize("command", [["solve"], ["demo"], ["data", "prepare"], ["submit"],
                                     ["status"], ["cancel"], ["serve"]])  # fmt: skip
def test_every_option_and_argument_has_help(command: list[str]) -> None:
    loaded = load_command(command[0])
    if len(command) > 1:
        loaded = loaded.commands[command[1]]
    undocumented = [parameter.name for parameter in loaded.params if not parameter.help]
    assert undocumented == []
    text = _help(*command)
    for parameter in loaded.params:
        assert parameter.help in text, parameter.name


def test_solve_help_says_what_happens_without_out_and_at_80_columns_nothing_is_cut() -> None:
    text = _help("solve")
    assert OUT_HELP in text
    assert INJECT_FAULTS_HELP in text
    assert (
        OUT_HELP.startswith("result directory, new or empty") and "results/<solve id>/" in OUT_HELP
    )


def test_the_tolerances_say_they_are_absolute() -> None:
    text = _help("solve")
    assert (
        "--eps-primal <float> ε_r: stop once r = (Σ_w ‖x_w − z‖²)^½ <= ε_r (and s <= ε_s); "
        "absolute, not relative to ‖z‖ or N [default: 0.02]" in text
    )
    assert (
        "--eps-dual <float> ε_s: stop once s (--dual-residual) <= ε_s (and r <= ε_r); "
        "absolute, not relative to ‖ρu‖ or N [default: 0.02]" in text
    )


@pytest.mark.parametrize(
    ("flag", "help_text"),
    [
        ("--samples <int>", "N, the paper generator's samples (ignored with --data and --shards: "
                            "the data decide) [default: 600000]"),
        ("--density <float>", "p in (0, 1], the generator's density (ignored with --data and "
                              "--shards: the data decide) [default: 0.001]"),
        ("--seed <int>", "the generator's seed (ignored with --data and --shards: the data "
                         "decide) [default: 0]"),
        ("--features <int>", "d, the length of x (default 10000; with --data: the file's "
                             "largest index, or this, keeping trailing all-zero columns; not "
                             "with --shards, whose manifest has d)"),
    ],
)  # fmt: skip
def test_the_generator_flags_say_what_data_does_to_them(flag: str, help_text: str) -> None:
    assert f"{flag} {help_text}" in _help("solve")


def test_serve_options_say_what_they_are() -> None:
    text = _help("serve")
    for expected in [
        "--queue-url <str> URL of the SQS queue of solve jobs [env var: QUEUE_URL; required]",
        "--front-port <int> ZMQ port of the workers' updates [env var: FRONT_PORT; default: 5555]",
        "--health-port <int> HTTP port of the health check [env var: HEALTH_PORT; default: 8080]",
    ]:
        assert expected in text
