"""Bad input to every public method, as tables; and fits that fail leave the estimator untouched.

Each table row is one case: the bad input (or parameter value), the exception it must raise and
a regex its message must match, so that the error names the offending input. Cases are crossed
with both estimators and with every method the input reaches.
"""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_array_equal

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._fused_adam import Stepper

# Only the max_iter warning is expected of these tiny fits; a divergence warning would be an error.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*Maximum iterations:sklearn.exceptions.ConvergenceWarning"
)

N_SAMPLES, N_FEATURES, N_COMPONENTS = 30, 4, 2
FAST = {
    "n_components": N_COMPONENTS,
    "hidden_layer_sizes": (8,),
    "max_iter": 2,
    "tol": 0.0,
    "random_state": 0,
    "device": "cpu",
}
# name -> (class, extra parameters); the binary models need X in [0, 1], which X_TRAIN is.
MODELS = {
    "ae": (AutoencoderTransformer, {}),
    "vae": (VAETransformer, {}),
    "ae_bce": (AutoencoderTransformer, {"loss": "binary_crossentropy"}),
    "vae_bernoulli": (VAETransformer, {"likelihood": "bernoulli"}),
}
GAUSSIAN_MODELS = ["ae", "vae"]
BINARY_MODELS = ["ae_bce", "vae_bernoulli"]
BOTH = (ValueError, TypeError)
X_TRAIN = np.random.RandomState(0).uniform(size=(N_SAMPLES, N_FEATURES))
COLUMNS = ["a", "b", "c", "d"]


def make(name, **params):
    cls, extra = MODELS[name]
    return cls(**{**FAST, **extra, **params})


def is_vae(name):
    return MODELS[name][0] is VAETransformer


def fitted_attributes(est):
    return [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]


@pytest.fixture(scope="module")
def fitted():
    """``fitted(name, frame=False)``: a shared fitted model (on a DataFrame when ``frame``)."""
    cache = {}

    def get(name, frame=False):
        if (name, frame) not in cache:
            X = as_frame(X_TRAIN) if frame else X_TRAIN
            cache[name, frame] = make(name).fit(X)
        return cache[name, frame]

    return get


# ----------------------------------------------------------------------------------------------
# Bad X. Each corruption takes the training matrix and returns the bad input.


def as_frame(X, columns=COLUMNS):
    return pd.DataFrame(X, columns=columns)


def with_value(value, dtype=np.float64):
    def corrupt(X):
        X = X.astype(dtype)
        X[-1, -1] = value
        return X

    return corrupt


def object_array(X):
    return np.array([[object()] * X.shape[1]] * 3, dtype=object)


def object_with_none(X):
    X = X.astype(object)
    X[0, 0] = None
    return X


# Inputs that no method accepts: (corruption, exception, message regex).
X_CASES = [
    pytest.param(with_value(np.nan), ValueError, "NaN", id="nan"),
    pytest.param(with_value(np.inf), ValueError, "infinity", id="+inf"),
    pytest.param(with_value(-np.inf), ValueError, "infinity", id="-inf"),
    pytest.param(with_value(np.nan, np.float32), ValueError, "NaN", id="nan-float32"),
    pytest.param(with_value(np.inf, np.float32), ValueError, "infinity", id="inf-float32"),
    pytest.param(with_value(-np.inf, np.float32), ValueError, "infinity", id="-inf-float32"),
    pytest.param(lambda X: X[:0], ValueError, "0 sample", id="0-rows"),
    pytest.param(lambda X: X[:, :0], ValueError, "0 feature", id="0-columns"),
    pytest.param(lambda X: X[0], ValueError, "Expected 2D array, got 1D", id="1-d"),
    pytest.param(lambda X: X[:, :, None], ValueError, "dim 3", id="3-d"),
    pytest.param(lambda X: 3.0, ValueError, "2D array, got scalar|'X' .*array-like", id="scalar"),
    pytest.param(lambda X: X.astype(str) + "x", ValueError, "string", id="strings"),
    pytest.param(object_array, TypeError, "object", id="object"),
    pytest.param(object_with_none, ValueError, "NaN", id="object-None"),
    pytest.param(lambda X: X + 1j, ValueError, "[Cc]omplex", id="complex"),
    pytest.param(lambda X: [[1.0, 2.0], [3.0]], ValueError, "inhomogeneous", id="ragged"),
]
# Inputs that are bad only against a fitted model: (trained on a DataFrame?, corruption, ...).
FITTED_X_CASES = [
    pytest.param(False, lambda X: X[:, :3], ValueError, "X has 3 features, .* 4", id="3-cols"),
    pytest.param(
        False, lambda X: X[:, [0, 1, 2, 3, 0]], ValueError, "X has 5 features, .* 4", id="5-cols"
    ),
    pytest.param(
        True,
        lambda X: as_frame(X, list("wxyz")),
        ValueError,
        "names should match",
        id="other-names",
    ),
    pytest.param(
        True, lambda X: as_frame(X)[list("badc")], ValueError, "same order", id="reordered-names"
    ),
    pytest.param(
        True,
        lambda X: as_frame(X, list("abce")),
        ValueError,
        "names should match",
        id="one-name-differs",
    ),
    pytest.param(
        True,
        lambda X: as_frame(X)[list("abc")],
        ValueError,
        "names should match",
        id="one-name-missing",
    ),
]
# scikit-learn only warns when names appear or disappear (it raises only when both have names).
NAME_WARNING_CASES = [
    pytest.param(True, lambda X: X, "does not have valid feature names", id="ndarray-after-frame"),
    pytest.param(False, as_frame, "X has feature names", id="frame-after-ndarray"),
]
# The binary losses are defined for X in [0, 1] only: fitting and scoring must refuse the rest.
OUT_OF_RANGE_CASES = [
    pytest.param(lambda X: X * 2.0, id="above-1"),
    pytest.param(lambda X: X - 0.5, id="below-0"),
    pytest.param(lambda X: np.where(X > 0.9, 1.0 + 1e-6, X), id="just-above-1"),
    pytest.param(lambda X: X * 1e6, id="far-above-1"),
]


