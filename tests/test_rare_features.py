"""New rows with values training barely saw: rare features, the chosen noise floor, wide data."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.model_selection import train_test_split

from sklearn_ae import AutoencoderTransformer, VAETransformer, _noise_floor
from sklearn_ae._covariance import CovarianceOperator
from sklearn_ae._data import validation_split
from sklearn_ae._fitting import Fit
from sklearn_ae._linear import (
    factor_analysis,
    held_out_log_likelihood,
    held_out_log_likelihoods,
)
from sklearn_ae._scaling import (
    N_FOLDS,
    SCALE_FLOOR_SHARE,
    held_out_folds,
    scale_rule,
)


def rare_border_digits(seed=0):
    """Digits / 16 plus 16 border pixels with faint-to-full ink in about 1.5% of rows."""
    X = load_digits().data / 16.0
    rng = np.random.RandomState(seed)
    border = np.zeros((X.shape[0], 16))
    for row in np.flatnonzero(rng.rand(X.shape[0]) < 0.015):
        pixels = rng.choice(16, size=rng.randint(1, 4), replace=False)
        border[row, pixels] = np.exp(rng.uniform(np.log(0.005), 0.0, size=len(pixels)))
    return train_test_split(np.hstack([X, border]), test_size=0.3, random_state=0)


@pytest.fixture(scope="module")
def rare():
    return rare_border_digits()


def manifold(noise=1e-3, n_samples=600):
    rng = np.random.RandomState(1)
    t = rng.uniform(0, 3 * np.pi, n_samples)
    X3 = np.column_stack([t * np.cos(t), rng.uniform(0, 10, n_samples), t * np.sin(t)])
    X3 = (X3 - X3.mean(0)) / X3.std(0)
    Q, _ = np.linalg.qr(rng.randn(30, 3))
    X = X3 @ Q.T + noise * rng.randn(n_samples, 30)
    return train_test_split(X, test_size=0.3, random_state=0)


def test_scale_has_a_floor_relative_to_the_typical_feature():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 6))
    X[:, 0] = 0.0
    X[3, 0] = 1e-3  # a feature with ink in one row: a tiny standard deviation
    mean, variance = X.mean(0), X.var(0)
    _, constant, scale = scale_rule(mean, variance, X.shape[0])
    assert not constant[0]
    rms = np.sqrt(variance[~constant].mean())
    assert scale[0] == pytest.approx(SCALE_FLOOR_SHARE * rms)
    assert_allclose(scale[1:], np.sqrt(variance[1:]))


def test_branch_sees_inputs_clamped_to_the_training_box(digits):
    X_train = digits[0]
    ae = AutoencoderTransformer(4, max_iter=3, random_state=0, device="cpu")
    with pytest.warns(Warning, match="Maximum iterations"):
        ae.fit(X_train)
    encoder = ae.encoder_
    low, high = encoder.input_low.numpy(), encoder.input_high.numpy()
    xs = (X_train - ae.mean_) / ae.scale_
    assert_allclose(low, xs.min(0), rtol=1e-5, atol=1e-6)
    assert_allclose(high, xs.max(0), rtol=1e-5, atol=1e-6)
    # A row far outside the box: the branch gives what it gives at the box's edge.
    far = torch.as_tensor(high * 1000 + 1, dtype=torch.float32)[None]
    edge = torch.as_tensor(high, dtype=torch.float32)[None]
    with torch.no_grad():
        assert torch.equal(encoder.residual(encoder.input_high[None]), encoder.residual(edge))
        branch_far = encoder(far) - encoder.linear(far)
        branch_edge = encoder(edge) - encoder.linear(edge)
        # The subtraction cancels the far row's huge linear part: float32
        # rounding of that part is the tolerance.
        rounding = 1e-6 * float(encoder.linear(far).abs().max()) + 1e-6
    assert_allclose(branch_far.numpy(), branch_edge.numpy(), atol=rounding)


def test_training_skips_the_clamp_only_on_rows_the_box_was_widened_to_hold(digits, monkeypatch):
    seen, run = [], Fit.run_epochs

    def spy(self, *args):
        encoder = self.model.module_.encoder
        seen.append((encoder._inputs_inside_box, encoder.training))
        return run(self, *args)

    monkeypatch.setattr(Fit, "run_epochs", spy)
    X = digits[0]
    ae = AutoencoderTransformer(2, max_iter=1, random_state=0, device="cpu")
    with pytest.warns(Warning, match="Maximum iterations"):
        ae.fit(X)
    ae.partial_fit(X[:100])
    # A warm start on rows beyond the box: the box stays as fit left it, so
    # training clamps them.
    ae.set_params(warm_start=True)
    with pytest.warns(Warning, match="Maximum iterations"):
        ae.fit(3.0 * X)
    assert [inside for inside, _ in seen] == [True, True, False]
    assert not ae.module_.encoder._inputs_inside_box


def test_autoencoder_on_rare_features_is_no_worse_than_pca(rare):
    X_train, X_test = rare
    pca = PCA(8).fit(X_train)
    ae = AutoencoderTransformer(8, random_state=0, device="cpu").fit(X_train)

    def row_mse(model):
        return ((model.inverse_transform(model.transform(X_test)) - X_test) ** 2).mean(1)

    ours, theirs = row_mse(ae), row_mse(pca)
    assert ours.mean() <= 0.7 * theirs.mean(), (ours.mean(), theirs.mean())
    # Before the scale floor and the box, the worst row was 12-46x PCA's worst.
    assert ours.max() <= 2 * theirs.max(), (ours.max(), theirs.max())


def test_vae_on_rare_features_beats_pca_on_all_columns(rare):
    X_train, X_test = rare
    vae = VAETransformer(8, random_state=0, device="cpu").fit(X_train)
    assert vae.score(X_test) >= PCA(8).fit(X_train).score(X_test) - 0.5
    # The floor was chosen relative to the mean variance: some features'
    # own-variance floor would be a density spike on a near-constant pixel.
    floor, variance = vae.noise_floor_, X_train.var(0)
    assert floor.max() >= 1e-4 * variance.mean()


def test_noise_floor_follows_the_data_on_a_low_noise_manifold():
    X_train, X_test = manifold()
    d = 5
    vae = VAETransformer(d, max_iter=2, random_state=0, device="cpu")
    with pytest.warns(Warning, match="Maximum iterations"):
        vae.fit(X_train)
    fa = FactorAnalysis(d, random_state=0).fit(X_train).score(X_test)
    pca = PCA(d).fit(X_train).score(X_test)
    # A floor at 1e-3 of each feature's variance (the fixed rule) sits far
    # above the true noise: it scored ~30 nats below FA on such data.
    assert vae.score(X_test) >= max(fa, pca) - 0.5, (vae.score(X_test), fa, pca)
    assert (vae.noise_floor_ < 1e-4 * X_train.var(0)).all()


def test_held_out_folds_hold_out_every_row_against_the_others():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 7)) @ rng.normal(size=(7, 7)) + 5.0
    mean, variance = X.mean(0), X.var(0)
    constant = np.zeros(7, dtype=bool)
    folds = held_out_folds(
        X, mean, variance, constant, None, np.random.RandomState(1), streamed=False
    )
    assert len(folds) == N_FOLDS and sum(f.n_rows for f in folds) == 300
    order = np.random.RandomState(1).permutation(300)
    for fold, rows in zip(folds, np.array_split(order, N_FOLDS)):
        others = np.setdiff1d(np.arange(300), rows)
        assert_allclose(fold.train_variance, X[others].var(0), rtol=1e-10)
        centred = X[np.sort(rows)] - X[others].mean(0)
        second = fold.second_moment.matmat(np.eye(7))
        assert_allclose(second, centred.T @ centred / len(rows), atol=1e-10)
        assert_allclose(fold.second_moment.diagonal(), np.mean(centred**2, axis=0), rtol=1e-10)


def test_streamed_x_is_judged_on_its_validation_split():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 7))
    split = validation_split(X, 0.2, np.random.RandomState(1))
    mean, variance = X.mean(0), X.var(0)
    (fold,) = held_out_folds(
        X, mean, variance, np.zeros(7, dtype=bool), split, None, streamed=True
    )
    train, val = X[split.train], X[split.validation]
    assert_allclose(fold.train_variance, train.var(0), rtol=1e-10)
    centred = val - train.mean(0)
    assert_allclose(fold.second_moment, centred.T @ centred / len(val), atol=1e-10)


def test_held_out_log_likelihood_is_the_mean_log_density():
    from scipy.stats import multivariate_normal

    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 9)) + rng.normal(size=(400, 9))
    train, val = X[:300], X[300:]
    model = factor_analysis(np.cov(train.T, bias=True), 3, 1e-3)
    centred = val - train.mean(0)
    W = model.loadings
    density = multivariate_normal(np.zeros(9), W @ W.T + np.diag(model.noise_variance))
    expected = density.logpdf(centred).mean()
    second = centred.T @ centred / len(val)
    score = held_out_log_likelihood(model.loadings, model.noise_variance, second)
    assert score == pytest.approx(expected, rel=1e-9)


def test_held_out_log_likelihoods_score_each_model_as_alone():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 9)) + rng.normal(size=(400, 9))
    train, val = X[:300], X[300:]
    covariance = np.cov(train.T, bias=True)
    settings = ((1, 1e-3), (3, 0.5), (2, 1e-6))
    models = [factor_analysis(covariance, d, floor) for d, floor in settings]
    pairs = [(m.loadings, m.noise_variance) for m in models]
    centred = val - train.mean(0)
    as_matrix = centred.T @ centred / len(val)
    as_rows = CovarianceOperator(centred, np.zeros(9), np.mean(centred**2, axis=0))
    alone = [held_out_log_likelihood(W, psi, as_matrix) for W, psi in pairs]
    assert len(set(alone)) == 3
    assert_allclose(held_out_log_likelihoods(pairs, as_matrix), alone, rtol=1e-12)
    assert_allclose(held_out_log_likelihoods(pairs, as_rows), alone, rtol=1e-10)


@pytest.mark.parametrize("d", [2, 8])
def test_resumed_candidate_fits_choose_as_fits_from_scratch(rare, monkeypatch, d):
    def fit(X):
        est = VAETransformer(d, max_iter=1, random_state=0, device="cpu")
        with pytest.warns(Warning, match="Maximum iterations"):
            return est.fit(X)

    fa = _noise_floor.factor_analysis
    steps = {True: 0, False: 0}
    scratch_mode = [False]

    def counted(*args, **kwargs):
        if kwargs.get("max_iter") == _noise_floor._SELECTION_MAX_ITER:
            if scratch_mode[0]:
                # Candidates (fitted to the selection's tolerance) start at psi = 1.
                kwargs["resume"] = False
            model = fa(*args, **kwargs)
            steps[scratch_mode[0]] += model.n_iter
            return model
        return fa(*args, **kwargs)

    monkeypatch.setattr(_noise_floor, "factor_analysis", counted)
    resumed = fit(rare[0])
    scratch_mode[0] = True
    scratch = fit(rare[0])
    # Resuming is what saves the EM steps...
    assert steps[False] < 0.75 * steps[True]
    # ...and it chooses as fits from scratch do.
    assert resumed._noise_floor_choice == scratch._noise_floor_choice
    # The losing candidates lie far below (thousands of nats on the rare
    # border); within 0.1% of them is the same verdict.
    assert_allclose(resumed._noise_floor_scores, scratch._noise_floor_scores, rtol=1e-3, atol=0.02)
    assert_allclose(
        resumed.module_.noise_var().detach().numpy(),
        scratch.module_.noise_var().detach().numpy(),
        rtol=1e-3,
    )


def test_wide_factor_analysis_by_subspace_iteration_matches_exact():
    rng = np.random.RandomState(0)
    n_features = 300  # above EXACT_EIGEN_FEATURES: subspace iteration
    X = rng.normal(size=(800, 4)) @ rng.normal(size=(4, n_features))
    X += rng.normal(size=X.shape) * rng.uniform(0.5, 1.5, n_features)
    covariance = np.cov(X.T, bias=True)
    iterated = factor_analysis(covariance, 4, 1e-3, max_iter=300)
    assert iterated.basis is not None
    exact = FactorAnalysis(4, tol=1e-8, svd_method="lapack").fit(X)
    assert iterated.log_likelihood == pytest.approx(exact.score(X), abs=1e-3 * n_features)
    # Fewer rows than features: the same model through the rows (an operator).
    rows = X[:200]
    operator = CovarianceOperator(rows, rows.mean(0), rows.var(0))
    through_rows = factor_analysis(operator, 4, 1e-3, max_iter=300)
    as_matrix = factor_analysis(np.cov(rows.T, bias=True), 4, 1e-3, max_iter=300)
    assert through_rows.log_likelihood == pytest.approx(as_matrix.log_likelihood, rel=1e-6)
