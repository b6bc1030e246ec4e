"""The scikit-learn contract both estimators share: pipelines, pickling, dtypes, errors, seeds."""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._fitting import Fit

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
# Small, fast settings shared by the contract tests; quality is tested elsewhere.
FAST = {
    "hidden_layer_sizes": (32,),
    "max_iter": 10,
    "tol": 0.0,
    "random_state": 0,
    "device": "cpu",
}


def fast(cls, **params):
    return cls(**{**FAST, **params})


@pytest.fixture
def X_small():
    return np.random.RandomState(0).uniform(size=(60, 6))


def fitted(cls, X, **params):
    with pytest.warns(ConvergenceWarning):
        return fast(cls, **params).fit(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_defaults_fit_check_sized_data(cls):
    X = np.random.RandomState(0).normal(size=(20, 3))
    est = cls(device="cpu", random_state=0).fit(X)
    assert est.transform(X).shape == (20, 2)
    assert np.isfinite(est.score(X))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pipeline_on_digits(cls, digits):
    X_train, X_test, y_train, y_test = digits
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("ae", fast(cls, n_components=8, hidden_layer_sizes=(64,), max_iter=30)),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    with pytest.warns(ConvergenceWarning):
        pipe.fit(X_train, y_train)
    # Ten classes: chance is 0.1; 8 learned features should carry most of the signal.
    assert pipe.score(X_test, y_test) > 0.75


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_grid_search_over_n_components_with_process_workers(cls, digits):
    X_train, _, _, _ = digits
    X = X_train[:300]
    name = cls.__name__.lower()
    pipe = Pipeline([("scale", StandardScaler()), (name, fast(cls, max_iter=3))])
    # No scorer: GridSearchCV uses the pipeline's score, i.e. the estimator's own.
    search = GridSearchCV(pipe, {f"{name}__n_components": [2, 4]}, cv=2, n_jobs=2)
    search.fit(X)
    assert search.best_params_[f"{name}__n_components"] in (2, 4)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.transform(X[:5]).shape[1] == search.best_params_[f"{name}__n_components"]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pickle_and_joblib_round_trips(cls, X_small, tmp_path):
    unfitted = fast(cls)
    assert pickle.loads(pickle.dumps(unfitted)).get_params() == unfitted.get_params()

    est = fitted(cls, X_small)
    expected = est.transform(X_small)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.transform(X_small), expected)
    assert_array_equal(restored.score_samples(X_small), est.score_samples(X_small))
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    assert_array_equal(joblib.load(path).transform(X_small), expected)
    # The original keeps working after being pickled.
    assert_array_equal(est.transform(X_small), expected)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unpickled_model_can_keep_training(cls, X_small):
    est = fitted(cls, X_small)
    restored = pickle.loads(pickle.dumps(est))
    est.partial_fit(X_small)
    restored.partial_fit(X_small)
    # Optimizer state and the generator's position travel with the pickle.
    assert_allclose(restored.transform(X_small), est.transform(X_small), rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_cuda_fit_transform_and_load_on_cpu(cls, X_small, monkeypatch):
    with pytest.warns(ConvergenceWarning):
        est = fast(cls, device="cuda").fit(X_small)
    assert est.device_.type == "cuda"
    Z = est.transform(X_small)
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    buffer.seek(0)
    restored = joblib.load(buffer)
    assert restored.device_.type == "cpu"
    assert_allclose(restored.transform(X_small), Z, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_dtypes(cls, X_small):
    est = fitted(cls, X_small)
    X32 = X_small.astype(np.float32)
    assert est.transform(X32).dtype == np.float32
    assert est.transform(X_small).dtype == np.float64
    assert est.score_samples(X32).dtype == np.float32
    assert est.inverse_transform(est.transform(X32)).dtype == np.float32
    assert est.inverse_transform(est.transform(X_small)).dtype == np.float64
    X_int = (X_small * 10).astype(np.int64)
    assert est.transform(X_int).dtype == np.float64
    assert_allclose(est.transform(X32), est.transform(X_small), rtol=1e-4, atol=1e-5)
    with pytest.warns(ConvergenceWarning):
        assert fast(cls).fit_transform(X32).dtype == np.float32


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_same_seed_same_output_and_global_rng_untouched(cls, X_small):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = fitted(cls, X_small).transform(X_small)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = fitted(cls, X_small).transform(X_small)
    c = fitted(cls, X_small, random_state=1).transform(X_small)
    assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_feature_names_and_pandas_output(cls, X_small):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X_small, columns=[f"f{i}" for i in range(6)])
    est = fitted(cls, df, n_components=3)
    prefix = cls.__name__.lower()
    assert_array_equal(est.feature_names_in_, df.columns)
    assert list(est.get_feature_names_out()) == [f"{prefix}{i}" for i in range(3)]
    out = est.set_output(transform="pandas").transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"{prefix}{i}" for i in range(3)]


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(
    "bad, message",
    [(np.nan, "NaN"), (np.inf, "infinity")],
)
def test_non_finite_input_is_rejected(cls, X_small, bad, message):
    X = X_small.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match=message):
        fast(cls).fit(X)
    est = fitted(cls, X_small)
    with pytest.raises(ValueError, match=message):
        est.transform(X)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_shape_errors(cls, X_small):
    est = fitted(cls, X_small, n_components=3)
    with pytest.raises(ValueError, match="X has 5 features, but .* is expecting 6 features"):
        est.transform(X_small[:, :5])
    with pytest.raises(ValueError, match="Z has 2 features.*n_components_=3"):
        est.inverse_transform(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="0 sample"):
        fast(cls).fit(np.empty((0, 6)))
    with pytest.raises(ValueError, match="n_features=6"):
        fast(cls, n_components=7).fit(X_small)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unfitted_raises_not_fitted(cls, X_small):
    est = fast(cls)
    for method in ("transform", "score_samples", "score"):
        with pytest.raises(NotFittedError):
            getattr(est, method)(X_small)
    with pytest.raises(NotFittedError):
        est.inverse_transform(np.zeros((2, 2)))


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(
    "params",
    [
        {"n_components": 0},
        {"hidden_layer_sizes": (16, 0)},
        {"hidden_layer_sizes": "wide"},
        {"activation": "swish"},
        {"optimizer": "lbfgs"},
        {"learning_rate_init": -1.0},
        {"batch_size": 0},
        {"validation_fraction": 1.5},
    ],
)
def test_bad_parameters_raise_at_fit(cls, X_small, params):
    est = fast(cls, **params)  # the constructor does not validate
    with pytest.raises(InvalidParameterError):
        est.fit(X_small)
    assert not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unavailable_device_is_named(cls, X_small, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda:1'.*CUDA is not available"):
        fast(cls, device="cuda:1").fit(X_small)
    with pytest.raises(ValueError, match="device='tpu'"):
        fast(cls, device="tpu").fit(X_small)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_failed_fit_leaves_nothing_half_fitted(cls, X_small, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    est = fast(cls, device="cuda")
    with pytest.raises(ValueError):
        est.fit(X_small)
    assert [k for k in vars(est) if k.endswith("_")] == []
    with pytest.raises(NotFittedError):
        est.transform(X_small)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_max_iter_without_convergence_warns(cls, X_small):
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(10\) reached") as record:
        fast(cls).fit(X_small)
    # The warning names the estimator (a grid may hold both) and points at
    # the caller's line, not at the package.
    assert str(record[0].message).startswith(f"{cls.__name__}(n_components=2)")
    assert record[0].filename == __file__
    with pytest.warns(ConvergenceWarning) as record:
        Pipeline([("ae", fast(cls))]).fit(X_small)
    assert record[0].filename.endswith("pipeline.py")
    assert fitted(cls, X_small).n_iter_ == 10


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_verbose_fit_says_why_it_stopped_and_what_it_kept(cls, capsys):
    from sklearn.datasets import load_digits

    X = load_digits().data[:600] / 16
    # The VAE's tol is in nats per row: 0.5 lets this small fit stop early.
    tol = 0.5 if cls is VAETransformer else 1e-4
    est = cls(4, hidden_layer_sizes=(32,), tol=tol, random_state=0, verbose=1).fit(X)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert est.n_iter_ < est.max_iter
    n = est.n_iter_no_change
    reasons = (
        f"no significant improvement on the validation rows for {n + 1} epochs",
        f"the last {n} epochs gained less than 1% of the improvement on the validation "
        "rows since the start",
        f"the last {n} epochs gained less than tol={tol:g} an epoch on average on the "
        "validation rows",
    )
    prefix = f"{cls.__name__}: stopped at epoch {est.n_iter_} of {est.max_iter}: "
    assert any(last.startswith(f"{prefix}{reason}; kept ") for reason in reasons), last
    kept = (
        f"kept epoch {est.best_epoch_}."
        if est.best_epoch_
        else "kept the linear start (epoch 0): no epoch beat it on the validation rows."
    )
    assert last.endswith(kept)
    # A fit that keeps its start says so: with tol huge no epoch counts, and
    # significance is judged against the start, which one epoch rarely beats by 2 SE.
    est = cls(n_components=4, max_iter=1, random_state=0, verbose=2)
    with pytest.warns(ConvergenceWarning):
        est.fit(X)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "reached max_iter=1 before the stopping rule was met; kept" in last
    assert f"(epoch {est.best_epoch_})" in last or f"kept epoch {est.best_epoch_}." in last


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_plateau_stops_before_max_iter(cls, X_small):
    # A tol larger than any change: the first epoch sets the best loss, then
    # MLPRegressor's rule stops after n_iter_no_change + 1 epochs without improvement.
    est = fast(cls, tol=1e6, n_iter_no_change=3, max_iter=50).fit(X_small)
    assert est.n_iter_ == 5
    assert len(est.loss_curve_) == 5
    assert est.best_loss_ == min(est.loss_curve_)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_partial_fit_runs_one_epoch_per_call(cls, X_small):
    est = fast(cls)
    est.partial_fit(X_small)
    est.partial_fit(X_small)
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == 2
    with pytest.raises(ValueError, match="X has 5 features"):
        est.partial_fit(X_small[:, :5])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_warm_start_continues_from_fitted_weights(cls, X_small, monkeypatch):
    est = fitted(cls, X_small, warm_start=True)
    first_curve = list(est.loss_curve_)
    fitted_weights = {k: v.clone() for k, v in est.module_.state_dict().items()}
    started_from = []
    run_epochs = Fit.run_epochs

    def spy(self, *args, **kwargs):
        started_from.append({k: v.clone() for k, v in self.model.module_.state_dict().items()})
        return run_epochs(self, *args, **kwargs)

    monkeypatch.setattr(Fit, "run_epochs", spy)
    with pytest.warns(ConvergenceWarning):
        est.fit(X_small)
    assert est.n_iter_ == 20
    assert est.loss_curve_[:10] == first_curve
    # Training went on from the fitted weights. (Comparing losses cannot tell:
    # a fresh fit starts at the same linear model, and a VAE's epoch losses on
    # 54 rows scatter by more than its 10 epochs gain.)
    (weights,) = started_from
    assert weights.keys() == fitted_weights.keys()
    for name, value in fitted_weights.items():
        assert torch.equal(weights[name], value), name
    trained = est.module_.state_dict()
    assert not all(torch.equal(v, trained[k]) for k, v in weights.items())
    est.set_params(n_components=3)
    with pytest.raises(ValueError, match="n_components=3 differs"):
        est.fit(X_small)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_early_stopping_records_validation_scores(cls, X_small):
    est = fast(cls, early_stopping=True, max_iter=50, n_iter_no_change=2, tol=1e6)
    est.fit(X_small)
    # With tol=1e6 no epoch improves on the starting weights: 2 + 1 epochs.
    assert len(est.validation_scores_) == est.n_iter_ == 3
    if est.best_epoch_ > 0:
        assert est.best_validation_score_ == est.validation_scores_[est.best_epoch_ - 1]
    else:
        assert est.best_validation_score_ not in est.validation_scores_
    # "auto" holds out a split only when it has at least 10 rows: 60 * 0.1 has 6.
    assert fitted(cls, X_small).validation_scores_ is None
    assert (
        fast(cls, max_iter=2, n_iter_no_change=1).fit(np.tile(X_small, (2, 1))).validation_scores_
        is not None
    )
    with pytest.raises(ValueError, match="early_stopping needs"):
        fast(cls, early_stopping=True).fit(X_small[:1])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_verbose_reports_progress(cls, X_small, capsys):
    fitted(cls, X_small, verbose=2)
    out = capsys.readouterr().out
    assert out.count("Iteration") == 10
    assert "Iteration 10, loss = " in out
    fitted(cls, X_small, verbose=1)
    captured = capsys.readouterr()
    assert "epoch" in captured.err
    fitted(cls, X_small, verbose=0)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_diverging_loss_restores_the_lowest_loss_epoch(cls, X_small, monkeypatch):
    # 60 rows: no validation split, so divergence falls back to the training loss.
    calls = {"n": 0}
    original = cls._batch_loss
    batches_per_epoch = 4  # 60 samples, batch_size "auto" = 16 (the smallest automatic size)

    def poisoned(self, module, xb, noise):
        loss, terms = original(self, module, xb, noise)
        calls["n"] += 1
        if calls["n"] > 3 * batches_per_epoch:
            loss = loss * float("nan")
            terms = {name: value * float("nan") for name, value in terms.items()}
        return loss, terms

    monkeypatch.setattr(cls, "_batch_loss", poisoned)
    est = fast(cls)
    with pytest.warns(ConvergenceWarning, match="non-finite after 3 epochs"):
        est.fit(X_small)
    monkeypatch.undo()
    assert est.n_iter_ == 3
    lowest = int(np.argmin(est.loss_curve_)) + 1
    assert est.best_epoch_ == lowest
    reference = fitted(cls, X_small, max_iter=lowest)
    assert_array_equal(est.transform(X_small), reference.transform(X_small))


def _poison_every_batch(cls, monkeypatch):
    original = cls._batch_loss

    def poisoned(self, module, xb, noise):
        loss, terms = original(self, module, xb, noise)
        return loss * float("nan"), {name: value * float("nan") for name, value in terms.items()}

    monkeypatch.setattr(cls, "_batch_loss", poisoned)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_no_finite_epoch_keeps_the_starting_model(cls, X_small, monkeypatch):
    est = fitted(cls, X_small, warm_start=True)
    before = est.transform(X_small)
    curve = list(est.loss_curve_)
    _poison_every_batch(cls, monkeypatch)
    with pytest.warns(ConvergenceWarning, match="weights of epoch 10 were restored"):
        est.fit(X_small)
    # Nothing the user had is lost: same weights, same history, still usable.
    assert_array_equal(est.transform(X_small), before)
    assert est.loss_curve_ == curve
    assert est.best_epoch_ == 10
    # A first fit keeps its linear start (PCA or factor analysis), which is a model.
    linear = fast(cls, max_iter=1)
    with pytest.warns(ConvergenceWarning, match="epoch 0 were restored"):
        linear.fit(X_small)
    assert linear.n_iter_ == 0
    assert np.all(np.isfinite(linear.transform(X_small)))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_no_finite_epoch_from_a_random_start_raises(cls, X_small, monkeypatch):
    _poison_every_batch(cls, monkeypatch)
    fresh = fast(cls, init="random")
    with pytest.raises(ValueError, match="smaller learning_rate_init"):
        fresh.fit(X_small)
    assert not hasattr(fresh, "module_")


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_float64_rows_run_the_float32_network_and_come_back_float64(cls, X_small):
    est = fitted(cls, X_small)
    X64 = X_small[:7]
    state = est._inference_state(X64.dtype)
    # No float64 copy of the network: it computes in the precision it was
    # trained in, with the fitted parameters themselves (row-invariant layers).
    shared = {id(p) for p in est.module_.parameters()}
    assert {id(p) for p in state.module.parameters()} == shared
    assert next(state.module.parameters()).dtype == torch.float32
    for method in ("transform", "score_samples"):
        out64 = getattr(est, method)(X64)
        out32 = getattr(est, method)(X64.astype(np.float32))
        assert out64.dtype == np.float64 and out32.dtype == np.float32
        assert_allclose(out64, out32, rtol=1e-5, atol=1e-5)
    Z = est.transform(X64)
    assert est.inverse_transform(Z).dtype == np.float64


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(
    "n_samples, batch",
    # 2 sqrt(n) rows, clipped to [16, 256]: 16 at the floor, 85 for digits'
    # 1,797 rows (22 steps an epoch, where n // 10 gave 11), 256 at the cap.
    [(40, 16), (1797, 85), (20_000, 256)],
)
def test_auto_batch_size_grows_with_the_square_root_of_the_rows(cls, n_samples, batch):
    X = np.random.RandomState(0).normal(size=(n_samples, 4))
    est = cls(n_components=2, max_iter=1, early_stopping=False, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est.fit(X)
    assert est.n_steps_ == -(-n_samples // batch)