# Methods on a fresh estimator: name -> call.
FRESH_METHODS = {
    "fit": lambda est, X: est.fit(X),
    "partial_fit": lambda est, X: est.partial_fit(X),
    "fit_transform": lambda est, X: est.fit_transform(X),
}
# Methods on a fitted estimator: name -> (public method, trains?, call). A model that trains
# is a deep copy of the shared one.
FITTED_METHODS = {
    "fit[warm_start]": ("fit", True, lambda est, X: est.set_params(warm_start=True).fit(X)),
    "fit_transform[warm_start]": (
        "fit_transform",
        True,
        lambda est, X: est.set_params(warm_start=True).fit_transform(X),
    ),
    "partial_fit[fitted]": ("partial_fit", True, lambda est, X: est.partial_fit(X)),
    "transform": ("transform", False, lambda est, X: est.transform(X)),
    "score_samples": ("score_samples", False, lambda est, X: est.score_samples(X)),
    "score": ("score", False, lambda est, X: est.score(X)),
    "log_likelihood": (
        "log_likelihood",
        False,
        lambda est, X: est.log_likelihood(X, n_samples=2, random_state=0),
    ),
}


def fitted_methods(models, names=FITTED_METHODS):
    """(model, method) pairs, without log_likelihood for the autoencoder."""
    return [
        (model, method)
        for model in models
        for method in names
        if method != "log_likelihood" or is_vae(model)
    ]


def cross(pairs, cases):
    """Every (model, method) pair with every case, one test id each."""
    return [
        pytest.param(model, method, *case.values, id=f"{model}-{method}-{case.id}")
        for model, method in pairs
        for case in cases
    ]


def run_fitted(fitted, model, method, X, frame=False):
    _, trains, call = FITTED_METHODS[method]
    est = fitted(model, frame)
    return call(copy.deepcopy(est) if trains else est, X)


FRESH_PAIRS = [(model, method) for model in GAUSSIAN_MODELS for method in FRESH_METHODS]


@pytest.mark.parametrize("model, method, corrupt, error, match", cross(FRESH_PAIRS, X_CASES))
def test_bad_X_fresh(model, method, corrupt, error, match):
    est = make(model)
    with pytest.raises(error, match=match):
        FRESH_METHODS[method](est, corrupt(X_TRAIN))
    assert fitted_attributes(est) == []


@pytest.mark.parametrize(
    "model, method, corrupt, error, match", cross(fitted_methods(GAUSSIAN_MODELS), X_CASES)
)
def test_bad_X_fitted(fitted, model, method, corrupt, error, match):
    with pytest.raises(error, match=match):
        run_fitted(fitted, model, method, corrupt(X_TRAIN))


