"""sklearn_ae._validation: the checks beyond ``_parameter_constraints``, each on its own.

Good values pass (and come back normalised where the check returns them);
bad values raise the documented error with a message that names the problem.
"""

import re
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from sklearn_ae._validation import (
    InvalidParameterError,
    check_float32_scale,
    check_hidden_layer_sizes,
    check_input_range,
    check_latent,
    check_n_components,
    check_n_components_type,
)

UNIT_INTERVAL = SimpleNamespace(needs_unit_interval=True)
REAL_LINE = SimpleNamespace(needs_unit_interval=False)


@pytest.mark.parametrize(
    "sizes, expected",
    [
        (5, (5,)),
        (np.int64(7), (7,)),
        ((10, 5), (10, 5)),
        ([3], (3,)),
        ([], ()),
        (np.array([4, 2]), (4, 2)),
        (range(1, 3), (1, 2)),
    ],
)
def test_hidden_layer_sizes_become_a_tuple_of_ints(sizes, expected):
    result = check_hidden_layer_sizes(sizes, "AutoencoderTransformer")
    assert result == expected
    assert type(result) is tuple
    assert all(type(s) is int for s in result)


@pytest.mark.parametrize(
    "sizes",
    [0, -3, (5, 0), (5, -1), (5, 2.0), 2.5, True, (4, False), "abc", None, [None], object()],
)
def test_bad_hidden_layer_sizes_raise_naming_the_parameter_and_value(sizes):
    message = (
        "The 'hidden_layer_sizes' parameter of VAETransformer must be a sequence of "
        f"positive ints; got {sizes!r}."
    )
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        check_hidden_layer_sizes(sizes, "VAETransformer")


def test_invalid_parameter_error_is_a_value_error():
    # What scikit-learn's own parameter validation raises, catchable as ValueError.
    with pytest.raises(ValueError):
        check_hidden_layer_sizes(0, "X")


@pytest.mark.parametrize("n_components", [1, 3, np.int64(2)])
def test_integer_n_components_pass_the_type_check(n_components):
    assert check_n_components_type(n_components, "AutoencoderTransformer") is None


@pytest.mark.parametrize("n_components", [True, False])
def test_bool_n_components_is_refused(n_components):
    message = (
        "The 'n_components' parameter of AutoencoderTransformer must be an int in the "
        f"range [1, inf); got {n_components!r}."
    )
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        check_n_components_type(n_components, "AutoencoderTransformer")


@pytest.mark.parametrize("n_components", [1, 4, 8])
def test_n_components_within_the_width_pass_on_a_first_fit(n_components):
    assert check_n_components(n_components, 8, None) is None


@pytest.mark.parametrize("n_components", [0, 9, -1])
def test_n_components_outside_the_width_raise_on_a_first_fit(n_components):
    message = f"n_components={n_components} must be between 1 and n_features=8."
    with pytest.raises(ValueError, match=re.escape(message)):
        check_n_components(n_components, 8, None)


def test_a_continued_fit_checks_n_components_against_the_fitted_model():
    # The same n_components passes (the width was checked by the first fit) ...
    assert check_n_components(3, 8, 3) is None
    # ... and any other one raises, even one that would fit the width.
    message = (
        "n_components=2 differs from the fitted n_components_=3; warm_start and "
        "partial_fit keep the architecture. Set warm_start=False to refit."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        check_n_components(2, 8, 3)


@pytest.mark.parametrize(
    "X",
    [
        np.array([[0.0, 0.5], [1.0, 0.25]]),
        np.array([[0.0, 1.0]], dtype=np.float32),
        np.empty((0, 3)),
        sp.csr_matrix(np.array([[0.0, 0.5], [1.0, 0.0]])),
        sp.csr_matrix((2, 3)),
    ],
    ids=["dense", "float32-bounds", "empty", "sparse", "sparse-all-zero"],
)
def test_x_in_the_unit_interval_passes_a_bernoulli_model(X):
    assert check_input_range(X, UNIT_INTERVAL, "loss", "binary_crossentropy") is None


@pytest.mark.parametrize(
    "X, low, high",
    [
        (np.array([[0.0, 0.5], [1.5, 0.25]]), "0", "1.5"),
        (np.array([[-0.25, 0.5], [1.0, 0.25]]), "-0.25", "1"),
        (sp.csr_matrix(np.array([[0.0, -2.0], [0.5, 0.0]])), "-2", "0.5"),
    ],
    ids=["above", "below", "sparse"],
)
def test_x_outside_the_unit_interval_raises_naming_the_parameter_and_range(X, low, high):
    message = f"likelihood='bernoulli' requires X to lie in [0, 1]; got values in [{low}, {high}]."
    with pytest.raises(ValueError, match=re.escape(message)):
        check_input_range(X, UNIT_INTERVAL, "likelihood", "bernoulli")


def test_a_gaussian_model_takes_x_of_any_range():
    X = np.array([[-1e30, 5.0], [3.0, 1e30]])
    assert check_input_range(X, REAL_LINE, "loss", "squared_error") is None


@pytest.mark.parametrize(
    "scale",
    [
        np.array([1.0, 1e-30, 1e30]),
        np.array([np.finfo(np.float32).tiny, float(np.finfo(np.float32).max)]),
        np.array([1e-3], dtype=np.float32),
    ],
    ids=["wide", "bounds", "float32"],
)
def test_scales_float32_holds_pass(scale):
    assert check_float32_scale(scale) is None


@pytest.mark.parametrize(
    "scale, bad, shown",
    [
        (np.array([1.0, 1e-39, 1e-45]), 1, "1e-39"),
        (np.array([1.0, 2.0, 1e39]), 2, "1e+39"),
        (np.array([0.0, 1.0]), 0, "0"),
        (np.array([1.0, np.inf]), 1, "inf"),
    ],
    ids=["underflow", "overflow", "zero", "inf"],
)
def test_scales_outside_float32_raise_naming_the_first_such_feature(scale, bad, shown):
    message = f"X's feature {bad!r} has a scale of {shown}, outside the range float32 holds"
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        check_float32_scale(scale)
    assert "Rescale X" in str(info.value)
    # With feature names (as ``feature_names_in_``, an object array), the name is shown.
    names = np.array(["a", "b", "c"][: len(scale)], dtype=object)
    with pytest.raises(ValueError, match=re.escape(f"X's feature {names[bad]!r} has a scale")):
        check_float32_scale(scale, names)


def test_latent_codes_are_checked_and_converted():
    Z = check_latent([[1, 2, 3], [4, 5, 6]], 3, "AutoencoderTransformer")
    assert Z.dtype == np.float64
    assert_array_equal(Z, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    Z32 = np.ones((4, 2), dtype=np.float32)
    assert check_latent(Z32, 2, "AutoencoderTransformer").dtype == np.float32


def test_latent_codes_of_the_wrong_width_raise():
    message = "Z has 2 features, but VAETransformer has a latent space of n_components_=3."
    with pytest.raises(ValueError, match=re.escape(message)):
        check_latent(np.zeros((5, 2)), 3, "VAETransformer")


@pytest.mark.parametrize(
    "Z, match",
    [
        (np.array([[0.0, np.nan]]), "Input Z contains NaN"),
        (np.array([[0.0, np.inf]]), "Input Z contains infinity"),
        (np.zeros(2), "Expected 2D array"),
        (np.zeros((0, 2)), "0 sample"),
    ],
    ids=["nan", "inf", "1d", "empty"],
)
def test_malformed_latent_codes_raise(Z, match):
    with pytest.raises(ValueError, match=match):
        check_latent(Z, 2, "AutoencoderTransformer")
