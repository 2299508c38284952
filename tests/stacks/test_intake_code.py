"""The intake Lambda's slim code: only the files its handler imports, over a pydantic layer.

The file list is computed from the handler's imports (:mod:`stacks.import_closure`); these tests
pin what that computation finds, and that the template gives the intake that asset and layer.
The bundle's real import, in an isolated CPython 3.12, is in ``test_intake_bundle.py`` (slow).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match

from stacks.import_closure import import_closure
from stacks.intake import HANDLER
from stacks.intake import LAYER_DIR as INTAKE_LAYER_DIR
from stacks.lambda_code import REPO_ROOT, LambdaCode, closure_exclude
from tests.stacks.template import Built

#: What the intake imports today; a new import of the project's adds to the computed list.
INTAKE_FILES = {
    "runtime/__init__.py",
    "runtime/specs.py",
    "scheduler_host/__init__.py",
    "scheduler_host/service/__init__.py",
    "scheduler_host/service/intake.py",
    "scheduler_host/solve_spec.py",
}


def test_the_intake_closure_is_its_modules_and_needs_only_pydantic() -> None:
    closure = import_closure(HANDLER.rpartition(".")[0], root=REPO_ROOT)
    assert set(closure.files) >= INTAKE_FILES
    assert all(f.startswith(("runtime/", "scheduler_host/")) for f in closure.files)
    # Nothing numerical: the solver, the worker and the CLI stay out.
    assert not {"runtime/worker.py", "runtime/losses.py"} & set(closure.files)
    assert not any(
        f.startswith(("scheduler_host/solve/", "scheduler_host/cli/")) for f in closure.files
    )
    # pydantic_core is pydantic's own compiled half (the registry raises its PydanticCustomError);
    # the layer pins both.
    assert closure.dependencies == ("boto3", "pydantic", "pydantic_core")


def test_the_intake_function_uses_its_own_asset_and_layer(built: Built) -> None:
    intake = built.stack.intake
    asset = intake.function.node.find_child("Code")
    built.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": HANDLER,
            "Code": Match.object_like({"S3Key": built.ref(asset.s3_object_key)}),  # type: ignore[attr-defined]
            "Layers": [built.ref(intake.code.layer.layer_version_arn)],
        },
    )
    built.template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {
            "Description": "pydantic for the job intake (stacks/intake_layer)",
            "CompatibleRuntimes": ["python3.12"],
            "CompatibleArchitectures": ["x86_64"],
        },
    )
    built.template.resource_count_is("AWS::Lambda::LayerVersion", 2)
    worker_asset = built.stack.worker.function.node.find_child("Code")
    assert asset.asset_path != worker_asset.asset_path  # type: ignore[attr-defined]


def test_the_intake_asset_holds_exactly_the_closure(built: Built) -> None:
    asset = built.stack.intake.function.node.find_child("Code")
    root = built.outdir / asset.asset_path  # type: ignore[attr-defined]
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert built.stack.intake.code.closure is not None
    assert files == set(built.stack.intake.code.closure.files)
    assert files >= INTAKE_FILES


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_closure_follows_relative_lazy_and_submodule_imports_only(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "runtime/__init__.py": "",
            "runtime/a.py": "from . import b\nfrom .c import VALUE\nimport json\n",
            "runtime/b.py": "def f():\n    import yaml\n    from runtime import d\n",
            "runtime/c.py": "VALUE = 1\nimport numpy as np\n",
            "runtime/d.py": "import typing\nif typing.TYPE_CHECKING:\n    import runtime.e\n",
            "runtime/e.py": "import scipy\n",
        },
    )
    closure = import_closure("runtime.a", root=tmp_path)
    assert closure.files == (
        "runtime/__init__.py",
        "runtime/a.py",
        "runtime/b.py",
        "runtime/c.py",
        "runtime/d.py",
    )
    assert closure.dependencies == ("numpy", "yaml")


def test_closure_names_a_missing_project_module(tmp_path: Path) -> None:
    _tree(tmp_path, {"runtime/__init__.py": "", "runtime/a.py": "import runtime.gone\n"})
    with pytest.raises(ModuleNotFoundError) as caught:
        import_closure("runtime.a", root=tmp_path)
    assert str(caught.value) == f"runtime.gone is not a module under {tmp_path}"


def test_closure_exclude_keeps_the_files_and_their_folders() -> None:
    closure = import_closure("scheduler_host.service.intake", root=REPO_ROOT)
    exclude = closure_exclude(closure)
    assert exclude[:2] == ["*", ".*"]
    assert "!scheduler_host/service" in exclude and "!scheduler_host" in exclude
    assert {f"!{f}" for f in closure.files} <= set(exclude)


def test_a_handler_importing_what_its_layer_lacks_fails_the_synth() -> None:
    stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "Careless")
    with pytest.raises(ValueError) as caught:
        LambdaCode(
            stack,
            "Code",
            architecture="x86_64",
            requirements_dir=INTAKE_LAYER_DIR,
            handler="runtime.handler.handler",
        )
    message = str(caught.value)
    assert message.startswith(
        "runtime.handler.handler imports msgpack, msgpack_numpy, nacl, numpy, scipy, zmq, "
        f"which neither {INTAKE_LAYER_DIR / 'requirements.txt'} nor the Lambda runtime provides"
    )
