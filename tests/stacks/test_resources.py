"""The other resources' properties: queue, instance, buckets, network, assets, outputs."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from tests.stacks.template import Built, asset_files


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
        "MAX_RECEIVES=3",
        "ADVERTISE_HOST=$PRIVATE_IP",
        "X-aws-ec2-metadata-token",
        "amazon-cloudwatch-agent",
    ):
        assert needle in script, needle


def test_code_assets_hold_only_the_packages(built: Built) -> None:
    function_code = built.stack.worker.function.node.find_child("Code")
    files = asset_files(built.outdir / function_code.asset_path)  # type: ignore[attr-defined]
    assert files, "empty Lambda code asset"
    assert all(f.startswith(("runtime/", "scheduler_host/")) and f.endswith(".py") for f in files)
    assert "runtime/specs.py" in files and "scheduler_host/service/intake.py" in files
    assert not any("__pycache__" in f or "/tests/" in f for f in files)

    host_files = asset_files(built.outdir / built.stack.scheduler.source.asset_path)
    assert {"pyproject.toml", "scheduler_host/deploy/install.sh", "runtime/specs.py"} <= host_files
    top_level = {f.split("/")[0] for f in host_files}
    assert top_level <= {"runtime", "scheduler_host", "pyproject.toml", "README.md"}


def test_outputs(built: Built) -> None:
    outputs = built.template.to_json()["Outputs"]
    assert {
        "ApiUrl",
        "BucketName",
        "QueueUrl",
        "SchedulerInstanceId",
        "WorkerFunctionName",
    } <= set(outputs)
