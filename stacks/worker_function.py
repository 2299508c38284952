"""The worker function: one ADMM worker per invocation, connecting out to the scheduler over ZMQ."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.lambda_code import LambdaCode, acknowledge_python_312

HANDLER = "runtime.handler.handler"
_VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"


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
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="lambda-admm workers: outbound only (scheduler ZMQ ports, S3)",
            allow_all_outbound=True,
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="lambda-admm worker: its logs, its VPC interfaces, datasets/ read",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(_VPC_ACCESS_POLICY)],
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{_VPC_ACCESS_POLICY}]",
                reason="Lambda needs this AWS-maintained policy to manage its network interfaces "
                "in the VPC; its EC2 actions only support Resource '*'.",
            )
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description="lambda-admm ADMM worker (runtime.worker)",
            runtime=code.runtime,
            architecture=code.architecture,
            handler=HANDLER,
            code=code.code,
            layers=[code.layer],
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_seconds),
            reserved_concurrent_executions=reserved_concurrency,
            role=self.role,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            allow_public_subnet=True,
            security_groups=[self.security_group],
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            # Workers are spawned again by the scheduler when lost; a Lambda retry would double one.
            retry_attempts=0,
            max_event_age=Duration.minutes(15),
        )
        acknowledge_python_312(self.function)
