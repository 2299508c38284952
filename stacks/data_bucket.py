"""The data bucket: datasets under ``datasets/``, solve status and results under ``results/``."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

DATASETS_PREFIX = "datasets/"
RESULTS_PREFIX = "results/"


class DataBucket(Construct):
    """A private, TLS-only, SSE-S3 encrypted bucket with server access logging.

    ``cdk destroy`` really removes both buckets: CDK's auto-delete custom resource empties them.
    With ``auto_delete_objects=False`` that (Node.js) custom resource is left out: then the
    buckets must be emptied by hand before ``cdk destroy`` (LocalStack's tests use this).

    Attributes
    ----------
    bucket:
        The data bucket (prefixes :data:`DATASETS_PREFIX` and :data:`RESULTS_PREFIX`).
    access_log_bucket:
        Receives the data bucket's S3 server access logs (kept 90 days).
    """

    datasets_prefix = DATASETS_PREFIX
    results_prefix = RESULTS_PREFIX

    def __init__(
        self, scope: Construct, construct_id: str, *, auto_delete_objects: bool = True
    ) -> None:
        super().__init__(scope, construct_id)
        common: dict[str, Any] = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "enforce_ssl": True,
            "removal_policy": RemovalPolicy.DESTROY,
            "auto_delete_objects": auto_delete_objects,
        }
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            **common,
        )
        Validations.of(self.access_log_bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="This is the access-log bucket itself; logging it to itself would loop.",
            )
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="data-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=Duration.days(1))
            ],
            **common,
        )

    def grant_objects(self, grantee: iam.IGrantable, prefix: str, *, write: bool = False) -> None:
        """Let ``grantee`` read (with ``write`` also put and delete) the objects under ``prefix``.

        Explicit actions rather than ``grant_read``'s ``s3:GetObject*``/``s3:List*`` wildcards.
        ``s3:ListBucket`` is not narrowed by an ``s3:prefix`` condition: without an unconditional
        list permission S3 answers a missing key with 403 instead of 404, and the intake and the
        host tell "unknown solve" from "no access" by that.
        """
        object_actions = ["s3:GetObject"] + (["s3:PutObject", "s3:DeleteObject"] if write else [])
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=object_actions,
            resource_arns=[self.bucket.arn_for_objects(f"{prefix}*")],
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:ListBucket"],
            resource_arns=[self.bucket.bucket_arn],
        )
        if isinstance(grantee.grant_principal, iam.Role):
            Validations.of(grantee.grant_principal).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{self._objects_finding(prefix)}]",
                    reason=f"Object access is scoped to the {prefix} prefix of this one bucket; "
                    "object keys (solve and dataset ids) are created at run time.",
                )
            )

    def _objects_finding(self, prefix: str) -> str:
        """The resource as cdk-nag prints it: ``<DataBucketXXXX.Arn>/results/*``."""
        logical_id = Stack.of(self).resolve(self.bucket.bucket_arn)["Fn::GetAtt"][0]
        return f"<{logical_id}.Arn>/{prefix}*"