@pytest.mark.parametrize(
    "model, method, frame, corrupt, error, match",
    cross(fitted_methods(GAUSSIAN_MODELS), FITTED_X_CASES),
)
def test_bad_X_against_fitted_features(fitted, model, method, frame, corrupt, error, match):
    with pytest.raises(error, match=match):
        run_fitted(fitted, model, method, corrupt(X_TRAIN), frame)


@pytest.mark.parametrize(
    "model, method, frame, corrupt, match",
    cross(fitted_methods(GAUSSIAN_MODELS), NAME_WARNING_CASES),
)
def test_feature_names_appearing_or_vanishing_only_warn(
    fitted, model, method, frame, corrupt, match
):
    with pytest.warns(UserWarning, match=match):
        run_fitted(fitted, model, method, corrupt(X_TRAIN), frame)


@pytest.mark.parametrize(
    "model, method, corrupt",
    cross(
        [(model, method) for model in BINARY_MODELS for method in FRESH_METHODS],
        OUT_OF_RANGE_CASES,
    ),
)
def test_out_of_unit_interval_fresh(model, method, corrupt):
    est = make(model)
    name = "loss" if model == "ae_bce" else "likelihood"
    with pytest.raises(ValueError, match=rf"{name}=.*\[0, 1\]"):
        FRESH_METHODS[method](est, corrupt(X_TRAIN))
    assert fitted_attributes(est) == []


@pytest.mark.parametrize(
    "model, method, corrupt",
    cross(
        fitted_methods(BINARY_MODELS, [m for m in FITTED_METHODS if m != "transform"]),
        OUT_OF_RANGE_CASES,
    ),
)
def test_out_of_unit_interval_fitted(fitted, model, method, corrupt):
    # A Bernoulli log-likelihood or cross-entropy of x outside [0, 1] is not a score of
    # anything: it is unbounded and not a density, so scoring refuses it like fitting does.
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        run_fitted(fitted, model, method, corrupt(X_TRAIN))


@pytest.mark.parametrize("model", BINARY_MODELS)
def test_out_of_unit_interval_transform_encodes(fitted, model):
    # Encoding is defined for any finite x, and test data scaled with the training data's
    # min and max routinely fall slightly outside [0, 1]: transform (unlike the scores) accepts
    # them, as scikit-learn's BernoulliRBM does.
    Z = fitted(model).transform(X_TRAIN * 1.5 - 0.25)
    assert Z.shape == (N_SAMPLES, N_COMPONENTS)
    assert np.isfinite(Z).all()


# ----------------------------------------------------------------------------------------------
# Bad latent codes for inverse_transform (the model has n_components_=2).

Z_GOOD = np.random.RandomState(1).normal(size=(5, N_COMPONENTS))
Z_CASES = [
    pytest.param(with_value(np.nan), ValueError, "NaN", id="nan"),
    pytest.param(with_value(np.inf), ValueError, "infinity", id="+inf"),
    pytest.param(with_value(-np.inf), ValueError, "infinity", id="-inf"),
    pytest.param(with_value(np.nan, np.float32), ValueError, "NaN", id="nan-float32"),
    pytest.param(lambda Z: Z[:0], ValueError, "0 sample", id="0-rows"),
    pytest.param(lambda Z: Z[:, :0], ValueError, "0 feature", id="0-columns"),
    pytest.param(lambda Z: Z[0], ValueError, "Expected 2D array, got 1D", id="1-d"),
    pytest.param(lambda Z: Z[:, :, None], ValueError, "dim 3", id="3-d"),
    pytest.param(lambda Z: 3.0, ValueError, "Expected 2D array, got scalar", id="scalar"),
    pytest.param(lambda Z: Z.astype(str) + "x", ValueError, "string", id="strings"),
    pytest.param(object_array, TypeError, "object", id="object"),
    pytest.param(lambda Z: Z + 1j, ValueError, "[Cc]omplex", id="complex"),
    pytest.param(lambda Z: Z[:, :1], ValueError, "Z has 1 features.*n_components_=2", id="1-wide"),
    pytest.param(
        lambda Z: np.hstack([Z, Z]), ValueError, "Z has 4 features.*n_components_=2", id="4-wide"
    ),
    pytest.param(lambda Z: np.zeros((5, N_FEATURES)), ValueError, "n_components_=2", id="X-not-Z"),
]


@pytest.mark.parametrize(
    "model, method, corrupt, error, match",
    cross([(m, "inverse_transform") for m in MODELS], Z_CASES),
)
def test_bad_latent_codes(fitted, model, method, corrupt, error, match):
    with pytest.raises(error, match=match):
        fitted(model).inverse_transform(corrupt(Z_GOOD))


