"""Who may do what: cdk-nag, IAM statements, security groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from tests.stacks.template import CONTEXT, Built, acknowledged_paths, statements


def test_cdk_nag_has_no_unacknowledged_findings(built: Built) -> None:
    assert built.nag_error is None, built.nag_error


def test_cdk_nag_does_fail_a_synth_on_a_finding(tmp_path: Path) -> None:
    app = App(context=CONTEXT, outdir=str(tmp_path), builtin_cloud_formation_validation=False)
    s3.Bucket(Stack(app, "Careless"), "Bucket")  # no access logs, no TLS-only policy
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_host_may_invoke_only_post_workers(built: Built) -> None:
    role = built.ref(built.stack.scheduler.role.role_name)
    (policy,) = built.template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [role]}}
    ).values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    invoke = [s for s in statements if s["Action"] == "execute-api:Invoke"]
    assert len(invoke) == 1
    assert json.dumps(invoke[0]["Resource"]).endswith('"/prod/POST/workers"]]}')
    consume = next(s for s in statements if "sqs:ReceiveMessage" in s["Action"])
    assert set(consume["Action"]) >= {"sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}
    assert consume["Resource"] == built.ref(built.stack.intake.queue.queue_arn)


def test_no_iam_statement_has_resource_star_unless_acknowledged(built: Built) -> None:
    acknowledged = acknowledged_paths(built.stack, "AwsSolutions-IAM5[Resource::*]")
    offenders = []
    for logical_id, resource in built.template.to_json()["Resources"].items():
        for statement in statements(resource):
            resources = statement.get("Resource", [])
            if "*" in (resources if isinstance(resources, list) else [resources]):
                path = resource.get("Metadata", {}).get("aws:cdk:path", logical_id)
                if not any(path.startswith(prefix) for prefix in acknowledged):
                    offenders.append((path, statement))
    assert offenders == []


def test_zmq_ports_admit_only_the_worker_security_group(built: Built) -> None:
    host_sg = built.ref(built.stack.scheduler.security_group.security_group_id)
    worker_sg = built.ref(built.stack.worker.security_group.security_group_id)
    ingress = [
        rule["Properties"]
        for rule in built.template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == host_sg
    ]
    assert sorted(rule["FromPort"] for rule in ingress) == [5555, 5556]
    for rule in ingress:
        assert rule["ToPort"] == rule["FromPort"]
        assert rule["IpProtocol"] == "tcp"
        assert rule["SourceSecurityGroupId"] == worker_sg
        assert "CidrIp" not in rule and "CidrIpv6" not in rule
    for group in built.template.find_resources("AWS::EC2::SecurityGroup").values():
        assert "SecurityGroupIngress" not in group["Properties"]  # nothing open inline
