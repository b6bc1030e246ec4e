"""scikit-learn's estimator checks, with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ae import AutoencoderTransformer, VAETransformer

# Small networks and few epochs keep the ~50 checks fast; the checks test the
# API contract, not convergence, hence the ignored ConvergenceWarning.
ESTIMATORS = [
    AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=5, device="cpu"),
    VAETransformer(hidden_layer_sizes=(16,), max_iter=5, device="cpu"),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