# ----------------------------------------------------------------------------------------------
# Invalid constructor parameters: (parameter, value, message regex); the regex names the parameter.

COMMON_PARAM_CASES = [
    pytest.param("n_components", 0, "n_components", id="n_components=0"),
    pytest.param("n_components", -1, "n_components", id="n_components=-1"),
    pytest.param("n_components", N_FEATURES + 1, "n_components", id="n_components>n_features"),
    pytest.param("n_components", 1.5, "n_components", id="n_components=1.5"),
    pytest.param("n_components", 2.0, "n_components", id="n_components=2.0"),
    pytest.param("n_components", "2", "n_components", id="n_components='2'"),
    pytest.param("n_components", None, "n_components", id="n_components=None"),
    pytest.param("n_components", True, "n_components", id="n_components=True"),
    pytest.param("hidden_layer_sizes", (0,), "hidden_layer_sizes", id="hidden=(0,)"),
    pytest.param("hidden_layer_sizes", (-1,), "hidden_layer_sizes", id="hidden=(-1,)"),
    pytest.param("hidden_layer_sizes", (8, 0), "hidden_layer_sizes", id="hidden=(8,0)"),
    pytest.param("hidden_layer_sizes", "abc", "hidden_layer_sizes", id="hidden='abc'"),
    pytest.param("hidden_layer_sizes", (1.5,), "hidden_layer_sizes", id="hidden=(1.5,)"),
    pytest.param("hidden_layer_sizes", (8.0,), "hidden_layer_sizes", id="hidden=(8.0,)"),
    pytest.param("hidden_layer_sizes", (True,), "hidden_layer_sizes", id="hidden=(True,)"),
    pytest.param("hidden_layer_sizes", ("8",), "hidden_layer_sizes", id="hidden=('8',)"),
    pytest.param("hidden_layer_sizes", ((8,),), "hidden_layer_sizes", id="hidden=((8,),)"),
    pytest.param("hidden_layer_sizes", None, "hidden_layer_sizes", id="hidden=None"),
    pytest.param("hidden_layer_sizes", 0, "hidden_layer_sizes", id="hidden=0"),
    pytest.param("hidden_layer_sizes", -1, "hidden_layer_sizes", id="hidden=-1"),
    pytest.param("activation", "nope", "activation", id="activation='nope'"),
    pytest.param("activation", "ReLU", "activation", id="activation='ReLU'"),
    pytest.param("activation", None, "activation", id="activation=None"),
    pytest.param("init", "pca", "init", id="init='pca'"),
    pytest.param("init", None, "init", id="init=None"),
    pytest.param("batch_size", 0, "batch_size", id="batch_size=0"),
    pytest.param("batch_size", -1, "batch_size", id="batch_size=-1"),
    pytest.param("batch_size", 1.5, "batch_size", id="batch_size=1.5"),
    pytest.param("batch_size", "big", "batch_size", id="batch_size='big'"),
    pytest.param("batch_size", None, "batch_size", id="batch_size=None"),
    pytest.param("optimizer", "lbfgs", "optimizer", id="optimizer='lbfgs'"),
    pytest.param("optimizer", None, "optimizer", id="optimizer=None"),
    pytest.param("learning_rate_init", 0, "learning_rate_init", id="lr=0"),
    pytest.param("learning_rate_init", -1, "learning_rate_init", id="lr=-1"),
    pytest.param("learning_rate_init", np.nan, "learning_rate_init", id="lr=nan"),
    pytest.param("learning_rate_init", np.inf, "learning_rate_init", id="lr=inf"),
    pytest.param("learning_rate_init", "x", "learning_rate_init", id="lr='x'"),
    pytest.param("learning_rate_init", None, "learning_rate_init", id="lr=None"),
    pytest.param("alpha", -1, "alpha", id="alpha=-1"),
    pytest.param("alpha", np.nan, "alpha", id="alpha=nan"),
    pytest.param("alpha", np.inf, "alpha", id="alpha=inf"),
    pytest.param("alpha", "x", "alpha", id="alpha='x'"),
    pytest.param("alpha", None, "alpha", id="alpha=None"),
    pytest.param("max_iter", 0, "max_iter", id="max_iter=0"),
    pytest.param("max_iter", -1, "max_iter", id="max_iter=-1"),
    pytest.param("max_iter", 1.5, "max_iter", id="max_iter=1.5"),
    pytest.param("max_iter", None, "max_iter", id="max_iter=None"),
    pytest.param("tol", -1, "tol", id="tol=-1"),
    pytest.param("tol", np.nan, "tol", id="tol=nan"),
    pytest.param("tol", "x", "tol", id="tol='x'"),
    pytest.param("tol", None, "tol", id="tol=None"),
    pytest.param("n_iter_no_change", 0, "n_iter_no_change", id="n_iter_no_change=0"),
    pytest.param("n_iter_no_change", -1, "n_iter_no_change", id="n_iter_no_change=-1"),
    pytest.param("n_iter_no_change", 1.5, "n_iter_no_change", id="n_iter_no_change=1.5"),
    pytest.param("n_iter_no_change", None, "n_iter_no_change", id="n_iter_no_change=None"),
    pytest.param("early_stopping", "x", "early_stopping", id="early_stopping='x'"),
    pytest.param("early_stopping", 1, "early_stopping", id="early_stopping=1"),
    pytest.param("early_stopping", None, "early_stopping", id="early_stopping=None"),
    pytest.param("validation_fraction", 0, "validation_fraction", id="val_fraction=0"),
    pytest.param("validation_fraction", 1, "validation_fraction", id="val_fraction=1"),
    pytest.param("validation_fraction", -0.1, "validation_fraction", id="val_fraction=-0.1"),
    pytest.param("validation_fraction", 1.5, "validation_fraction", id="val_fraction=1.5"),
    pytest.param("validation_fraction", np.nan, "validation_fraction", id="val_fraction=nan"),
    pytest.param("validation_fraction", "x", "validation_fraction", id="val_fraction='x'"),
    pytest.param("shuffle", "yes", "shuffle", id="shuffle='yes'"),
    pytest.param("shuffle", 1, "shuffle", id="shuffle=1"),
    pytest.param("shuffle", None, "shuffle", id="shuffle=None"),
    pytest.param("random_state", "x", "random_state", id="random_state='x'"),
    pytest.param("random_state", -1, "random_state", id="random_state=-1"),
    pytest.param("random_state", 1.5, "random_state", id="random_state=1.5"),
    pytest.param("device", "nope", "device='nope'", id="device='nope'"),
    pytest.param("device", "cuda:99", "device='cuda:99'", id="device='cuda:99'"),
    pytest.param("device", "meta", "device='meta'", id="device='meta'"),
    pytest.param("device", None, "device", id="device=None"),
    pytest.param("device", 3, "device", id="device=3"),
    pytest.param("verbose", -1, "verbose", id="verbose=-1"),
    pytest.param("verbose", 1.5, "verbose", id="verbose=1.5"),
    pytest.param("verbose", "x", "verbose", id="verbose='x'"),
    pytest.param("verbose", None, "verbose", id="verbose=None"),
    pytest.param("warm_start", "x", "warm_start", id="warm_start='x'"),
    pytest.param("warm_start", 1, "warm_start", id="warm_start=1"),
    pytest.param("warm_start", None, "warm_start", id="warm_start=None"),
]
MODEL_PARAM_CASES = {
    "ae": [
        pytest.param("loss", "mse", "loss", id="loss='mse'"),
        pytest.param("loss", "gaussian", "loss", id="loss='gaussian'"),
        pytest.param("loss", None, "loss", id="loss=None"),
    ],
    "vae": [
        pytest.param("likelihood", "poisson", "likelihood", id="likelihood='poisson'"),
        pytest.param("likelihood", "squared_error", "likelihood", id="likelihood='squared_error'"),
        pytest.param("likelihood", None, "likelihood", id="likelihood=None"),
        pytest.param("beta", -1, "beta", id="beta=-1"),
        pytest.param("beta", np.nan, "beta", id="beta=nan"),
        pytest.param("beta", np.inf, "beta", id="beta=inf"),
        pytest.param("beta", "x", "beta", id="beta='x'"),
        pytest.param("beta", None, "beta", id="beta=None"),
    ],
}
PARAM_CASES = [
    pytest.param(model, method, *case.values, id=f"{model}-{method}-{case.id}")
    for model in GAUSSIAN_MODELS
    for method in FRESH_METHODS
    for case in COMMON_PARAM_CASES + MODEL_PARAM_CASES[model]
]


