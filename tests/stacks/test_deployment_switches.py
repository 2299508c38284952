"""The two context switches LocalStack deploys need, and what they leave out of the template.

``auto_delete_objects`` and ``restrict_default_security_group`` each add a Node.js Lambda-backed
custom resource; LocalStack's executor (tools/localstack-executor) runs Python only, so the
integration tests deploy with both ``false``. Real accounts keep the defaults (``true``, as in
``cdk.json``). Everything else in the template must be the same either way.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, DeploymentConfig
from tests.integration.deployed import LOCALSTACK_CONTEXT
from tests.stacks.template import CONTEXT, Built, build


@pytest.fixture
def default(built: Built) -> Built:
    """The session's template with ``cdk.json``'s context (conftest.py)."""
    return built


@pytest.fixture(scope="module")
def localstack(tmp_path_factory: pytest.TempPathFactory) -> Built:
    # The strings the integration tests pass with `-c`.
    return build(tmp_path_factory.mktemp("cdk-localstack"), **LOCALSTACK_CONTEXT)


def resources(built: Built) -> dict[str, Any]:
    found: dict[str, Any] = built.template.to_json()["Resources"]
    return found


def nodejs_functions(built: Built) -> set[str]:
    return {
        name
        for name, resource in resources(built).items()
        if resource["Type"] == "AWS::Lambda::Function"
        and str(resource["Properties"].get("Runtime", "")).startswith("nodejs")
    }


def test_real_accounts_get_both_custom_resources_by_default(default: Built) -> None:
    default.template.resource_count_is("Custom::S3AutoDeleteObjects", 2)  # data and access logs
    default.template.resource_count_is("Custom::VpcRestrictDefaultSG", 1)
    assert len(nodejs_functions(default)) == 2


def test_localstack_switches_leave_out_every_nodejs_custom_resource(localstack: Built) -> None:
    assert localstack.nag_error is None, localstack.nag_error
    assert not [r for r in resources(localstack).values() if r["Type"].startswith("Custom::")]
    assert nodejs_functions(localstack) == set()
    runtimes = {
        r["Properties"]["Runtime"]
        for r in resources(localstack).values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert runtimes == {"python3.12"}


def test_switches_change_nothing_else(default: Built, localstack: Built) -> None:
    full, local = resources(default), resources(localstack)
    assert set(local) <= set(full)
    # Only the custom resources, their Node.js providers and the providers' roles are left out.
    left_out = {full[name]["Type"] for name in set(full) - set(local)}
    assert left_out == {
        "Custom::S3AutoDeleteObjects",
        "Custom::VpcRestrictDefaultSG",
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
    }
    assert {
        name for name in set(full) - set(local) if full[name]["Type"].startswith("AWS::Lambda")
    } == (nodejs_functions(default))
    # Every resource both have is identical, but for the auto-delete tag and bucket policy
    # statement that let the (left out) custom resource empty the buckets.
    for name in local:
        mine, theirs = local[name], full[name]
        if theirs["Type"] in ("AWS::S3::Bucket", "AWS::S3::BucketPolicy"):
            continue
        assert mine == theirs, name
    for name, resource in local.items():
        if resource["Type"] == "AWS::S3::Bucket":
            assert resource["Properties"] == {
                key: value for key, value in full[name]["Properties"].items() if key != "Tags"
            }


@pytest.mark.parametrize("key", ["auto_delete_objects", "restrict_default_security_group"])
def test_switch_values_are_validated(key: str) -> None:
    with pytest.raises(ConfigError) as error:
        DeploymentConfig.from_context({key: "maybe"}.get)
    assert str(error.value) == (
        "invalid CDK context:\n"
        f"  -c {key}='maybe': Input should be a valid boolean, unable to interpret input "
        "(expected true or false)"
    )
    assert getattr(DeploymentConfig.from_context({key: "false"}.get), key) is False
    assert getattr(DeploymentConfig.from_context(dict[str, str]().get), key) is True


def test_cdk_json_keeps_both_on() -> None:
    assert CONTEXT["auto_delete_objects"] is True
    assert CONTEXT["restrict_default_security_group"] is True
