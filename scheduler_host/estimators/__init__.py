"""scikit-learn estimators whose ``fit`` is a consensus-ADMM solve on W workers.

``from scheduler_host.estimators import ADMMLogisticRegression, ADMMLasso, ADMMElasticNet,
ADMMLinearSVC``. Parameters mirror scikit-learn's, and the objective is converted so that
the same ``alpha`` (or ``C``) gives the same coefficients as scikit-learn's estimator.
"""

from scheduler_host.estimators.classifiers import ADMMLinearSVC, ADMMLogisticRegression
from scheduler_host.estimators.regressors import ADMMElasticNet, ADMMLasso

__all__ = ["ADMMElasticNet", "ADMMLasso", "ADMMLinearSVC", "ADMMLogisticRegression"]
