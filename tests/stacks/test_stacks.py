"""The CDK app's template: security properties, wiring and cdk-nag, asserted with ``Match``.

The app is built and synthesized once per module with ``cdk.json``'s context (feature flags
differ without it), bundling skipped (the layer has its own slow test) and CloudFormation's
built-in validation off (``make synth`` keeps it on).  The cdk-nag plugin runs in that synth.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from app import build_app
from stacks.config import ConfigError, DeploymentConfig
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


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    return build(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Built:
    # As `-c` passes them: strings.
    return build(
        tmp_path_factory.mktemp("cdk-custom"),
        worker_memory_mb="3008",
        worker_timeout_seconds="600",
        worker_reserved_concurrency="50",
        worker_architecture="arm64",
        scheduler_instance_type="c7g.xlarge",
        zmq_front_port="6000",
        zmq_broadcast_port="6001",
    )


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


def test_post_workers_invokes_the_worker_asynchronously_with_iam_auth(built: Built) -> None:
    worker_arn = built.ref(built.stack.worker.function.function_arn)
    built.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "Integration": Match.object_like(
                {
                    "Type": "AWS",
                    "IntegrationHttpMethod": "POST",
                    "Credentials": built.ref(built.stack.trigger_api.invoke_role.role_arn),
                    "RequestParameters": {
                        "integration.request.header.X-Amz-Invocation-Type": "'Event'"
                    },
                    "Uri": {
                        "Fn::Join": [
                            "",
                            Match.array_with(
                                [":lambda:path/2015-03-31/functions/", worker_arn, "/invocations"]
                            ),
                        ]
                    },
                    "IntegrationResponses": [Match.object_like({"StatusCode": "202"})],
                }
            ),
            "MethodResponses": [Match.object_like({"StatusCode": "202"})],
        },
    )


def test_every_method_requires_iam(built: Built) -> None:
    methods = built.template.find_resources("AWS::ApiGateway::Method")
    assert len(methods) == 3
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"


def test_post_solves_validates_the_body_and_proxies_to_the_intake(built: Built) -> None:
    validators = built.template.find_resources(
        "AWS::ApiGateway::RequestValidator",
        {"Properties": {"ValidateRequestBody": True}},
    )
    assert len(validators) == 1
    (validator_id,) = validators
    built.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "ResourceId": built.ref(built.stack.trigger_api.submit_method.resource.resource_id),
            "RequestValidatorId": {"Ref": validator_id},
            "RequestModels": {"application/json": Match.any_value()},
            "Integration": Match.object_like({"Type": "AWS_PROXY"}),
        },
    )
    built.template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {"ContentType": "application/json", "Schema": Match.object_like({"type": "object"})},
    )
    built.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "GET", "Integration": Match.object_like({"Type": "AWS_PROXY"})},
    )


def test_stage_has_access_logs_and_throttling(built: Built) -> None:
    built.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [Match.object_like({"ThrottlingRateLimit": Match.any_value()})]
            ),
        },
    )


def test_job_queue_has_a_dead_letter_queue_and_a_solve_sized_visibility(built: Built) -> None:
    dlq_arn = built.ref(built.stack.intake.dead_letter_queue.queue_arn)
    built.template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "RedrivePolicy": {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3},
            "VisibilityTimeout": 900,
        },
    )
    # Both queues refuse plain HTTP.
    built.template.resource_properties_count_is(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
        2,
    )


def test_instance_requires_imdsv2_and_has_no_key_pair(built: Built) -> None:
    built.template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": Match.object_like({"MetadataOptions": {"HttpTokens": "required"}})},
    )
    built.template.has_resource_properties(
        "AWS::EC2::Instance",
        {
            "KeyName": Match.absent(),
            "LaunchTemplate": Match.object_like({"LaunchTemplateName": Match.any_value()}),
            "Monitoring": True,
            "InstanceType": "c7i.large",
            "BlockDeviceMappings": [
                Match.object_like({"Ebs": Match.object_like({"Encrypted": True})})
            ],
        },
    )
    for template in built.template.find_resources("AWS::EC2::LaunchTemplate").values():
        assert "KeyName" not in template["Properties"]["LaunchTemplateData"]


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


def test_worker_function_settings_come_from_the_default_context(built: Built) -> None:
    built.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "runtime.handler.handler",
            "Runtime": "python3.12",
            "MemorySize": 1769,
            "Timeout": 900,
            "Architectures": ["x86_64"],
            "ReservedConcurrentExecutions": Match.absent(),
            "Environment": Match.absent(),  # workers read every setting from their assignment
            "Layers": [built.ref(built.stack.code.layer.layer_version_arn)],
            "VpcConfig": Match.object_like(
                {"SecurityGroupIds": [Match.object_like({"Fn::GetAtt": Match.any_value()})]}
            ),
        },
    )
    built.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "scheduler_host.service.intake.handler",
            "VpcConfig": Match.absent(),
            "Layers": [built.ref(built.stack.intake.code.layer.layer_version_arn)],
        },
    )


def test_non_default_context_reaches_the_template(custom: Built) -> None:
    assert custom.nag_error is None, custom.nag_error
    custom.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "runtime.handler.handler",
            "MemorySize": 3008,
            "Timeout": 600,
            "ReservedConcurrentExecutions": 50,
            "Architectures": ["arm64"],
        },
    )
    custom.template.has_resource_properties(
        "AWS::Lambda::LayerVersion", {"CompatibleArchitectures": ["arm64"]}
    )
    custom.template.has_resource_properties("AWS::EC2::Instance", {"InstanceType": "c7g.xlarge"})
    ports = [
        rule["Properties"]["FromPort"]
        for rule in custom.template.find_resources("AWS::EC2::SecurityGroupIngress").values()
    ]
    assert sorted(ports) == [6000, 6001]
    parameters = json.dumps(custom.template.to_json()["Parameters"])
    assert re.search(r"/al2023-ami-kernel-[^\"]*-arm64\"", parameters), parameters


def test_api_role_may_invoke_only_the_worker_function(built: Built) -> None:
    role = built.ref(built.stack.trigger_api.invoke_role.role_name)
    worker_arn = built.ref(built.stack.worker.function.function_arn)
    policies = built.template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [role]}})
    (policy,) = policies.values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": worker_arn}
    ]
    role_resource = built.template.find_resources("AWS::IAM::Role")[role["Ref"]]
    assert "ManagedPolicyArns" not in role_resource["Properties"]


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
    acknowledged = _acknowledged_paths(built.stack, "AwsSolutions-IAM5[Resource::*]")
    offenders = []
    for logical_id, resource in built.template.to_json()["Resources"].items():
        for statement in _statements(resource):
            resources = statement.get("Resource", [])
            if "*" in (resources if isinstance(resources, list) else [resources]):
                path = resource.get("Metadata", {}).get("aws:cdk:path", logical_id)
                if not any(path.startswith(prefix) for prefix in acknowledged):
                    offenders.append((path, statement))
    assert offenders == []


def test_outputs(built: Built) -> None:
    outputs = built.template.to_json()["Outputs"]
    assert {
        "ApiUrl",
        "BucketName",
        "QueueUrl",
        "SchedulerInstanceId",
        "WorkerFunctionName",
    } <= set(outputs)


def test_buckets_are_private_tls_only_encrypted_and_destroyed_with_the_stack(built: Built) -> None:
    buckets = built.template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket in buckets.values():
        assert bucket["DeletionPolicy"] == "Delete"
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
        assert "BucketEncryption" in properties
    built.template.resource_count_is("Custom::S3AutoDeleteObjects", 2)
    built.template.has_resource_properties(
        "AWS::S3::Bucket",
        {"LoggingConfiguration": Match.object_like({"DestinationBucketName": Match.any_value()})},
    )


def test_network_has_no_nat_an_s3_endpoint_and_a_flow_log(built: Built) -> None:
    built.template.resource_count_is("AWS::EC2::NatGateway", 0)
    built.template.resource_count_is("AWS::EC2::FlowLog", 1)
    built.template.has_resource_properties("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"})


def test_user_data_installs_the_service_with_its_configuration(built: Built) -> None:
    (instance,) = built.template.find_resources("AWS::EC2::Instance").values()
    script = json.dumps(instance["Properties"]["UserData"])
    for needle in (
        "scheduler_host/deploy/install.sh",
        "--env-file",
        "FRONT_PORT=5555",
        "BROADCAST_PORT=5556",
        "ADVERTISE_HOST=$PRIVATE_IP",
        "X-aws-ec2-metadata-token",
        "amazon-cloudwatch-agent",
    ):
        assert needle in script, needle


def test_code_assets_hold_only_the_packages(built: Built) -> None:
    function_code = built.stack.worker.function.node.find_child("Code")
    files = _files(built.outdir / function_code.asset_path)  # type: ignore[attr-defined]
    assert files, "empty Lambda code asset"
    assert all(f.startswith(("runtime/", "scheduler_host/")) and f.endswith(".py") for f in files)
    assert "runtime/specs.py" in files and "scheduler_host/service/intake.py" in files
    assert not any("__pycache__" in f or "/tests/" in f for f in files)

    host_files = _files(built.outdir / built.stack.scheduler.source.asset_path)
    assert {"pyproject.toml", "scheduler_host/deploy/install.sh", "runtime/specs.py"} <= host_files
    top_level = {f.split("/")[0] for f in host_files}
    assert top_level <= {"runtime", "scheduler_host", "pyproject.toml", "README.md"}


def test_bad_context_names_the_key_and_the_range() -> None:
    with pytest.raises(ConfigError) as caught:
        DeploymentConfig.from_context({"worker_memory_mb": "99", "zmq_front_port": "x"}.get)
    message = str(caught.value)
    assert "-c worker_memory_mb='99'" in message and "128..10240" in message
    assert "-c zmq_front_port='x'" in message
    with pytest.raises(ConfigError, match=r"worker_architecture.*x86_64 or arm64"):
        DeploymentConfig.from_context({"worker_architecture": "sparc"}.get)
    with pytest.raises(ConfigError, match=r"zmq_broadcast_port.*must differ"):
        DeploymentConfig.from_context({"zmq_front_port": 7000, "zmq_broadcast_port": 7000}.get)
    assert DeploymentConfig.from_context({"worker_reserved_concurrency": ""}.get) == (
        DeploymentConfig()
    )


def test_app_exits_with_the_message_on_bad_context(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({**CONTEXT, "worker_timeout_seconds": "901"}),
        "CDK_OUTDIR": str(tmp_path),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "-c worker_timeout_seconds='901'" in result.stderr
    assert "1..900" in result.stderr
    assert "Traceback" not in result.stderr


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    properties = resource.get("Properties", {})
    documents = [properties.get("PolicyDocument")]
    documents += [p.get("PolicyDocument") for p in properties.get("Policies", [])]
    return [s for d in documents if d for s in d.get("Statement", [])]


def _acknowledged_paths(stack: Stack, rule: str) -> list[str]:
    paths = []
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY and rule in entry.data:
                paths.append(construct.node.path)
    return paths


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
