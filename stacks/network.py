"""The VPC: public subnets only (no NAT gateway), an S3 gateway endpoint and a flow log."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from stacks.execution import month_log_group


class Network(Construct):
    """Two public subnets, reached from S3 through a gateway endpoint.

    The worker functions sit in these subnets without public addresses: they reach the scheduler
    host's private address directly and S3 through the endpoint, so no NAT gateway is needed.

    Attributes
    ----------
    vpc:
        The VPC.
    flow_log_group:
        Receives the VPC flow log (rejected and accepted traffic).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        max_azs: int = 2,
        restrict_default_security_group: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.flow_log_group = month_log_group(self, "FlowLogs")
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=max_azs,
            nat_gateways=0,
            # A Node.js custom resource that strips the default security group's rules.
            restrict_default_security_group=restrict_default_security_group,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                )
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )


def outbound_security_group(
    scope: Construct, *, vpc: ec2.IVpc, description: str
) -> ec2.SecurityGroup:
    """``SecurityGroup`` under ``scope``: all outbound, inbound only as the caller adds it."""
    return ec2.SecurityGroup(
        scope, "SecurityGroup", vpc=vpc, description=description, allow_all_outbound=True
    )
