"""An estimator fitted on the deployed stack's Lambda workers (``backend="lambda"``).

The rows go to the stack's bucket as shards, the solve through ``POST /solves`` to the
scheduler service (run locally, as on the host), the workers are the real Lambda functions
in LocalStack; the coefficients come back from S3. They must be the in-process fit's.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_regression

from scheduler_host.estimators import ADMMLasso
from tests.integration.deployed import DeployedStack
from tests.integration.scheduler_service import ServiceProcess

pytestmark = pytest.mark.integration


def test_a_lasso_fitted_on_lambda_workers_is_the_local_fit(
    deployed_stack: DeployedStack, service: ServiceProcess, api_credentials: None
) -> None:
    features, targets = make_regression(n_samples=400, n_features=12, noise=2.0, random_state=8)
    options = {"alpha": 0.5, "tol": 1e-8, "n_workers": 2, "fit_intercept": True}
    remote = ADMMLasso(
        **options,
        backend="lambda",
        api=deployed_stack.api_url,
        data_uri=f"s3://{deployed_stack.bucket}/estimator-fits",
        region=deployed_stack.region,
    ).fit(features, targets)
    local = ADMMLasso(**options, backend="threads").fit(features, targets)
    assert remote.converged_
    np.testing.assert_allclose(remote.coef_, local.coef_, rtol=0, atol=1e-9)
    assert remote.intercept_ == pytest.approx(local.intercept_, abs=1e-9)
    assert remote.n_iter_ == local.n_iter_
    listing = deployed_stack.client("s3").list_objects_v2(
        Bucket=deployed_stack.bucket, Prefix="estimator-fits/"
    )
    names = {item["Key"].rsplit("/", 1)[-1] for item in listing.get("Contents", [])}
    assert {"manifest.json", "shard-00000.npz", "shard-00001.npz"} <= names
