"""ONNX export: onnxruntime reproduces transform and whole pipelines; clear errors."""

import sys

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._export import register_converters, to_onnx
from sklearn_ae._modules import ACTIVATIONS, ResidualMap

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

# Every fit here stops at max_iter on purpose: tiny fits, random weights.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
N_ROWS = [1, 37, 150]
# float32 rounding of a few hundred products per output.
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(scope="module")
def digits_raw():
    # Raw pixel counts (0-16), so that the standardization is far from the identity.
    X, y = load_digits(return_X_y=True)
    return X, y


def fit(estimator_class, X, **params):
    # init="random": the linear start zeroes the residual branch's last layer,
    # which would leave the activations out of the comparison.
    params = {
        "n_components": 4,
        "init": "random",
        "max_iter": 3,
        "tol": 0.0,
        "early_stopping": False,
        "random_state": 0,
        "device": "cpu",
        **params,
    }
    return estimator_class(**params).fit(X)


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def residual_output(estimator, X):
    """What the encoder's residual branch adds to its affine path, on X."""
    xs = torch.as_tensor((X - estimator.mean_) / estimator.scale_, dtype=torch.float32)
    with torch.no_grad():
        return estimator.module_.encoder.residual(xs).numpy()


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
@pytest.mark.parametrize(
    "hidden_layer_sizes, activation, init",
    [((), "relu", "linear"), ((32,), "relu", "random"), ((32, 16), "relu", "linear")]
    + [((32, 16), name, "random") for name in ACTIVATIONS],
)
def test_to_onnx_reproduces_transform(
    estimator_class, hidden_layer_sizes, activation, init, digits_raw
):
    X, _ = digits_raw
    estimator = fit(
        estimator_class,
        X[:300],
        hidden_layer_sizes=hidden_layer_sizes,
        activation=activation,
        init=init,
    )
    if init == "random" and hidden_layer_sizes:
        # The branch (and so the activation) must move the output for the test to see it.
        assert np.abs(residual_output(estimator, X[:150])).max() > 1e-2
    if init == "linear" and estimator_class is AutoencoderTransformer:
        # Only the linear start sets the latent scale away from 1.
        assert np.ptp(estimator.module_.latent_scale.numpy()) > 1.0
    sess = session(to_onnx(estimator))
    for n_rows in N_ROWS:
        X32 = X[-n_rows:].astype(np.float32)
        (Z,) = sess.run(None, {"X": X32})
        assert Z.dtype == np.float32
        assert_allclose(Z, estimator.transform(X32), **TOLERANCE)


def test_to_onnx_graph_has_dynamic_batch_and_named_io(digits_raw):
    X, _ = digits_raw
    model = to_onnx(fit(AutoencoderTransformer, X[:300], hidden_layer_sizes=(8,)))
    onnx.checker.check_model(model)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("X", "Z")
    in_rows, in_cols = inp.type.tensor_type.shape.dim
    out_rows, out_cols = out.type.tensor_type.shape.dim
    assert not in_rows.HasField("dim_value") and not out_rows.HasField("dim_value")
    assert (in_cols.dim_value, out_cols.dim_value) == (64, 4)


@pytest.mark.parametrize("target_opset", [9, 13])
def test_to_onnx_older_opsets(target_opset, digits_raw):
    # GELU is written with Erf, so it needs no opset-20 Gelu operator.
    X, _ = digits_raw
    estimator = fit(VAETransformer, X[:300], hidden_layer_sizes=(16,), activation="gelu")
    model = to_onnx(estimator, target_opset=target_opset)
    assert max(opset.version for opset in model.opset_import if opset.domain == "") <= (
        target_opset
    )
    X32 = X[:37].astype(np.float32)
    (Z,) = session(model).run(None, {"X": X32})
    assert_allclose(Z, estimator.transform(X32), **TOLERANCE)


