"""The REST API: async worker invocation, the intake's routes, IAM on every method, the stage."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.stacks.template import Built


def test_post_workers_invokes_the_worker_asynchronously_with_iam_auth(built: Built) -> None:
    worker_arn = built.ref(built.stack.worker.function.function_arn)
    built.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "Integration": Match.object_like(
                {
                    "Type": "AWS",
                    "IntegrationHttpMethod": "POST",
                    "Credentials": built.ref(built.stack.trigger_api.invoke_role.role_arn),
                    "RequestParameters": {
                        "integration.request.header.X-Amz-Invocation-Type": "'Event'"
                    },
                    "Uri": {
                        "Fn::Join": [
                            "",
                            Match.array_with(
                                [":lambda:path/2015-03-31/functions/", worker_arn, "/invocations"]
                            ),
                        ]
                    },
                    "IntegrationResponses": [Match.object_like({"StatusCode": "202"})],
                }
            ),
            "MethodResponses": [Match.object_like({"StatusCode": "202"})],
        },
    )


def test_every_method_requires_iam(built: Built) -> None:
    methods = built.template.find_resources("AWS::ApiGateway::Method")
    assert len(methods) == 4  # POST /workers, POST /solves, GET and DELETE /solves/{id}
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"


def test_post_solves_validates_the_body_and_proxies_to_the_intake(built: Built) -> None:
    validators = built.template.find_resources(
        "AWS::ApiGateway::RequestValidator",
        {"Properties": {"ValidateRequestBody": True}},
    )
    assert len(validators) == 1
    (validator_id,) = validators
    built.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "ResourceId": built.ref(built.stack.trigger_api.submit_method.resource.resource_id),
            "RequestValidatorId": {"Ref": validator_id},
            "RequestModels": {"application/json": Match.any_value()},
            "Integration": Match.object_like({"Type": "AWS_PROXY"}),
        },
    )
    built.template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {"ContentType": "application/json", "Schema": Match.object_like({"type": "object"})},
    )
    built.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "GET", "Integration": Match.object_like({"Type": "AWS_PROXY"})},
    )


def test_stage_has_access_logs_and_throttling(built: Built) -> None:
    built.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [Match.object_like({"ThrottlingRateLimit": Match.any_value()})]
            ),
        },
    )


def test_api_role_may_invoke_only_the_worker_function(built: Built) -> None:
    role = built.ref(built.stack.trigger_api.invoke_role.role_name)
    worker_arn = built.ref(built.stack.worker.function.function_arn)
    policies = built.template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [role]}})
    (policy,) = policies.values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": worker_arn}
    ]
    role_resource = built.template.find_resources("AWS::IAM::Role")[role["Ref"]]
    assert "ManagedPolicyArns" not in role_resource["Properties"]


def test_delete_solve_proxies_to_the_intake(built: Built) -> None:
    built.template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "DELETE",
            "AuthorizationType": "AWS_IAM",
            "Integration": Match.object_like({"Type": "AWS_PROXY"}),
        },
    )
