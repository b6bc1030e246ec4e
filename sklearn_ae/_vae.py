"""VAETransformer: a variational autoencoder scored like PCA."""

from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._base import _BaseAutoencoder
from ._covariance import diagonal
from ._device import make_generator, to_numpy, to_tensor
from ._export import exportable
from ._linear import logit, principal_scales
from ._losses import (
    elbo,
    importance_weighted_bound,
    kl_to_standard_normal,
    nan_to_neg_inf,
    normal_log_density,
    standard_normal_log_density,
)
from ._modules import VariationalAutoencoder
from ._noise_floor import (
    DEFAULT_NOISE_FLOOR,
    NOISE_FLOOR_CANDIDATES,
    gaussian_factor_model,
    standardized_noise_floor,
)
from ._sklearn_compat import Interval, StrOptions, validate_params
from ._state import loadable

# Floor of the Gaussian noise variance in standardized units, for a start
# other than the linear one (which chooses its floor from the data).
_NOISE_FLOOR = 1e-3
# Latent draws shared by every row in score_samples (at least 2 * n_components).
_N_SCORE_DRAWS = 64
# Fewer shared draws for the per-epoch validation loss (at least n_components
# + 1, the fewest that match the prior's covariance): it only has to rank
# epochs against each other, row by row with the same draws. With 64 draws it
# took a quarter of the training time on digits; with 16 it still took a
# fifth of a Fashion-MNIST VAE fit, and 4 (d=2) or 9 (d=8) kept the same
# epochs and the same model at 0.73-0.83x the time.
_N_VALIDATION_DRAWS = 4
# Elements per decoder pass when looping over Monte Carlo draws.
_MAX_ELEMENTS = 1 << 22