@pytest.mark.parametrize("model, method, param, value, match", PARAM_CASES)
def test_invalid_parameter(model, method, param, value, match):
    est = make(model, **{param: value})  # the constructor does not validate
    with pytest.raises(BOTH, match=match):
        FRESH_METHODS[method](est, X_TRAIN)
    assert fitted_attributes(est) == []
    assert est.get_params()[param] is value


# Parameters a warm start or partial_fit cannot change on a fitted model.
FITTED_PARAM_CASES = [
    pytest.param("n_components", 1, "n_components=1 differs", id="n_components=1"),
    pytest.param("n_components", 3, "n_components=3 differs", id="n_components=3"),
    pytest.param("n_components", N_FEATURES + 1, "n_components", id="n_components>n_features"),
    pytest.param("n_components", 0, "n_components", id="n_components=0"),
    pytest.param("learning_rate_init", -1, "learning_rate_init", id="lr=-1"),
    pytest.param("batch_size", 0, "batch_size", id="batch_size=0"),
]


@pytest.mark.parametrize(
    "model, method, param, value, match",
    cross(
        [
            (m, method)
            for m in GAUSSIAN_MODELS
            for method in FITTED_METHODS
            if FITTED_METHODS[method][1]
        ],
        FITTED_PARAM_CASES,
    ),
)
def test_invalid_parameter_on_fitted_model(fitted, model, method, param, value, match):
    est = copy.deepcopy(fitted(model)).set_params(**{param: value})
    with pytest.raises(BOTH, match=match):
        FITTED_METHODS[method][2](est, X_TRAIN)
    assert est.n_components_ == N_COMPONENTS


