"""The scheduler host: one EC2 instance running ``lambda-admm serve`` (ZMQ front and broadcast).

At boot the instance downloads the project (a CDK asset of the two packages and
``pyproject.toml``), runs ``scheduler_host/deploy/install.sh`` with the deployment's settings,
and ships the service log to CloudWatch with the CloudWatch agent.  There is no SSH key: use
Session Manager.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from stacks.execution import ManagedPolicy, execution_role
from stacks.lambda_code import PACKAGES_ONLY
from stacks.network import outbound_security_group

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/opt/lambda-admm"
SERVICE_LOG = "/var/log/lambda-admm/scheduler.log"
AGENT_CONFIG = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"

#: The packages, the project metadata pip needs, and nothing else (see stacks.lambda_code).
HOST_SOURCE_EXCLUDE = [
    *PACKAGES_ONLY,
    "!pyproject.toml",
    "!README.md",
    "__pycache__",
    "*.pyc",
]


class SchedulerInstance(Construct):
    """The scheduler host, its security group, role and log group.

    Attributes
    ----------
    instance:
        The EC2 instance (AL2023, IMDSv2 only, no key pair, encrypted root volume).
    security_group:
        Admits the two ZMQ ports from the worker security group only.
    role:
        The instance role (Session Manager, its log group, the source asset).
    log_group:
        Receives the service log and the boot log.
    source:
        The project source asset unpacked to ``/opt/lambda-admm/src`` at boot.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        instance_type: str,
        worker_security_group: ec2.ISecurityGroup,
        front_port: int,
        broadcast_port: int,
        queue_url: str,
        bucket_name: str,
        api_url: str,
        max_receives: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # All outbound: PyPI and dnf at boot; SQS, S3, API Gateway, logs.
        self.security_group = outbound_security_group(
            self,
            vpc=vpc,
            description="lambda-admm scheduler: ZMQ front and broadcast from workers only",
        )
        for port, name in ((front_port, "front (ROUTER)"), (broadcast_port, "broadcast (PUB)")):
            self.security_group.add_ingress_rule(
                worker_security_group, ec2.Port.tcp(port), f"ZMQ {name} from worker functions"
            )
        execution = execution_role(
            self,
            service="ec2.amazonaws.com",
            description="lambda-admm scheduler host",
            managed_policy=ManagedPolicy(
                name="AmazonSSMManagedInstanceCore",
                reason="Session Manager replaces SSH (the host has no key pair); this is the "
                "AWS-maintained policy the SSM agent needs, and several of its actions only "
                "support Resource '*'.",
            ),
        )
        self.role, self.log_group = execution.role, execution.log_group
        self.log_group.grant(self.role, "logs:DescribeLogStreams")
        self.source = s3_assets.Asset(
            self, "Source", path=str(REPO_ROOT), exclude=HOST_SOURCE_EXCLUDE
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    Stack.of(self).format_arn(
                        service="s3",
                        region="",
                        account="",
                        resource=self.source.s3_bucket_name,
                        resource_name=self.source.s3_object_key,
                    )
                ],
            )
        )

        config = {
            "QUEUE_URL": queue_url,
            "BUCKET": bucket_name,
            "API_URL": api_url,
            "AWS_REGION": Stack.of(self).region,
            "FRONT_PORT": str(front_port),
            "BROADCAST_PORT": str(broadcast_port),
            # The job queue's maxReceiveCount: the service's last delivery gives up.
            "MAX_RECEIVES": str(max_receives),
        }
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            associate_public_ip_address=True,
            instance_type=ec2.InstanceType(instance_type),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(
                cpu_type=_cpu_type(ec2.InstanceType(instance_type))
            ),
            security_group=self.security_group,
            role=self.role,
            user_data=self._user_data(config),
            user_data_causes_replacement=True,
            require_imdsv2=True,
            detailed_monitoring=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        20, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
        Validations.of(self.instance).acknowledge(
            Acknowledgment(
                id="AwsSolutions-EC29",
                reason="A single disposable host, rebuilt from the stack at will; termination "
                "protection would block cdk destroy and an Auto Scaling group adds nothing "
                "for one stateless instance.",
            )
        )

    def _user_data(self, config: dict[str, str]) -> ec2.UserData:
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(
            "set -euo pipefail",
            "dnf install -y -q unzip amazon-cloudwatch-agent",
            f"mkdir -p {Path(SERVICE_LOG).parent}",
            f"cat > {AGENT_CONFIG} <<'AGENT'",
            Stack.of(self).to_json_string(self._agent_config()),
            "AGENT",
            "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl "
            f"-a fetch-config -m ec2 -s -c file:{AGENT_CONFIG}",
        )
        archive = user_data.add_s3_download_command(
            bucket=self.source.bucket,
            bucket_key=self.source.s3_object_key,
            region=Stack.of(self).region,
        )
        imds = "http://169.254.169.254/latest"
        user_data.add_commands(
            f"rm -rf {PREFIX}/src && mkdir -p {PREFIX}/src",
            f"unzip -q -o {archive} -d {PREFIX}/src",
            # The address workers dial: the private IP, from IMDSv2 (tokens are required).
            f"TOKEN=$(curl -sSf -X PUT {imds}/api/token "
            "-H 'X-aws-ec2-metadata-token-ttl-seconds: 300')",
            f'PRIVATE_IP=$(curl -sSf -H "X-aws-ec2-metadata-token: $TOKEN" '
            f"{imds}/meta-data/local-ipv4)",
            f"cat > {PREFIX}/bootstrap.env <<ENV",
            *(f"{key}={value}" for key, value in config.items()),
            "ADVERTISE_HOST=$PRIVATE_IP",
            "ENV",
            f"bash {PREFIX}/src/scheduler_host/deploy/install.sh --prefix {PREFIX} "
            f"--src {PREFIX}/src --env-file {PREFIX}/bootstrap.env --log-file {SERVICE_LOG}",
        )
        return user_data

    def _agent_config(self) -> dict[str, object]:
        def stream(path: str, suffix: str) -> dict[str, str]:
            return {
                "file_path": path,
                "log_group_name": self.log_group.log_group_name,
                "log_stream_name": "{instance_id}" + suffix,
                "timezone": "UTC",
            }

        return {
            "logs": {
                "force_flush_interval": 5,
                "logs_collected": {
                    "files": {
                        "collect_list": [
                            stream(SERVICE_LOG, "/scheduler"),
                            stream("/var/log/cloud-init-output.log", "/boot"),
                        ]
                    }
                },
            }
        }


def _cpu_type(instance_type: ec2.InstanceType) -> ec2.AmazonLinuxCpuType:
    if instance_type.architecture == ec2.InstanceArchitecture.ARM_64:
        return ec2.AmazonLinuxCpuType.ARM_64
    return ec2.AmazonLinuxCpuType.X86_64
