"""AutoencoderTransformer: a deterministic autoencoder as a scikit-learn transformer."""

import numpy as np
import torch

from ._base import _BaseAutoencoder
from ._device import to_tensor
from ._export import exportable
from ._linear import logit, principal_scales
from ._modules import Autoencoder
from ._sklearn_compat import StrOptions
from ._state import loadable


@loadable
@exportable
class AutoencoderTransformer(_BaseAutoencoder):
    """Nonlinear dimensionality reduction with an autoencoder.

    An encoder network maps each sample to ``n_components`` latent
    coordinates and a mirrored decoder maps them back; both are trained
    together to minimise the reconstruction error. Used as a drop-in
    replacement for :class:`~sklearn.decomposition.PCA`: ``transform`` gives
    the codes, ``inverse_transform`` the reconstructions and
    ``score_samples`` minus the reconstruction error (an anomaly score).

    Encoder and decoder are each an affine map plus a nonlinear residual MLP.
    With ``init="linear"`` (the default) training starts from PCA: the affine
    maps are PCA's projection and reconstruction and the residual branches
    output exactly zero, so before the first step ``transform`` and
    ``inverse_transform`` equal :class:`~sklearn.decomposition.PCA`'s; and the
    weights kept at the end are PCA's unless a trained epoch is significantly
    better on a held-out validation split. The estimator's mean squared
    reconstruction error on the validation rows that ``fit`` holds out of X is
    therefore never worse than PCA's on the same rows beyond the noise of
    that split; on new rows this holds on average, not row by row. With
    ``hidden_layer_sizes=()`` the model is linear and is PCA from the start.

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
        as ``encoder(n_features, n_components)`` and maps float32 batches of
        shape ``(batch, n_features)``, standardized for the squared error, to
        ``(batch, n_components)``. Its output is added to the linear path
        through a learned square linear map (an adapter) that starts at zero
        with ``init="linear"``, so training still starts at PCA.

    decoder : callable, default=None
        The same for the decoder: called as ``decoder(n_components,
        n_features)``, mapping codes (in units of the principal components'
        standard deviations) to the decoder's output before its link.

    init : {"linear", "random"}, default="linear"
        ``"linear"`` starts from PCA fitted on the training data (computed
        from the covariance matrix, one chunked pass over X, then an
        ``n_features``-sized eigendecomposition; for the binary cross-entropy,
        a PCA encoder and the best constant decoder). ``"random"`` starts
        from torch's default random initialisation, as before version 0.2.

    loss : {"squared_error", "binary_crossentropy"}, default="squared_error"
        Reconstruction loss. ``"squared_error"`` is the squared error in the
        original units of X: inputs are standardized internally for
        conditioning and the loss is weighted back by ``scale_ ** 2``, so the
        objective is PCA's. ``"binary_crossentropy"`` requires X in [0, 1],
        does not standardize and ends the decoder in a sigmoid.

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
        branches, which shrinks the model towards its linear part; the affine
        maps and biases are not penalised. For ``"adamw"`` it is the decoupled
        weight-decay coefficient.

    max_iter : int, default=200
        Maximum number of epochs.

    tol : float, default=1e-4
        An epoch improves when the loss (the validation loss when there is a
        validation split) falls by more than the fraction ``tol`` of the best
        so far, and, on a validation split, by at least half a standard error
        of the paired per-row differences; training stops after more than
        ``n_iter_no_change`` epochs without improvement. Relative, so the
        rule does not depend on the units or the dynamic range of X.

    n_iter_no_change : int, default=10
        See ``tol``. On a validation split training also stops when the curve
        has flattened: when the best criterion of the last
        ``n_iter_no_change`` epochs improves on the best before them by less
        than 1% of all it has improved since the starting weights, or by less
        than ``tol`` an epoch on average.

    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the data, use its loss as the
        stopping criterion and keep, at the end, of the weights that beat the
        starting weights by more than two standard errors (paired by row),
        those whose gain is surest (the highest mean gain less one standard
        error), else the starting weights.
        ``"auto"`` does so when the split has at least 10 rows (100 samples at
        the default fraction). ``partial_fit`` never holds out data.

    validation_fraction : float, default=0.1
        Share of the data held out for validation.

    selection : {"loss", "contrast"}, default="loss"
        Which trained weights may replace the linear start. ``"loss"`` keeps
        those that beat it on the validation rows (see ``early_stopping``).
        ``"contrast"``, for anomaly scores, keeps them only if they also widen
        the start's contrast: regressed on the start's loss, the per-row gain
        must fall, by two standard errors, for the rows PCA explains worst, so
        that training sharpens the start's ranking rather than learn the rows
        an anomaly score is for (held-out loss alone rewards that). Where no
        epoch does, the start is kept and ``score_samples`` ranks rows exactly
        as PCA's reconstruction error. Needs a validation split of at least 3
        rows (``early_stopping="auto"`` then always holds one out);
        ``partial_fit`` selects nothing. See :ref:`anomaly_detection`.

        .. versionadded:: 0.3.0

    shuffle : bool, default=True
        Reshuffle the samples every epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the validation split
        through a private ``torch.Generator``; torch's global random state is
        neither read nor changed. An int gives identical results on the same
        machine.

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
        Per-feature mean removed before encoding (zeros for binary
        cross-entropy).

    scale_ : ndarray of shape (n_features,)
        Per-feature unit of the internal standardization: the standard
        deviation, but at least 0.1 times the features' root-mean-square one, so that a
        feature training barely saw vary is not amplified into the networks;
        a constant feature gets ``max(1, |mean|)`` (ones for binary
        cross-entropy).

    module_ : torch.nn.Module
        The whole network; ``encoder_`` and ``decoder_`` are its parts.

    encoder_ : torch.nn.Module
        Maps standardized inputs to latent codes.

    decoder_ : torch.nn.Module
        Maps latent codes to standardized reconstructions (logits for binary
        cross-entropy).

    loss_curve_ : list of float
        Training loss per epoch: the squared error divided by the total
        variance of the training data (1.0 is what predicting the mean
        achieves), or the mean per-feature cross-entropy.

    validation_scores_ : list of float or None
        Minus the validation loss per epoch when a validation split was held
        out, else None.

    best_validation_score_ : float
        Minus the validation loss of the weights kept; only set with a
        validation split.

    best_epoch_ : int
        Epoch whose weights were kept; ``0`` (or the epoch count before a
        warm-started fit) means the starting weights, i.e. PCA on a first fit
        with ``init="linear"``.

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
    VAETransformer : Variational autoencoder with a likelihood-based score.
    sklearn.decomposition.PCA : The linear special case.

    References
    ----------
    .. [1] Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the
       dimensionality of data with neural networks. Science, 313(5786).
    .. [2] Baldi, P. and Hornik, K. (1989). Neural networks and principal
       component analysis: learning from examples without local minima.
       Neural Networks, 2(1).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_ae import AutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=8, max_iter=20, tol=1.0, random_state=0,
    ...                             device="cpu")
    >>> Z = ae.fit_transform(X / 16)
    >>> Z.shape
    (1797, 8)
    >>> ae.inverse_transform(Z).shape
    (1797, 64)
    >>> bool(ae.score(X / 16) < 0)
    True
    """

    _parameter_constraints: dict = {
        **_BaseAutoencoder._parameter_constraints,
        "loss": [StrOptions({"squared_error", "binary_crossentropy"})],
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
        loss="squared_error",
        batch_size="auto",
        optimizer="adam",
        learning_rate_init=1e-3,
        alpha=1e-4,
        max_iter=200,
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
        self.loss = loss
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

    _observation_parameter = "loss"

    def _build_module(self, n_features, generator):
        encoder_branch, decoder_branch = self._user_branches(
            n_features, self.n_components_, generator
        )
        return Autoencoder(
            n_features,
            self.n_components_,
            self._hidden_layer_sizes,
            self._activation,
            generator,
            encoder_branch=encoder_branch,
            decoder_branch=decoder_branch,
        )

    def _start_linear(self, module, mean, covariance, folds=None):
        components, latent_scale = principal_scales(covariance, self.n_components)
        # The codes are PCA's, in the units of X, and the network computes in
        # float32: their scales must be float32 numbers, with room to spare.
        low, high = np.finfo(np.float32).tiny * 1e3, np.finfo(np.float32).max * 1e-3
        if latent_scale.min() < low or latent_scale.max() > high:
            raise ValueError(
                "AutoencoderTransformer computes in float32, but the principal components of "
                f"X have standard deviations from {latent_scale.min():.3g} to "
                f"{latent_scale.max():.3g}, outside the range float32 holds with room "
                f"({low:.3g} to {high:.3g}); rescale X, e.g. with StandardScaler."
            )
        # The data's mean in the network's input units: 0 unless the inputs
        # are not centred (sparse X, or the binary cross-entropy).
        offset = (mean - self.mean_) / self.scale_
        if self._observation.standardizes:
            # PCA's code, (x - mean) @ components.T, of standardized input,
            # in units of latent_scale; the decoder maps it back.
            encoder = components * self.scale_ / latent_scale[:, None]
            decoder = (components.T * latent_scale) / self.scale_[:, None]
            decoder_bias = offset
        else:
            # The decoder emits logits: start it at the best constant
            # model, logit(mean), and let training learn its weights.
            encoder = components / latent_scale[:, None]
            decoder = np.zeros(components.T.shape)
            decoder_bias = logit(mean)
        module.encoder.start_at(encoder, -encoder @ offset)
        module.decoder.start_at(decoder, decoder_bias)
        module.latent_scale.copy_(torch.as_tensor(latent_scale, dtype=torch.float32))
        if self._observation.standardizes:
            # PCA in float64, for float64 rows while the network is this start.
            self._linear_start = {"components": components, "mean": mean}

    def _scale_changed(self, variance):
        n_features = self.scale_.shape[0]
        weight = np.full(n_features, 1.0 / n_features)
        if self._observation.standardizes:
            # Weighting by scale_**2 turns standardized errors back into
            # original units; dividing by the total variance makes the loss
            # the fraction of variance left unexplained (1.0 is the mean's).
            # A constant feature (variance 0 here) has no variance to
            # explain, and its scale_ (its magnitude) squared over the others'
            # variance can overflow float32: it keeps the average weight,
            # 1 / n_features, which still holds its reconstruction at its
            # constant value.
            constant = variance == 0
            total_var = float(variance.sum())
            if total_var > 0:
                weight[~constant] = self.scale_[~constant] ** 2 / total_var
        self._loss_weight = to_tensor(weight, self.device_)

    def _batch_loss(self, module, xb, noise):
        loss = self._sample_losses(module, xb).mean()
        return loss, {"loss": loss.detach()}

    def _sample_losses(self, module, x):
        return self._observation.reconstruction_error(x, module(x), self._loss_weight)

    def _encode(self, module, xs):
        return module.encode(xs)

    def _transform_rows(self, state, x):
        if state.linear is not None:
            return state.linear.encode(x)
        return super()._transform_rows(state, x)

    def _inverse_transform_rows(self, state, z):
        if state.linear is not None:
            return state.linear.decode(z)
        return super()._inverse_transform_rows(state, z)

    def _score_raw_rows(self, state, x):
        if x.dtype != state.dtype and self._observation.standardizes:
            # float64 rows: the squared error in the original units, in float64,
            # as ||inverse_transform(transform(x)) - x||^2 (scale_**2 of features
            # at 1e30 would overflow float32), through the same two steps, so a
            # kept PCA start is scored as PCA in float64; in place, one temporary.
            x_hat = self._inverse_transform_rows(state, self._transform_rows(state, x))
            return -x_hat.sub_(x).square_().sum(dim=1)
        module = state.module
        # Through the codes, as inverse_transform(transform(X)) goes, not
        # forward(), which skips their scaling: in float32 the two differ.
        out = module.decode(self._encode(module, state.network_input(x)))
        # float32 rows are compared standardized, where a large offset cancels;
        # scale_ is all ones for the Bernoulli loss (which takes logits).
        xs = state.standardize(x)
        return -self._observation.reconstruction_error(
            xs, out.to(x.dtype), state.scale**2, row_invariant=True
        )

    def score_samples(self, X):
        """Minus the per-sample reconstruction error, in the original units of X.

        For ``loss="squared_error"`` this is ``-sum_j (x_j - x_hat_j)^2``; for
        ``"binary_crossentropy"`` minus the summed cross-entropy. Lower means
        more anomalous.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Per-sample scores (always <= 0 for squared error).
        """
        return super().score_samples(X)