@loadable
@exportable
class VAETransformer(_BaseAutoencoder):
    """Variational autoencoder: nonlinear latent codes and a likelihood-based score.

    The generative model is ``z ~ N(0, I)``, ``x | z ~ p(x | z)`` with a
    decoder network giving the parameters of ``p(x | z)``; the encoder gives
    the approximate posterior ``q(z | x) = N(mu(x), diag(sigma^2(x)))``. The
    networks are trained by maximising the evidence lower bound (ELBO)
    ``E_q[log p(x | z)] - beta * KL(q(z | x) || p(z))`` with the
    reparameterisation trick, the noise drawn from a private generator.

    ``transform`` returns the posterior mean, ``inverse_transform`` the decoder
    mean and ``score_samples`` the ELBO in nats in the original units of X, so
    that it compares directly with :meth:`sklearn.decomposition.PCA.score` and
    :meth:`sklearn.decomposition.FactorAnalysis.score`. A linear VAE
    (``hidden_layer_sizes=()``, ``activation="identity"``, Gaussian
    likelihood) is factor analysis.

    Encoder and decoder are each an affine map plus a nonlinear residual MLP.
    With ``init="linear"`` (the default) training starts from factor
    analysis, with the residual branches at exactly zero, and keeps factor
    analysis unless a trained epoch is significantly better on a held-out
    validation split: the mean ELBO on the validation rows that ``fit``
    holds out of X is then never worse than the exact mean log-likelihood of
    its start (factor analysis with a floor on its noise variances, see
    ``noise_floor_``) on the same rows beyond the noise of that split, and
    the held-out ELBO picks the latent dimension as factor analysis's score
    does. The ELBO is a lower bound on the VAE's log-likelihood;
    :meth:`log_likelihood` gives an importance-sampled estimate closer to
    it. On new rows the comparison holds on average, not row by row, and
    :meth:`sklearn.decomposition.FactorAnalysis.score` can be the higher
    number where columns are constant in the training rows: scikit-learn's
    factor analysis gives them a near-zero noise variance, which inflates
    its score on held-out rows that keep the constant (digits / 16, one
    70/30 split, d=8: VAE 66.4 against 79.6; after
    :class:`~sklearn.feature_selection.VarianceThreshold` the VAE leads, 58.7
    against 40.8; on splits where a held-out row leaves such a column,
    factor analysis's score falls by millions). Compare the two after
    dropping such columns.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space; between 1 and ``n_features``.

    hidden_layer_sizes : tuple of int, default=(128, 64)
        Widths of the encoder's hidden layers; the decoder uses them in
        reverse. ``()`` makes encoder and decoder single affine maps.

    activation : {"relu", "tanh", "logistic", "gelu", "elu", "leaky_relu", \
            "identity"}, default="relu"
        Nonlinearity between the layers of the residual branches.

    encoder : callable, default=None
        ``None`` gives the encoder the default nonlinear branch, an MLP of
        ``hidden_layer_sizes``. A callable ``encoder(n_inputs, n_outputs)``
        returning a ``torch.nn.Module`` (a module class works) supplies the
        branch instead, e.g. a convolutional network for images: it is called
        as ``encoder(n_features, 2 * n_components)`` and maps float32 batches
        of shape ``(batch, n_features)``, standardized for the Gaussian
        likelihood, to ``(batch, 2 * n_components)``: the posterior means, then
        the log-variances. Its output is added to the linear path through a
        learned square linear map (an adapter) that starts at zero with
        ``init="linear"``, so training still starts at factor analysis.

    decoder : callable, default=None
        The same for the decoder: called as ``decoder(n_components,
        n_features)``, mapping latent codes to the decoder's output before
        its link (the mean, or the Bernoulli logits).

    init : {"linear", "random"}, default="linear"
        ``"linear"`` starts from factor analysis of the training data
        (computed from the covariance matrix: one chunked pass over X, then
        ``n_features``-sized eigendecompositions), its loadings rotated so
        that its posterior covariance is diagonal; the encoder then gives the
        exact posterior, the residual branches output zero and the ELBO
        equals factor analysis's log-likelihood. Its noise floor is chosen on
        held-out folds (see ``noise_floor_``). For the Bernoulli likelihood
        the start is a whitened PCA encoder and the best constant decoder.
        ``"random"`` starts from torch's random initialisation.

    likelihood : {"gaussian", "bernoulli"}, default="gaussian"
        ``"gaussian"``: X is standardized internally, the decoder outputs the
        mean and a learned per-feature variance (with a floor) completes the
        density. ``"bernoulli"``: X must lie in [0, 1]; no standardization; the
        decoder outputs logits.

    beta : float, default=1.0
        Weight of the KL term during training (beta-VAE). Scores always use
        the true ELBO (weight 1), the only one that bounds ``log p(x)``.

    batch_size : int or "auto", default="auto"
        Mini-batch size. ``"auto"`` takes ``2 * sqrt(n_train)`` rows, rounded
        and clipped to [16, 256] (and at most ``n_train``): about
        ``sqrt(n_train) / 2`` optimizer steps per epoch, so small data get
        enough steps (67 rows on the 1,131 training rows of digits) and large
        data batches of 256; rows wider
        than 4096 features come at most ``2**20 / n_features`` per batch (but
        at least 16), so that a densified batch stays small.

    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        Torch optimizer; ``"sgd"`` uses Nesterov momentum 0.9.

    learning_rate_init : float, default=1e-3
        Step size. With a validation split the weights judged and kept are an
        exponential moving average of the iterates over about the last 100
        steps (at most an epoch's): the optimizer's last iterate is not the
        model.

    alpha : float, default=1e-4
        L2 penalty (weight decay) on the weight matrices of the residual
        branches, which shrinks the model towards its linear part (factor
        analysis); the affine maps, biases and noise variance are not
        penalised. For ``"adamw"`` it is the decoupled coefficient.

    max_iter : int, default=300
        Maximum number of epochs. More than the autoencoder's 200: a VAE
        learns its posterior variances and noise as well as its means, and
        on all 1,797 digits at d=32 it still gained on its validation rows
        at epoch 199 (it stops at 201).

        .. versionchanged:: 0.3.0
           The default changed from 200 to 300. Models saved with the old
           default keep it.

    tol : float, default=1e-4
        An epoch improves when the loss (negative ELBO per sample, in nats; on
        the validation split when there is one) drops by more than ``tol``
        nats and, on a validation split, by at least half a standard error of
        the paired per-row differences; training stops after more than
        ``n_iter_no_change`` epochs without improvement. Differences of
        log-densities do not depend on the units of X.

    n_iter_no_change : int, default=10
        See ``tol``. On a validation split training also stops when the curve
        has flattened: when the best criterion of the last
        ``n_iter_no_change`` epochs improves on the best before them by less
        than 1% of all it has improved since the starting weights, or by less
        than ``tol`` an epoch on average.

    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the data, stop on its loss and
        keep, at the end, of the weights that beat the starting weights
        (factor analysis) by more than two standard errors (paired by row),
        those whose gain in ELBO is surest (the highest mean gain less one
        standard error), else the starting weights.
        ``"auto"`` does so when the split has at least 10 rows (100 samples at
        the default fraction). ``partial_fit`` never holds out data.

    validation_fraction : float, default=0.1
        Share of the data held out for validation.

    selection : {"loss", "contrast"}, default="loss"
        Which trained weights may replace the linear start. ``"loss"`` keeps
        those that beat it on the validation rows (see ``early_stopping``).
        ``"contrast"``, for anomaly scores, keeps them only if they also widen
        the start's contrast: regressed on the start's loss, the per-row gain
        must fall, by two standard errors, for the rows factor analysis
        explains worst, so that training sharpens the start's ranking rather
        than learn the rows an anomaly score is for (held-out loss alone
        rewards that). Where no epoch does, the start is kept and
        ``score_samples`` ranks rows exactly as the factor-analysis
        log-likelihood. Needs a validation split of at least 3 rows
        (``early_stopping="auto"`` then always holds one out); ``partial_fit``
        selects nothing. See :ref:`anomaly_detection`.

        .. versionadded:: 0.3.0

    shuffle : bool, default=True
        Reshuffle the samples every epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, the reparameterisation noise and the
        fixed draws of ``score_samples`` through a private
        ``torch.Generator``; torch's global random state is untouched.

    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, ``"mps"`` or a ``torch.device``. Resolved at fit into
        ``device_``.

    verbose : int, default=0
        0 is silent, 1 shows a progress bar over epochs, 2 prints one line per
        epoch. Both end with a line that says why training stopped and which
        epoch's weights were kept (``best_epoch_``), e.g. "stopped at epoch 41
        of 200: no significant improvement on the validation rows for 11
        epochs; kept epoch 30".

    warm_start : bool, default=False
        Continue training from the fitted weights instead of reinitialising.

    n_threads : "auto", int or None, default="auto"
        torch and BLAS threads during ``fit``, ``partial_fit`` and batched
        inference, restored afterwards. ``"auto"`` chooses from the work of
        one step: one thread for networks as small as the defaults on
        tabular data (more only adds synchronisation, and fights whatever
        else runs on the machine), more for wide rows and big batches, never
        more than ``torch.get_num_threads()`` (which joblib and dask workers
        lower to their share). An int sets the count; ``None`` leaves torch's
        setting alone.

    distributed : bool, default=False
        Fit one model on the rows of every process of a ``torch.distributed``
        job (``torchrun``, ``srun``, a Ray or Dask launcher): each process
        calls ``fit`` with its own rows, any number of them, and every
        process ends with the same fitted estimator, an ordinary
        one-process object. Moments, the linear start, the validation split,
        gradients and stopping decisions are computed over all the rows (see
        :ref:`distributed`). Needs a process group, which ``fit`` joins when
        a launcher has set ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
        ``MASTER_PORT``; without one it raises. ``False`` fits in this
        process alone.

        .. versionadded:: 0.3.0

    Attributes
    ----------
    n_components_ : int
        Latent dimension.

    mean_ : ndarray of shape (n_features,)
        Per-feature mean removed before encoding (zeros for Bernoulli).

    scale_ : ndarray of shape (n_features,)
        Per-feature unit of the internal standardization: the standard
        deviation, but at least 0.1 times the features' root-mean-square one, so that a
        feature training barely saw vary is not amplified into the networks;
        a constant feature gets ``max(1, |mean|)`` (ones for Bernoulli).

    module_ : torch.nn.Module
        The whole network; ``encoder_`` and ``decoder_`` are its parts.

    encoder_ : torch.nn.Module
        Maps standardized inputs to ``2 * n_components`` outputs: the
        posterior mean and log-variance.

    decoder_ : torch.nn.Module
        Maps latent codes to the standardized mean (or the logits) of
        ``p(x | z)``.

    noise_variance_ : ndarray of shape (n_features,)
        Learned variance of ``p(x | z)`` in the original units of X (Gaussian
        likelihood only).

    noise_floor_ : ndarray of shape (n_features,)
        Smallest allowed variance of ``p(x | z)``, original units (Gaussian
        likelihood only). With ``init="linear"`` it is chosen from the data:
        among 7 candidate floors (shares of each feature's own variance and
        of the mean variance), the one whose factor analysis best predicts 5
        held-out folds of the rows.

    loss_curve_ : list of float
        Training loss per epoch: the negative (beta-)ELBO per sample in nats,
        original units.

    reconstruction_curve_ : list of float
        ``-E_q[log p(x | z)]`` per sample and epoch, original units.

    kl_curve_ : list of float
        ``KL(q(z | x) || p(z))`` per sample and epoch. Values near zero mean
        the posterior has collapsed onto the prior.

    validation_scores_ : list of float or None
        Minus the validation loss per epoch when a validation split was held
        out, else None.

    best_validation_score_ : float
        Minus the validation loss of the weights kept; only set with a
        validation split.

    best_epoch_ : int
        Epoch whose weights were kept; ``0`` (or the epoch count before a
        warm-started fit) means the starting weights, i.e. factor analysis on
        a first fit with ``init="linear"``.

    best_loss_ : float
        Smallest value of ``loss_curve_``.

    n_iter_ : int
        Epochs run, over all calls to ``fit`` (with ``warm_start``) and
        ``partial_fit``.

    n_steps_ : int
        Optimizer steps taken, over all calls.

    device_ : torch.device
        Device holding the network.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    AutoencoderTransformer : Deterministic autoencoder.
    sklearn.decomposition.FactorAnalysis : The linear Gaussian special case.
    sklearn.decomposition.PCA : Probabilistic PCA, isotropic noise.

    References
    ----------
    .. [1] Kingma, D. P. and Welling, M. (2014). Auto-encoding variational
       Bayes. ICLR.
    .. [2] Burda, Y., Grosse, R. and Salakhutdinov, R. (2016). Importance
       weighted autoencoders. ICLR.
    .. [3] Higgins, I. et al. (2017). beta-VAE: learning basic visual concepts
       with a constrained variational framework. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_ae import VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(n_components=4, max_iter=20, tol=10.0, random_state=0,
    ...                      device="cpu")
    >>> Z = vae.fit_transform(X / 16)
    >>> Z.shape
    (1797, 4)
    >>> vae.sample(3, random_state=0).shape
    (3, 64)
    >>> elbo = vae.score(X / 16)
    >>> bool(vae.log_likelihood(X / 16, n_samples=16, random_state=0).mean() > elbo - 1.0)
    True
    """

    _parameter_constraints: dict = {
        **_BaseAutoencoder._parameter_constraints,
        "likelihood": [StrOptions({"gaussian", "bernoulli"})],
        "beta": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(128, 64),
        activation="relu",
        encoder=None,
        decoder=None,
        init="linear",
        likelihood="gaussian",
        beta=1.0,
        batch_size="auto",
        optimizer="adam",
        learning_rate_init=1e-3,
        alpha=1e-4,
        max_iter=300,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping="auto",
        validation_fraction=0.1,
        selection="loss",
        shuffle=True,
        random_state=None,
        device="auto",
        verbose=0,
        warm_start=False,
        n_threads="auto",
        distributed=False,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.encoder = encoder
        self.decoder = decoder
        self.init = init
        self.likelihood = likelihood
        self.beta = beta
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.selection = selection
        self.shuffle = shuffle
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.n_threads = n_threads
        self.warm_start = warm_start
        self.distributed = distributed

    # ------------------------------------------------------------------
    # Model hooks.

    # The loss is a negative ELBO in nats: its differences are free of units.
    _relative_loss = False

    @property
    def _selects_on_held_out_rows(self):
        # The Gaussian start chooses its noise floor on the validation rows.
        return self._observation.name == "gaussian"

    _observation_parameter = "likelihood"
    _loss_terms = ("loss", "reconstruction", "kl")
    _draws_noise = True

    def _build_module(self, n_features, generator):
        encoder_branch, decoder_branch = self._user_branches(
            n_features, 2 * self.n_components_, generator
        )
        return VariationalAutoencoder(
            n_features,
            self.n_components_,
            self._hidden_layer_sizes,
            self._activation,
            generator,
            gaussian_noise=self._observation.name == "gaussian",
            noise_floor=_NOISE_FLOOR,
            encoder_branch=encoder_branch,
            decoder_branch=decoder_branch,
        )

    def _start_linear(self, module, mean, covariance, folds=None):
        n_features, d = covariance.shape[0], self.n_components
        if self._observation.name == "gaussian":
            # Factor analysis of the standardized data (probabilistic PCA for
            # wide sparse data): the encoder gives its exact posterior, so the
            # ELBO is its log-likelihood. Its noise floor is the candidate
            # that best predicts held-out folds of the rows.
            variance = diagonal(covariance)
            constant = variance == 0
            candidates = NOISE_FLOOR_CANDIDATES if folds else (DEFAULT_NOISE_FLOOR,)
            floors = [
                standardized_noise_floor(variance, constant, self.scale_, *c) for c in candidates
            ]
            model, chosen, scores = gaussian_factor_model(
                covariance, self.scale_, d, floors, folds or ()
            )
            # Which candidate won, and every candidate's held-out score;
            # partial_fit re-derives the floor by the winning rule as its
            # running statistics change.
            self._noise_floor_choice = chosen
            self._noise_floor_scores = scores
            self._noise_floor_rule = tuple(candidates[chosen])
            # The data's mean in standardized units: 0 unless X is sparse
            # (scaled, not centred).
            offset = (mean - self.mean_) / self.scale_
            mean_map, mean_bias = model.encoder, -model.encoder @ offset
            log_var = np.log(model.posterior_variance)
            decoder, decoder_bias = model.loadings, offset
            module.start_noise_at(model.noise_variance, floors[chosen])
        else:
            # No linear-Gaussian optimum exists for Bernoulli data: start from
            # whitened principal components, split evenly between posterior
            # mean and posterior variance so that the codes' overall spread
            # matches the prior, and a decoder at the best constant model.
            components, scales = principal_scales(covariance, d)
            mean_map = components / scales[:, None] / np.sqrt(2.0)
            mean_bias = -mean_map @ mean
            log_var = np.full(d, np.log(0.5))
            decoder, decoder_bias = np.zeros((n_features, d)), logit(mean)
        encoder = np.vstack([mean_map, np.zeros((d, n_features))])
        module.encoder.start_at(encoder, np.concatenate([mean_bias, log_var]))
        module.decoder.start_at(decoder, decoder_bias)

    def _scale_changed(self, variance):
        # log|det| of the standardization: densities of standardized data
        # minus this are densities in the original units of X.
        self._log_scale = float(np.log(self.scale_).sum())

    def _rows_added(self, variance):
        # The floor follows the statistics of the rows seen: a pixel
        # constant in partial_fit's first chunk is not constant later.
        rule = getattr(self, "_noise_floor_rule", None)
        if rule is None or self.module_.log_noise_var is None:
            return
        floor = standardized_noise_floor(variance, variance == 0, self.scale_, *rule)
        module = self.module_
        with torch.no_grad():
            floor_t = torch.as_tensor(floor, dtype=module.noise_floor.dtype)
            floor_t = floor_t.to(module.noise_floor.device)
            module.start_noise_at(torch.maximum(module.noise_var(), floor_t), floor_t)

    def _prepare_fit(self, variance, generator):
        self._score_noise = _moment_matched_normal(
            max(_N_SCORE_DRAWS, 2 * self.n_components), self.n_components, generator
        )
        self._validation_noise = _moment_matched_normal(
            max(_N_VALIDATION_DRAWS, self.n_components + 1), self.n_components, generator
        )

    def _log_likelihood(self, module, x, out):
        return self._observation.log_likelihood(x, out, _noise_var(module))

    def _batch_loss(self, module, xb, noise):
        mu, log_var = module.encode(xb)
        eps = noise(mu)
        z = mu + torch.exp(0.5 * log_var) * eps
        # Batch means first, then scalar arithmetic: the same loss as the mean
        # of the per-row terms, with fewer batch-sized operations per step.
        log_likelihood = self._log_likelihood(module, xb, module.decode(z)).mean()
        reconstruction = self._log_scale - log_likelihood
        kl = kl_to_standard_normal(mu, log_var).mean()
        loss = reconstruction + kl if self.beta == 1.0 else reconstruction + self.beta * kl
        terms = {"loss": loss, "reconstruction": reconstruction, "kl": kl}
        return loss, {name: value.detach() for name, value in terms.items()}

    def _sample_losses(self, module, x):
        # Over the fixed validation draws: the same rows always get the same losses.
        expected, kl = self._fixed_noise_terms(module, x, self._validation_noise)
        return self._log_scale - elbo(expected, kl, self.beta)

    def _record_terms(self, term_curves, first_call):
        previous = ([], []) if first_call else (self.reconstruction_curve_, self.kl_curve_)
        self.reconstruction_curve_ = previous[0] + term_curves.get("reconstruction", [])
        self.kl_curve_ = previous[1] + term_curves.get("kl", [])

    def _encode(self, module, xs):
        return module.encode(xs)[0]

    def _fixed_noise_terms(self, module, xs, draws=None):
        """``E_q[log p(x|z)]`` over the shared draws, and the analytic KL, per row."""
        mu, log_var = module.encode(xs)
        std = torch.exp(0.5 * log_var)
        draws = self._score_noise if draws is None else draws
        noise = to_tensor(draws, xs.device, xs.dtype)
        # Summed in float64: how many draws go in one pass depends on the
        # number of rows, and float32 sums grouped differently differ per row.
        wide = torch.float32 if xs.device.type == "mps" else torch.float64  # MPS has no float64
        total = torch.zeros(xs.shape[0], device=xs.device, dtype=wide)
        step = _draws_per_pass(xs)
        for start in range(0, noise.shape[0], step):
            z = mu + std * noise[start : start + step, None, :]
            log_likelihood = self._log_likelihood(module, xs, module.decode(z))
            total = total + log_likelihood.to(wide).sum(0)
        return (total / noise.shape[0]).to(xs.dtype), kl_to_standard_normal(mu, log_var)

    def _score_raw_rows(self, state, x):
        expected, kl = self._fixed_noise_terms(state.module, state.network_input(x))
        # In the rows' dtype: the log-scale of features at 1e30 is large.
        return elbo(expected, kl).to(state.mean.dtype) - self._log_scale

    # ------------------------------------------------------------------
    # Public methods beyond the shared contract.

    def score_samples(self, X):
        """Per-sample evidence lower bound (ELBO), in nats, for X in its original units.

        ``E_q[log p(x | z)] - KL(q(z | x) || p(z))`` with the true KL weight 1
        (whatever ``beta`` trained the model) and the log-Jacobian of the
        internal standardization included, so it is comparable with
        :meth:`sklearn.decomposition.PCA.score_samples` on the same X.

        The KL term is exact. The expectation uses one fixed set of latent
        draws, made at fit and shared by every row: ``2 * max(32,
        n_components)`` antithetic standard-normal vectors rescaled to have
        exactly zero mean and identity covariance. A row's score therefore does
        not depend on the batch it is scored in or on the row order, and the
        expectation is exact whenever ``log p(x | z)`` is quadratic in ``z``
        (the linear Gaussian model).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            Per-sample ELBO, a lower bound on ``log p(x)``.
        """
        return super().score_samples(X)

    @validate_params(
        {
            "X": ["array-like"],
            "n_samples": [Interval(Integral, 1, None, closed="left")],
            "random_state": ["random_state"],
        },
        prefer_skip_nested_validation=True,
    )
    def log_likelihood(self, X, n_samples=100, random_state=None):
        """Importance-weighted (IWAE) estimate of ``log p(x)`` per sample, in nats.

        ``log (1/K) sum_k p(x, z_k) / q(z_k | x)`` with ``K = n_samples``
        draws ``z_k ~ q(z | x)``. Its expectation is at least the ELBO and
        increases towards ``log p(x)`` as ``n_samples`` grows.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Data to evaluate, in original units.
        n_samples : int, default=100
            Importance samples per row.
        random_state : int, RandomState instance or None, default=None
            Seeds the importance samples.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples_X,)
            Estimated log-density of each row.
        """
        X = self._validate_X(X)
        self._check_input_range(X)
        state = self._inference_state(X.dtype)
        generator, _ = make_generator(random_state, state.mean.device)
        rows = partial(self._log_likelihood_rows, n_samples=n_samples, generator=generator)
        return self._batched(state, X, rows)

    def _log_likelihood_rows(self, state, x, *, n_samples, generator):
        """The IWAE estimate of ``log p(x)`` of raw rows, ``n_samples`` draws each."""
        module, xs = state.module, state.network_input(x)
        mu, log_var = module.encode(xs)
        std = torch.exp(0.5 * log_var)
        step = _draws_per_pass(xs)
        log_px_z, log_pz, log_qz = [], [], []
        for start in range(0, n_samples, step):
            k = min(step, n_samples - start)
            eps = torch.randn(
                (k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype
            )
            z = mu + std * eps
            log_px_z.append(self._log_likelihood(module, xs, module.decode(z)))
            log_pz.append(standard_normal_log_density(z))
            log_qz.append(normal_log_density(z, mu, log_var))
        bound = importance_weighted_bound(
            torch.cat(log_px_z), torch.cat(log_pz), torch.cat(log_qz)
        )
        return nan_to_neg_inf(bound.to(state.mean.dtype) - self._log_scale)

    @validate_params(
        {
            "n_samples": [Interval(Integral, 1, None, closed="left")],
            "random_state": ["random_state"],
            "noise": ["boolean"],
        },
        prefer_skip_nested_validation=True,
    )
    def sample(self, n_samples=1, random_state=None, *, noise=True):
        """Draw new data from the model: ``z ~ N(0, I)``, then ``x ~ p(x | z)``.

        With ``noise=False`` each sample is instead the mean of ``p(x | z)``
        at its code: the decoder's output (for ``likelihood="bernoulli"``, its
        probabilities), without the observation noise. That is what is usually
        shown as generated data; the noisy draws are samples of the density
        that :meth:`score` and :meth:`log_likelihood` measure.

        The Gaussian likelihood (the default) does not know the range of the
        data: on pixels in [0, 1] (digits / 16, d=8, three seeds), 19-22% of
        the values of ``sample(noise=False)`` fall outside [0, 1], and 26-27%
        of the noisy draws.
        For data in [0, 1], fit with ``likelihood="bernoulli"``: its samples
        stay in [0, 1] (its means are probabilities, its draws 0 or 1).

        .. versionchanged:: 0.2.0
           The ``noise`` keyword.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws.
        noise : bool, default=True
            Whether to draw ``x ~ p(x | z)`` (True) or return the mean of
            ``p(x | z)`` (False). The codes ``z`` are the same for the same
            ``random_state`` either way.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            Samples in the original units of the training data (float64).
        """
        check_is_fitted(self)
        state = self._inference_state(np.dtype(np.float64))
        generator, _ = make_generator(random_state, state.mean.device)
        with torch.inference_mode():
            z = torch.randn(
                (n_samples, self.n_components_),
                generator=generator,
                device=state.mean.device,
                dtype=state.dtype,
            )
            out = state.module.decode(z)
            if noise:
                xs = self._observation.sample(out, _noise_var(state.module), generator)
            else:
                xs = self._observation.mean(out)
            return to_numpy(state.unstandardize(xs))

    @property
    def noise_floor_(self):
        """Smallest variance of ``p(x | z)`` per feature, in original units of X."""
        if not self._observation.standardizes:
            raise AttributeError("noise_floor_ exists only for likelihood='gaussian'.")
        check_is_fitted(self)
        return to_numpy(self.module_.noise_floor).astype(np.float64) * self.scale_**2

    @property
    def noise_variance_(self):
        if not self._observation.standardizes:
            raise AttributeError("noise_variance_ exists only for likelihood='gaussian'.")
        check_is_fitted(self)
        return to_numpy(self.module_.noise_var()).astype(np.float64) * self.scale_**2


def _moment_matched_normal(n_draws, dim, generator):
    """``n_draws`` N(0, I) draws, rescaled to exactly zero mean and unit covariance.

    Antithetic pairs when there are enough of them (``n_draws >= 2 * dim``),
    which also zeroes every odd moment; otherwise (``dim < n_draws < 2 * dim``)
    independent draws, centred. Matching the first two moments makes the
    average over the draws of anything quadratic in z (a linear decoder's
    log-likelihood) its exact expectation.
    """
    antithetic = n_draws >= 2 * dim
    shape = (n_draws // 2 if antithetic else n_draws, dim)
    raw = torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32)
    draws = to_numpy(raw).astype(np.float64)
    if antithetic:
        draws = np.concatenate([draws, -draws])
    else:
        draws -= draws.mean(axis=0)
    cov = draws.T @ draws / draws.shape[0]
    return draws @ np.linalg.inv(np.linalg.cholesky(cov)).T


def _noise_var(module):
    """The variance of ``p(x | z)`` of a Gaussian model; None for the Bernoulli one."""
    return module.noise_var() if module.log_noise_var is not None else None


def _draws_per_pass(xs):
    """Latent draws per decoder pass so that one pass holds at most ``_MAX_ELEMENTS`` values."""
    return max(1, _MAX_ELEMENTS // max(1, xs.shape[0] * xs.shape[1]))