# Arguments of the VAE's own methods: (keyword, value, message regex).
LOG_LIKELIHOOD_CASES = [
    pytest.param("n_samples", 0, "n_samples", id="n_samples=0"),
    pytest.param("n_samples", -1, "n_samples", id="n_samples=-1"),
    pytest.param("n_samples", 1.5, "n_samples", id="n_samples=1.5"),
    pytest.param("n_samples", "4", "n_samples", id="n_samples='4'"),
    pytest.param("n_samples", None, "n_samples", id="n_samples=None"),
    pytest.param("random_state", "x", "random_state", id="random_state='x'"),
    pytest.param("random_state", -1, "random_state", id="random_state=-1"),
]
SAMPLE_CASES = LOG_LIKELIHOOD_CASES


@pytest.mark.parametrize("model", ["vae", "vae_bernoulli"])
@pytest.mark.parametrize("keyword, value, match", LOG_LIKELIHOOD_CASES)
def test_invalid_log_likelihood_argument(fitted, model, keyword, value, match):
    args = {"n_samples": 2, "random_state": 0, keyword: value}
    with pytest.raises(BOTH, match=match):
        fitted(model).log_likelihood(X_TRAIN, **args)


@pytest.mark.parametrize("model", ["vae", "vae_bernoulli"])
@pytest.mark.parametrize("keyword, value, match", SAMPLE_CASES)
def test_invalid_sample_argument(fitted, model, keyword, value, match):
    args = {"n_samples": 2, "random_state": 0, keyword: value}
    with pytest.raises(BOTH, match=match):
        fitted(model).sample(**args)


# ----------------------------------------------------------------------------------------------
# Transactional fit: a failed fit or partial_fit leaves the estimator exactly as it was.

X_FIT = np.random.RandomState(2).normal(size=(60, N_FEATURES))  # 4 steps of 16 rows per epoch
X_SCORE = np.random.RandomState(3).normal(size=(7, N_FEATURES))


