"""The lambda-admm stack: composes the constructs, wires their grants and emits the outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import DeploymentConfig
from stacks.data_bucket import DATASETS_PREFIX, RESULTS_PREFIX, DataBucket
from stacks.intake import JobIntake
from stacks.lambda_code import LambdaCode
from stacks.network import Network
from stacks.scheduler_instance import SchedulerInstance
from stacks.trigger_api import TriggerApi
from stacks.worker_function import WorkerFunction


class LambdaAdmmStack(Stack):
    """Data bucket, network, worker function, job intake, trigger API and scheduler host.

    Attributes
    ----------
    data, network, code, worker, intake, trigger_api, scheduler:
        The constructs, for tests and for stacks that build on this one (``code`` is the
        worker's; the intake has its own, ``intake.code``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.data = DataBucket(self, "Data", auto_delete_objects=config.auto_delete_objects)
        self.network = Network(
            self,
            "Network",
            restrict_default_security_group=config.restrict_default_security_group,
        )
        self.code = LambdaCode(self, "LambdaCode", architecture=config.worker_architecture)
        self.worker = WorkerFunction(
            self,
            "Worker",
            code=self.code,
            vpc=self.network.vpc,
            memory_mb=config.worker_memory_mb,
            timeout_seconds=config.worker_timeout_seconds,
            reserved_concurrency=config.worker_reserved_concurrency,
        )
        self.intake = JobIntake(
            self,
            "Intake",
            architecture=config.worker_architecture,
            bucket_name=self.data.bucket.bucket_name,
        )
        self.trigger_api = TriggerApi(
            self,
            "TriggerApi",
            worker_function=self.worker.function,
            intake_function=self.intake.function,
        )
        self.scheduler = SchedulerInstance(
            self,
            "Scheduler",
            vpc=self.network.vpc,
            instance_type=config.scheduler_instance_type,
            worker_security_group=self.worker.security_group,
            front_port=config.zmq_front_port,
            broadcast_port=config.zmq_broadcast_port,
            queue_url=self.intake.queue.queue_url,
            bucket_name=self.data.bucket.bucket_name,
            api_url=self.trigger_api.api.url,
            max_receives=self.intake.max_receives,
        )

        # Who may touch what.
        self.data.grant_objects(self.worker.function, DATASETS_PREFIX)
        self.data.grant_objects(self.intake.function, RESULTS_PREFIX, write=True)
        self.data.grant_objects(self.scheduler.role, DATASETS_PREFIX, write=True)
        self.data.grant_objects(self.scheduler.role, RESULTS_PREFIX, write=True)
        self.intake.grant_consume(self.scheduler.role)
        self.trigger_api.grant_invoke_workers(self.scheduler.role)

        outputs = {
            "ApiUrl": (self.trigger_api.api.url, "REST API stage URL (IAM auth)"),
            "BucketName": (self.data.bucket.bucket_name, "data bucket: datasets/, results/"),
            "QueueUrl": (self.intake.queue.queue_url, "solve job queue"),
            "SchedulerInstanceId": (self.scheduler.instance.instance_id, "scheduler host"),
            "WorkerFunctionName": (self.worker.function.function_name, "worker Lambda"),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
