"""What each compute construct repeats: a log group, a role that writes it, maybe a function.

The worker, the intake and the scheduler host each own a ``Logs`` group and a ``Role``; the two
Lambdas also a ``Function`` on their :class:`~stacks.lambda_code.LambdaCode`.  The helpers create
them under the caller's scope with those ids, so the logical ids are the ones each construct
had when it spelled them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.lambda_code import LambdaCode, acknowledge_python_312


@dataclass(frozen=True)
class ManagedPolicy:
    """An AWS-managed policy a role needs, and why (cdk-nag IAM4 is acknowledged with it)."""

    name: str
    reason: str


@dataclass(frozen=True)
class Execution:
    """A role and the log group it may write."""

    role: iam.Role
    log_group: logs.LogGroup


def month_log_group(scope: Construct, construct_id: str) -> logs.LogGroup:
    """A log group keeping one month, destroyed with the stack (every group of the app)."""
    return logs.LogGroup(
        scope,
        construct_id,
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )


def execution_role(
    scope: Construct,
    *,
    service: str,
    description: str,
    managed_policy: ManagedPolicy | None = None,
) -> Execution:
    """``Logs`` (one month, destroyed with the stack) and ``Role``, assumed by ``service``.

    Parameters
    ----------
    service:
        The principal's service, e.g. ``"lambda.amazonaws.com"``.
    description:
        The role's description: whom it serves and what it may touch.
    managed_policy:
        An AWS-managed policy to attach, acknowledged for cdk-nag with its reason.
    """
    log_group = month_log_group(scope, "Logs")
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal(service),
        description=description,
        managed_policies=(
            [iam.ManagedPolicy.from_aws_managed_policy_name(managed_policy.name)]
            if managed_policy
            else None
        ),
    )
    if managed_policy:
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                f"{managed_policy.name}]",
                reason=managed_policy.reason,
            )
        )
    log_group.grant_write(role)
    return Execution(role=role, log_group=log_group)


def python_function(
    scope: Construct,
    *,
    code: LambdaCode,
    execution: Execution,
    handler: str,
    description: str,
    memory_mb: int,
    timeout: Duration,
    **options: Any,
) -> lambda_.Function:
    """``Function`` on ``code`` (its asset, runtime, architecture, layer), with JSON logs.

    ``options`` are further ``lambda_.Function`` keywords (VPC, concurrency, retries).
    """
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=code.runtime,
        architecture=code.architecture,
        handler=handler,
        code=code.code,
        layers=[code.layer],
        memory_size=memory_mb,
        timeout=timeout,
        role=execution.role,
        log_group=execution.log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        **options,
    )
    acknowledge_python_312(function)
    return function