def assert_same_value(x, y, path):
    if isinstance(x, torch.nn.Module):
        assert type(x) is type(y), path
        assert_same_value(x.state_dict(), y.state_dict(), f"{path}.state_dict()")
        assert x.training == y.training, f"{path}.training"
    elif isinstance(x, torch.optim.Optimizer):
        assert type(x) is type(y), path
        assert_same_value(x.state_dict(), y.state_dict(), f"{path}.state_dict()")
    elif isinstance(x, torch.Generator):
        assert isinstance(y, torch.Generator), path
        assert x.device == y.device, path
        assert x.initial_seed() == y.initial_seed(), f"{path}.initial_seed()"
        assert torch.equal(x.get_state(), y.get_state()), f"{path}.get_state()"
    elif isinstance(x, torch.Tensor):
        assert isinstance(y, torch.Tensor), path
        assert (x.dtype, x.shape, x.device) == (y.dtype, y.shape, y.device), path
        # Bitwise: the same bytes, NaN included.
        assert x.detach().cpu().numpy().tobytes() == y.detach().cpu().numpy().tobytes(), path
    elif isinstance(x, dict):
        assert isinstance(y, dict), path
        assert list(x) == list(y), f"{path} keys"
        for key in x:
            assert_same_value(x[key], y[key], f"{path}[{key!r}]")
    elif isinstance(x, (list, tuple)):
        assert type(x) is type(y) and len(x) == len(y), path
        for i, (u, v) in enumerate(zip(x, y)):
            assert_same_value(u, v, f"{path}[{i}]")
    elif isinstance(x, np.ndarray):
        assert isinstance(y, np.ndarray) and x.dtype == y.dtype, path
        assert_array_equal(x, y, err_msg=path, strict=True)
    elif isinstance(x, np.random.RandomState):
        assert isinstance(y, np.random.RandomState), path
        assert_same_value(list(x.get_state()), list(y.get_state()), f"{path}.get_state()")
    elif x is None or isinstance(x, (str, bool, torch.device)):
        assert x == y, path
    else:
        assert_array_equal(x, y, err_msg=path)


def outputs(est):
    out = {}
    for dtype in (np.float64, np.float32):
        X = X_SCORE.astype(dtype)
        Z = est.transform(X)
        out[dtype, "transform"] = Z
        out[dtype, "score_samples"] = est.score_samples(X)
        out[dtype, "inverse_transform"] = est.inverse_transform(Z)
        if isinstance(est, VAETransformer):
            out[dtype, "log_likelihood"] = est.log_likelihood(X, n_samples=3, random_state=0)
    return out


def assert_same_state(a, b):
    """Whether ``a`` is in every respect the estimator ``b`` is (``b``: a copy made earlier)."""
    assert a.__dict__.keys() == b.__dict__.keys()
    for key in a.__dict__:
        # Copies and pickles drop the inference cache by design; the outputs below, in both
        # dtypes, compare what the cache holds against what b recomputes.
        if key != "_inference_cache":
            assert_same_value(a.__dict__[key], b.__dict__[key], key)
    for name, est in (("", a), ("pickled ", pickle.loads(pickle.dumps(a)))):
        expected = outputs(b) if not name else outputs(pickle.loads(pickle.dumps(b)))
        for key, value in outputs(est).items():
            assert_array_equal(value, expected[key], err_msg=f"{name}{key}", strict=True)


@pytest.fixture(scope="module")
def trained():
    """``trained(name)``: a fitted model (warm_start=False) with its inference caches filled."""
    cache = {}

    def get(name):
        if name not in cache:
            est = make(name, max_iter=3).fit(X_FIT)
            outputs(est)  # fills the float64 and float32 inference copies
            cache[name] = est
        return cache[name]

    return get


def fresh_copy(est):
    """A deep copy with the inference caches filled, as a user's estimator would have them."""
    est = copy.deepcopy(est)
    outputs(est)
    return est


def nudge_first_weight(est):
    with torch.no_grad():
        next(est.module_.parameters()).add_(1e-6)


@pytest.mark.parametrize("model", GAUSSIAN_MODELS)
def test_assert_same_state_sees_every_change(trained, model):
    a = fresh_copy(trained(model))
    assert_same_state(a, copy.deepcopy(a))
    for change in (
        lambda est: est.partial_fit(X_FIT),
        lambda est: est._generator.manual_seed(123),
        nudge_first_weight,
        lambda est: est.loss_curve_.append(1.0),
    ):
        b = copy.deepcopy(a)
        changed = copy.deepcopy(a)
        change(changed)
        with pytest.raises(AssertionError):
            assert_same_state(changed, b)


WARM = {"warm_start": True}
STRINGS = lambda X: X.astype(str) + "x"  # noqa: E731

