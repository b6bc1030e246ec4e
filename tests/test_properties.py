"""Property tests: any finite matrix, at any scale, fits; extreme rows never score NaN."""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import ConvergenceWarning

from sklearn_ae import AutoencoderTransformer, VAETransformer

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
TINY = {
    "n_components": 1,
    "hidden_layer_sizes": (8,),
    "max_iter": 3,
    "tol": 0.0,
    "random_state": 0,
    "device": "cpu",
}
SCALES = [1e-30, 1e-10, 1.0, 1e10, 1e30]
# Derandomized, without an example database: the same 25 examples on every run and machine.
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
# The only warning a 3-epoch fit may give is that it stopped at max_iter. A divergence warning
# (also a ConvergenceWarning) on finite data that the model standardizes is a bug, so it, and
# every other warning, stays an error.
ignore_max_iter = pytest.mark.filterwarnings(
    "ignore:.*Maximum iterations:sklearn.exceptions.ConvergenceWarning"
)
# A ValueError is acceptable only if it says what about X is the problem.
CLEAR_ERROR = re.compile(r"\bX\b|n_samples|n_features|scale|range")


@st.composite
def finite_matrices(draw):
    """Finite matrices, columns at scales 1e-30 to 1e30, some constant; some rows twice."""
    n_samples = draw(st.integers(2, 60))
    n_features = draw(st.integers(1, 8))
    X = draw(
        hnp.arrays(
            np.float64,
            (n_samples, n_features),
            elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
        )
    )
    scales = draw(st.lists(st.sampled_from(SCALES), min_size=n_features, max_size=n_features))
    X = X * np.asarray(scales)
    constant = draw(st.lists(st.booleans(), min_size=n_features, max_size=n_features))
    X[:, constant] = X[0, constant]
    n_duplicates = draw(st.integers(0, n_samples // 2))
    if n_duplicates:
        X[n_samples - n_duplicates :] = X[:n_duplicates]
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    return X.astype(dtype)


@ignore_max_iter
@pytest.mark.parametrize("cls", ESTIMATORS)
@PROPERTY_SETTINGS
@given(X=finite_matrices())
def test_any_finite_matrix_fits_and_encodes_finitely(cls, X):
    assert np.isfinite(X).all()
    est = cls(**TINY)
    try:
        est.fit(X)
    except ValueError as exc:
        assert CLEAR_ERROR.search(str(exc)), f"unclear error: {exc}"
        event("ValueError")
        return
    event("fitted")
    Z = est.transform(X)
    assert Z.shape == (X.shape[0], 1)
    assert Z.dtype == X.dtype
    assert np.isfinite(Z).all(), Z
    assert np.isfinite(est.loss_curve_).all()
    assert not np.isnan(est.score_samples(X)).any()


@pytest.fixture(scope="module")
def standardized_models():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 5)) @ rng.normal(size=(5, 5))
    X = (X - X.mean(0)) / X.std(0)
    params = {**TINY, "n_components": 2, "max_iter": 5}
    models = {}
    for cls in ESTIMATORS:
        with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
            models[cls] = cls(**params).fit(X)
    return X, models


def assert_not_nan_nor_plus_inf(values, what):
    assert not np.isnan(values).any(), f"{what}: NaN in {values}"
    assert (values < np.inf).all(), f"{what}: +inf in {values}"


@pytest.mark.parametrize("cls", ESTIMATORS)
@PROPERTY_SETTINGS
@given(
    rows=st.lists(st.integers(0, 79), min_size=1, max_size=10),
    factor=st.sampled_from([1e3, 1e10, 1e30, -1e30]),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_scores_of_far_away_rows_are_never_nan(standardized_models, cls, rows, factor, dtype):
    # Rows scaled far from the training data are very unlikely: their score may underflow
    # to -inf, but it is never NaN (nor +inf).
    X, models = standardized_models
    est = models[cls]
    X_far = (X[rows] * factor).astype(dtype)
    assert np.isfinite(X_far).all()
    assert_not_nan_nor_plus_inf(est.score_samples(X_far), "score_samples")
    assert not np.isnan(est.score(X_far))
    if cls is VAETransformer:
        log_likelihood = est.log_likelihood(X_far, n_samples=4, random_state=0)
        assert_not_nan_nor_plus_inf(log_likelihood, "log_likelihood")
