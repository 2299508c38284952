"""Job intake: ``POST /solves`` validates a solve spec and queues it for the scheduler host."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.execution import execution_role, python_function
from stacks.lambda_code import LambdaCode

HANDLER = "scheduler_host.service.intake.handler"
#: pydantic and its dependencies (boto3 comes with the Lambda runtime).
LAYER_DIR = Path(__file__).resolve().parent / "intake_layer"
#: The intake's layer is pydantic alone (about 7 MB); more means numpy or the like crept in.
MAX_LAYER_BYTES = 10 * 1024 * 1024
#: How long a received job stays invisible; the host extends it while the solve runs.
SOLVE_VISIBILITY = Duration.minutes(15)
MAX_RECEIVES = 3


class JobIntake(Construct):
    """The job queue (with a dead-letter queue) and the intake Lambda in front of it.

    Attributes
    ----------
    queue:
        Solve jobs ``{"solve_id", "spec"}``; consumed by the scheduler host.
    dead_letter_queue:
        Jobs received :data:`MAX_RECEIVES` times without being deleted.
    max_receives:
        :data:`MAX_RECEIVES`, which the scheduler host is given (its last delivery gives up).
    code:
        Its code and layer: only the files :data:`HANDLER` imports, over pydantic alone.
    function:
        The intake Lambda (``POST /solves``, ``GET /solves/{id}``), outside the VPC.
    role, log_group:
        The intake Lambda's execution role and log group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        architecture: Literal["x86_64", "arm64"],
        bucket_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.max_receives = MAX_RECEIVES
        self.code = code = LambdaCode(
            self,
            "Code",
            architecture=architecture,
            requirements_dir=LAYER_DIR,
            layer_description="pydantic for the job intake (stacks/intake_layer)",
            handler=HANDLER,
            max_layer_bytes=MAX_LAYER_BYTES,
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.queue = sqs.Queue(
            self,
            "Jobs",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=SOLVE_VISIBILITY,
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVES
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        execution = execution_role(
            self,
            service="lambda.amazonaws.com",
            description="lambda-admm intake: its logs, results/ status objects, job queue send",
        )
        self.role, self.log_group = execution.role, execution.log_group
        self.queue.grant_send_messages(self.role)
        self.function = python_function(
            self,
            code=code,
            execution=execution,
            handler=HANDLER,
            description="lambda-admm job intake (POST /solves, GET /solves/{id})",
            memory_mb=512,
            timeout=Duration.seconds(15),
            environment={"BUCKET_NAME": bucket_name, "QUEUE_URL": self.queue.queue_url},
        )

    def grant_consume(self, grantee: iam.IGrantable) -> None:
        """Receive, delete and extend the visibility of jobs (explicit actions, this queue only)."""
        self.queue.grant(
            grantee,
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
        )