# (parameters set before the call, method, bad input, exception, message regex)
TRANSACTION_CASES = [
    pytest.param({}, "fit", with_value(np.nan), ValueError, "NaN", id="fit-nan"),
    pytest.param(WARM, "fit", with_value(np.nan), ValueError, "NaN", id="warm-fit-nan"),
    pytest.param({}, "partial_fit", with_value(np.nan), ValueError, "NaN", id="partial_fit-nan"),
    pytest.param(
        {},
        "partial_fit",
        with_value(np.inf, np.float32),
        ValueError,
        "infinity",
        id="partial_fit-inf-float32",
    ),
    pytest.param(WARM, "fit", lambda X: X[:, :3], ValueError, "3 features", id="warm-fit-width"),
    pytest.param(
        {}, "partial_fit", lambda X: X[:, :3], ValueError, "3 features", id="partial_fit-width"
    ),
    pytest.param({}, "fit", STRINGS, ValueError, "string", id="fit-strings"),
    pytest.param(WARM, "fit", STRINGS, ValueError, "string", id="warm-fit-strings"),
    pytest.param({}, "partial_fit", STRINGS, ValueError, "string", id="partial_fit-strings"),
    pytest.param({}, "fit", lambda X: X[:0], ValueError, "0 sample", id="fit-empty"),
    # Feature names are stored before the values are checked: they must not stick either.
    pytest.param(
        {}, "fit", lambda X: as_frame(with_value(np.nan)(X)), ValueError, "NaN", id="fit-frame-nan"
    ),
    pytest.param(
        {"n_components": 3},
        "partial_fit",
        lambda X: X,
        ValueError,
        "differs",
        id="partial_fit-n_components-changed",
    ),
]


@pytest.mark.parametrize("model", GAUSSIAN_MODELS)
@pytest.mark.parametrize("params, method, corrupt, error, match", TRANSACTION_CASES)
def test_bad_input_leaves_fitted_model_unchanged(
    trained, model, params, method, corrupt, error, match
):
    a = fresh_copy(trained(model)).set_params(**params)
    b = copy.deepcopy(a)
    with pytest.raises(error, match=match):
        getattr(a, method)(corrupt(X_FIT))
    assert_same_state(a, b)


@pytest.fixture
def failing_adam_step(monkeypatch):
    """``fail_at(n, exc)``: the n-th optimizer step from now raises ``exc``.

    Patched on :class:`sklearn_ae._fused_adam.Stepper`, through which every step of
    training goes (the fast fused-Adam path and ``optimizer.step()`` alike), so that it
    reaches whatever optimizer object fit steps (the fitted one, a copy, or a new one).
    """
    original = Stepper.step

    def fail_at(n, exc):
        calls = {"n": 0}

        def step(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise exc
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Stepper, "step", step)
        return calls

    return fail_at


# (parameters, method, the optimizer step that raises): 4 steps per epoch on X_FIT.
MIDWAY_CASES = [
    pytest.param(WARM, "fit", 25, id="warm-fit"),
    pytest.param(WARM, "fit", 1, id="warm-fit-first-step"),
    pytest.param({}, "fit", 25, id="refit"),
    pytest.param({}, "partial_fit", 3, id="partial_fit"),
    pytest.param({}, "partial_fit", 1, id="partial_fit-first-step"),
]


@pytest.mark.parametrize("model", GAUSSIAN_MODELS)
@pytest.mark.parametrize("params, method, fail_step", MIDWAY_CASES)
def test_training_error_midway_leaves_fitted_model_unchanged(
    trained, failing_adam_step, model, params, method, fail_step
):
    a = fresh_copy(trained(model)).set_params(max_iter=10, **params)
    b = copy.deepcopy(a)
    calls = failing_adam_step(fail_step, RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        getattr(a, method)(X_FIT)
    assert calls["n"] == fail_step
    assert_same_state(a, b)


@pytest.mark.parametrize("model", GAUSSIAN_MODELS)
def test_keyboard_interrupt_ends_training_at_last_complete_epoch(
    failing_adam_step, monkeypatch, model
):
    params = {"max_iter": 10, "tol": 0.0, "early_stopping": False}
    est = make(model, **params)
    calls = failing_adam_step(25, KeyboardInterrupt())  # the first step of epoch 7
    try:
        with pytest.warns(UserWarning, match="interrupt"):
            returned = est.fit(X_FIT)
    except KeyboardInterrupt:  # pragma: no cover - must not end the test session
        pytest.fail("KeyboardInterrupt escaped fit")
    assert calls["n"] == 25
    assert returned is est
    assert est.n_iter_ == 6
    assert len(est.loss_curve_) == 6
    Z = est.transform(X_FIT)
    assert np.isfinite(Z).all()
    monkeypatch.undo()
    reference = make(model, **{**params, "max_iter": 6}).fit(X_FIT)
    assert est.loss_curve_ == reference.loss_curve_
    assert_array_equal(Z, reference.transform(X_FIT))
    assert_array_equal(
        est.transform(X_FIT.astype(np.float32)), reference.transform(X_FIT.astype(np.float32))
    )
