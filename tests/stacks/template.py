"""Building the CDK app's template for the tests, and reading it.

The app is built and synthesized with ``cdk.json``'s context (feature flags differ without it),
bundling skipped (the layers have their own slow tests) and CloudFormation's built-in
validation off (``make synth`` keeps it on).  The cdk-nag plugin runs in that synth.  The
fixtures that build it once per session are in ``conftest.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack, Validations
from aws_cdk.assertions import Template

from app import build_app
from stacks.lambda_admm_stack import LambdaAdmmStack

ROOT = Path(__file__).resolve().parents[2]
CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]


@dataclass
class Built:
    app: App
    stack: LambdaAdmmStack
    template: Template
    outdir: Path
    nag_error: str | None

    def ref(self, value: str) -> Any:
        """A token as it appears in the template (derived, never a hard-coded logical id)."""
        return self.stack.resolve(value)


def build(outdir: Path, **context: Any) -> Built:
    app = App(
        context={**CONTEXT, "aws:cdk:bundling-stacks": [], **context},
        outdir=str(outdir),
        builtin_cloud_formation_validation=False,
    )
    stack = build_app(app)
    nag_error = None
    try:
        assembly = app.synth()
    except Exception as error:  # cdk-nag findings fail the synth; reported by a test below
        nag_error = str(error)
        report = outdir / "validation-report.json"
        if report.exists():
            nag_error += "\n" + report.read_text()
        return Built(app, stack, Template.from_stack(stack), outdir, nag_error)
    template = Template.from_json(assembly.get_stack_artifact(stack.artifact_id).template)
    return Built(app, stack, template, outdir, nag_error)


def statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    properties = resource.get("Properties", {})
    documents = [properties.get("PolicyDocument")]
    documents += [p.get("PolicyDocument") for p in properties.get("Policies", [])]
    return [s for d in documents if d for s in d.get("Statement", [])]


def acknowledged_paths(stack: Stack, rule: str) -> list[str]:
    paths = []
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY and rule in entry.data:
                paths.append(construct.node.path)
    return paths


def asset_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