def _pipeline_params():
    return {
        "n_components": 8,
        "hidden_layer_sizes": (32,),
        "activation": "elu",
        "max_iter": 5,
        "tol": 0.0,
        "early_stopping": False,
        "random_state": 0,
        "device": "cpu",
    }


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_pipeline_converts_with_skl2onnx(estimator_class, digits_raw):
    X, y = digits_raw
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("ae", estimator_class(**_pipeline_params())),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    ).fit(X[:500], y[:500])
    register_converters()
    register_converters()  # idempotent: registering again changes nothing
    model = skl2onnx.to_onnx(
        pipe, X[:1].astype(np.float32), options={LogisticRegression: {"zipmap": False}}
    )
    sess = session(model)
    for n_rows in N_ROWS:
        X32 = X[-n_rows:].astype(np.float32)
        labels, proba = sess.run(["label", "probabilities"], {"X": X32})
        assert_allclose(proba, pipe.predict_proba(X32), **TOLERANCE)
        assert_allclose(labels, pipe.predict(X32))


def test_double_input_graph_matches_float64_transform(digits_raw):
    # skl2onnx builds a float64 graph from float64 data. The estimator
    # standardizes float64 rows in float64 and runs its float32 network, so
    # the two agree to float32 rounding, and the outputs are float64.
    X, _ = digits_raw
    estimator = fit(AutoencoderTransformer, X[:300], hidden_layer_sizes=(16,), activation="tanh")
    register_converters()
    model = skl2onnx.to_onnx(estimator, X[:1])
    (Z,) = session(model).run(None, {"X": X[:37]})
    assert Z.dtype == np.float64
    assert estimator.transform(X[:37]).dtype == np.float64
    assert_allclose(Z, estimator.transform(X[:37]), **TOLERANCE)


def test_to_onnx_writes_path(tmp_path, digits_raw):
    X, _ = digits_raw
    estimator = fit(VAETransformer, X[:300], hidden_layer_sizes=(8,))
    path = tmp_path / "vae.onnx"
    model = to_onnx(estimator, path)
    assert onnx.load(path).SerializeToString() == model.SerializeToString()
    X32 = X[:37].astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert_allclose(sess.run(None, {"X": X32})[0], estimator.transform(X32), **TOLERANCE)


@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_unfitted_estimator_raises(estimator_class):
    with pytest.raises(NotFittedError):
        to_onnx(estimator_class())


def test_non_package_estimator_raises_type_error(digits_raw):
    X, _ = digits_raw
    with pytest.raises(TypeError, match="AutoencoderTransformer or a VAETransformer"):
        to_onnx(PCA(n_components=2).fit(X))


class _ScaledResidualMap(ResidualMap):
    def forward(self, x):
        return 2 * super().forward(x)


@pytest.mark.parametrize(
    "make_encoder",
    [
        lambda encoder: torch.nn.Sequential(encoder.linear),
        lambda encoder: _ScaledResidualMap(64, 4, (8,), "relu", torch.Generator()),
    ],
    ids=["sequential", "resmap-subclass"],
)
def test_custom_encoder_raises(make_encoder, digits_raw):
    X, _ = digits_raw
    estimator = fit(AutoencoderTransformer, X[:300], hidden_layer_sizes=(8,))
    estimator.module_.encoder = make_encoder(estimator.module_.encoder)
    with pytest.raises(NotImplementedError, match="custom module"):
        to_onnx(estimator)
    # The pipeline route gives the same error.
    register_converters()
    with pytest.raises(NotImplementedError, match="custom module"):
        skl2onnx.to_onnx(estimator, X[:1].astype(np.float32))


def test_input_width_mismatch_raises(digits_raw):
    X, _ = digits_raw
    estimator = fit(AutoencoderTransformer, X[:300], hidden_layer_sizes=())
    register_converters()
    with pytest.raises(ValueError, match="expecting 64 features"):
        skl2onnx.to_onnx(estimator, X[:1, :10].astype(np.float32))


def test_missing_extra_raises_import_error(monkeypatch, digits_raw):
    X, _ = digits_raw
    estimator = fit(AutoencoderTransformer, X[:300], hidden_layer_sizes=())
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    # The message names the packages (the package is not on PyPI) and the extra.
    with pytest.raises(ImportError, match=r"pip install onnx onnxruntime skl2onnx \(the 'onnx'"):
        to_onnx(estimator)
    with pytest.raises(ImportError, match=r"'onnx' extra"):
        register_converters()
