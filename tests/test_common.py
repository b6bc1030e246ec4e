"""scikit-learn's estimator checks, with no expected failures."""

import pytest
import torch
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


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def torch_threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


# At default parameters too: the default network is where float32 rows once
# came out differently by batch (check_methods_subset_invariance), which the
# small network above never showed; torch at 1 and at 2 threads.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([AutoencoderTransformer(), VAETransformer()])
def test_sklearn_compatible_at_default_parameters(estimator, check, torch_threads):
    check(estimator)
