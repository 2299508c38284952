"""The deployment's `-c` context: defaults and non-defaults reach the template, bad values fail."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from stacks.config import ConfigError, DeploymentConfig
from tests.stacks.template import CONTEXT, ROOT, Built


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
