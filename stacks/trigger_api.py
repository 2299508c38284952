"""The REST API: ``POST /workers`` spawns a worker asynchronously; ``/solves`` is the job intake.

Every method requires IAM (SigV4) authorization.  ``POST /workers`` is an AWS service
integration with Lambda's Invoke API and ``X-Amz-Invocation-Type: Event``: API Gateway returns
202 as soon as Lambda has queued the invocation, so the scheduler can spawn hundreds of workers
without holding a connection per worker.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.execution import month_log_group

STAGE = "prod"
WORKERS_PATH = "/workers"


class TriggerApi(Construct):
    """The REST API and its access log.

    Attributes
    ----------
    api:
        The REST API (stage :data:`STAGE`).
    invoke_role:
        Assumed by API Gateway for ``POST /workers``; may invoke the worker function only.
    access_log_group:
        The stage's JSON access log.
    workers_method, submit_method, status_method:
        ``POST /workers``, ``POST /solves`` and ``GET /solves/{id}``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        worker_function: lambda_.IFunction,
        intake_function: lambda_.IFunction,
        rate_limit: float = 500.0,
        burst_limit: int = 1000,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_log_group = month_log_group(self, "AccessLogs")
        self.api = apigw.RestApi(
            self,
            "Api",
            description="lambda-admm: worker trigger and job intake (IAM auth)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Stage logging needs the account's API Gateway CloudWatch role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                throttling_rate_limit=rate_limit,
                throttling_burst_limit=burst_limit,
            ),
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM
            ),
        )
        Validations.of(self.api).acknowledge(
            Acknowledgment(
                id="AwsSolutions-COG4",
                reason="Every method uses IAM (SigV4) authorization: the callers are the "
                "scheduler host's role and operators' IAM identities, not end users.",
            ),
            Acknowledgment(
                id="AwsSolutions-APIG3",
                reason="IAM-authorized API called only by our own SigV4-signing clients; "
                "unsigned requests are rejected before integration, and stage throttling "
                "bounds the rest, so a WAF web ACL adds cost without protection.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                reason="The account-level role API Gateway needs for stage logging; AWS "
                "maintains this policy for exactly that purpose.",
            ),
        )
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        # Only "is a JSON object": the handlers validate field by field, with messages that
        # name the field (API Gateway's own validator messages don't).
        json_object = self.api.add_model(
            "JsonObject",
            content_type="application/json",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT
            ),
        )

        self.invoke_role = iam.Role(
            self,
            "InvokeWorkerRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway POST /workers: invoke the worker function, nothing else",
        )
        # Not grant_invoke: it also allows "<arn>:*" (every version and alias).
        self.invoke_role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[worker_function.function_arn]
            )
        )
        invoke_async = apigw.AwsIntegration(
            service="lambda",
            path=f"2015-03-31/functions/{worker_function.function_arn}/invocations",
            integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=self.invoke_role,
                request_parameters={"integration.request.header.X-Amz-Invocation-Type": "'Event'"},
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={"application/json": "$input.body"},
                integration_responses=[apigw.IntegrationResponse(status_code="202")],
            ),
        )
        self.workers_method = self.api.root.add_resource(WORKERS_PATH.strip("/")).add_method(
            "POST",
            invoke_async,
            request_validator=validator,
            request_models={"application/json": json_object},
            method_responses=[apigw.MethodResponse(status_code="202")],
        )

        solves = self.api.root.add_resource("solves")
        intake = apigw.LambdaIntegration(intake_function, allow_test_invoke=False)
        self.submit_method = solves.add_method(
            "POST",
            intake,
            request_validator=validator,
            request_models={"application/json": json_object},
        )
        solve = solves.add_resource("{id}")
        self.status_method = solve.add_method("GET", intake)
        self.cancel_method = solve.add_method("DELETE", intake)

    def grant_invoke_workers(self, grantee: iam.IGrantable) -> None:
        """Allow ``execute-api:Invoke`` on ``POST /workers`` of this API's stage, nothing else."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["execute-api:Invoke"],
            resource_arns=[self.api.arn_for_execute_api("POST", WORKERS_PATH, STAGE)],
        )
