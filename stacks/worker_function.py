"""The worker function: one ADMM worker per invocation, connecting out to the scheduler over ZMQ."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.execution import ManagedPolicy, execution_role, python_function
from stacks.lambda_code import LambdaCode
from stacks.network import outbound_security_group

HANDLER = "runtime.handler.handler"


class WorkerFunction(Construct):
    """A Python 3.12 Lambda in the VPC's public subnets, with its own security group.

    The function has no inbound reachability; it dials the scheduler host (whose security group
    admits this one) and reads ``datasets/`` through the S3 gateway endpoint.

    Attributes
    ----------
    function:
        The worker Lambda function (handler :data:`HANDLER`).
    security_group:
        The function's security group; the scheduler host admits its ZMQ ports from it.
    role:
        The function's execution role.
    log_group:
        The function's JSON log group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: LambdaCode,
        vpc: ec2.IVpc,
        memory_mb: int,
        timeout_seconds: int,
        reserved_concurrency: int | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = outbound_security_group(
            self,
            vpc=vpc,
            description="lambda-admm workers: outbound only (scheduler ZMQ ports, S3)",
        )
        execution = execution_role(
            self,
            service="lambda.amazonaws.com",
            description="lambda-admm worker: its logs, its VPC interfaces, datasets/ read",
            managed_policy=ManagedPolicy(
                name="service-role/AWSLambdaVPCAccessExecutionRole",
                reason="Lambda needs this AWS-maintained policy to manage its network interfaces "
                "in the VPC; its EC2 actions only support Resource '*'.",
            ),
        )
        self.role, self.log_group = execution.role, execution.log_group
        self.function = python_function(
            self,
            code=code,
            execution=execution,
            handler=HANDLER,
            description="lambda-admm ADMM worker (runtime.worker)",
            memory_mb=memory_mb,
            timeout=Duration.seconds(timeout_seconds),
            reserved_concurrent_executions=reserved_concurrency,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            allow_public_subnet=True,
            security_groups=[self.security_group],
            # Workers are spawned again by the scheduler when lost; a Lambda retry would double one.
            retry_attempts=0,
            max_event_age=Duration.minutes(15),
        )
