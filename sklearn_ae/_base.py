"""The scikit-learn contract shared by both estimators.

``fit``/``partial_fit`` -> ``_fit`` -> named steps (check, initialise or
continue, optimizer, train, record), ``transform``, ``inverse_transform``,
``score``, feature names, tags, saving and pickling live here. A model class
(:mod:`sklearn_ae._autoencoder`, :mod:`sklearn_ae._vae`) owns its
constructor and supplies a handful of hooks (build the module, the linear
start, the batch loss, encode, per-sample score); it never touches an
optimizer. Batched inference is :mod:`sklearn_ae._inference`; checks beyond
the parameter constraints are :mod:`sklearn_ae._validation`.
"""

import copy
import warnings
from abc import abstractmethod
from functools import partial
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from ._covariance import diagonal, without_features
from ._data import evaluation_batches, streams, training_sources, validation_split
from ._device import blas_threads_as_torch, flush_denormals, make_generator, resolve_device
from ._export import to_onnx
from ._inference import batched, inference_state, is_finite_float_matrix
from ._losses import nan_to_neg_inf
from ._modules import ACTIVATIONS, user_module
from ._observation import OBSERVATIONS
from ._persistence import plain_state, restore_state, save
from ._scaling import column_moments, column_range, held_out_folds, merge_moments, scale_rule
from ._sklearn_compat import (
    ADAPTERS_MANAGER,
    Interval,
    StrOptions,
    _fit_context,
    _get_output_config,
)
from ._stopping import Monitor, NonFiniteStartError, StoppingRule
from ._training import make_optimizer, train
from ._validation import (
    check_float32_scale,
    check_hidden_layer_sizes,
    check_input_range,
    check_latent,
    check_n_components,
    check_n_components_type,
)

_SPARSE = ("csr", "csc")
# early_stopping="auto" holds out a validation split when it has at least this many rows.
_MIN_AUTO_VALIDATION_ROWS = 10
# batch_size="auto": about this many optimizer steps per epoch, within the bounds below.
_AUTO_STEPS_PER_EPOCH = 10
_AUTO_BATCH_BOUNDS = (16, 256)
_AUTO_BATCH_VALUES = 1 << 20


class _BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class for the autoencoder estimators. Do not use directly.

    It has no ``__init__``: each estimator's own (as :class:`~sklearn.decomposition.PCA`'s
    over ``_BasePCA``) holds its signature, which ``get_params`` reads.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "encoder": [None, callable],
        "decoder": [None, callable],
        "init": [StrOptions({"linear", "random"})],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    # ------------------------------------------------------------------
    # Hooks a model class provides.

    #: The parameter that picks the observation model (``"loss"`` or ``"likelihood"``).
    _observation_parameter: str

    #: Whether the loss is a positive error (its stopping criterion is relative)
    #: rather than a log-density in nats.
    _relative_loss = True

    #: The terms ``_batch_loss`` reports, in order; each but ``"loss"``
    #: (``loss_curve_``) is recorded per epoch as ``<name>_curve_``.
    _loss_terms = ("loss",)

    #: Whether the linear start chooses among candidate models on held-out
    #: rows (and so needs :func:`~sklearn_ae._scaling.held_out_folds`).
    _selects_on_held_out_rows = False

    @property
    def _observation(self):
        """The observation model (see :mod:`sklearn_ae._observation`)."""
        return OBSERVATIONS[getattr(self, self._observation_parameter)]

    @abstractmethod
    def _build_module(self, n_features, generator):
        """Return the freshly initialised ``nn.Module`` (with ``encoder``/``decoder``)."""

    def _user_branches(self, n_features, n_encoder_outputs, generator):
        """The user's encoder and decoder branches, None where the default MLP serves."""
        encoder, decoder = self._branch_factories
        if encoder is not None:
            encoder = user_module(encoder, n_features, n_encoder_outputs, generator, "encoder")
        if decoder is not None:
            decoder = user_module(decoder, self.n_components_, n_features, generator, "decoder")
        return encoder, decoder

    @abstractmethod
    def _start_linear(self, module, mean, covariance, folds=None):
        """Set ``module`` to the linear model of data with this mean and covariance.

        ``mean`` and ``covariance`` are in the original units of X; ``mean_``
        and ``scale_`` are already set. ``folds`` holds the held-out folds
        (:class:`~sklearn_ae._scaling.HeldOutFold`), when the model asks for
        them (``_selects_on_held_out_rows``) and X has any; else None.
        """

    @abstractmethod
    def _batch_loss(self, module, xb):
        """Return ``(loss, terms)`` on a standardized training batch.

        ``terms`` is a detached 1-D tensor of the ``_loss_terms``, in order.
        """

    @abstractmethod
    def _validation_losses(self, module, xv):
        """Per-sample validation losses of standardized rows (deterministic)."""

    @abstractmethod
    def _encode(self, module, xs):
        """Latent codes of standardized inputs (deterministic)."""

    def _decode(self, module, z):
        """Reconstruction of latent codes, in standardized units."""
        return self._observation.mean(module.decode(z))

    @abstractmethod
    def _score_standardized(self, state, xs):
        """Per-sample score of standardized inputs ``xs``, in the original units of X.

        ``state`` is the :class:`~sklearn_ae._inference.InferenceState`.
        """

    def _prepare_fit(self, variance, generator):
        """Set model-specific fitted state at the first fit.

        ``variance`` holds the per-feature variances of X, 0 for constant
        features; ``generator`` is the private random stream.
        """

    def _scale_changed(self, variance):
        """Recompute model state derived from ``mean_``, ``scale_`` and the variances.

        Called at the first fit and whenever ``partial_fit`` updates the
        standardization.
        """

    def _rows_added(self, variance):
        """Update model state that follows the rows seen, after ``partial_fit``'s re-expression.

        ``variance`` holds the running per-feature variances (0 for constant
        features). Unlike :meth:`_scale_changed`, this may change the
        function the model computes.
        """

    # ------------------------------------------------------------------
    # Fitting: fit and partial_fit -> _fit (a transaction) -> the named steps.

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model to X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Update the model with one pass (one epoch) over X.

        The first call initialises the network (its linear start from this
        first X) and the standardization statistics. Later calls merge their
        rows into running statistics of all the rows seen and re-express the
        network in them, so that it computes the same function in the units
        of X before the pass. There is no early stopping and no convergence
        check. Loop over the chunks of a large data set several times, as
        over the epochs of ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if self.__sklearn_is_fitted__():
            # scikit-learn's _fit_context skips validation in partial_fit once
            # fitted; a bad value would then fail deep in torch, unnamed.
            self._validate_params()
        return self._fit(X, incremental=True)

    def _fit(self, X, *, incremental):
        # Fit is a transaction: a copy of the estimator trains and is swapped in
        # only when it succeeds. Whatever fails (bad input, an exception
        # mid-training, a Ctrl-C outside the epoch loop), the estimator and
        # every object it holds (network, optimizer, generator, cached
        # inference copies) stay exactly as they were.
        first_call = not self.__sklearn_is_fitted__() or not (incremental or self.warm_start)
        fitted_keys = set(self.__dict__.get("_fitted_keys", ()))
        # Parameters and what scikit-learn keeps on the estimator (output
        # configuration, callbacks) are shared, not copied: a RandomState
        # given as random_state advances as with any scikit-learn estimator.
        kept = {key: value for key, value in self.__dict__.items() if key not in fitted_keys}
        trial = copy.copy(self)
        trial.__dict__ = dict(kept)
        if not first_call:
            fitted_keys.discard("_inference_cache")
            trial.__dict__.update(copy.deepcopy({key: self.__dict__[key] for key in fitted_keys}))
        # A first call starts from the parameters alone: no attribute of an
        # earlier fit survives into the new one.
        with blas_threads_as_torch():
            trial._fit_unchecked(X, incremental=incremental, first_call=first_call)
        trial._fitted_keys = tuple(key for key in trial.__dict__ if key not in kept)
        self.__dict__.clear()
        self.__dict__.update(trial.__dict__)
        return self

    def _fit_unchecked(self, X, *, incremental, first_call):
        X, hidden = self._check_fit(X, first_call)
        validate = self._uses_validation(X.shape[0], incremental)
        if first_call:
            split = self._initialize(X, hidden, validate)
        else:
            split = self._continue(X, incremental, validate)
        if first_call or not incremental:
            # As MLPRegressor: fit (warm or not) builds a fresh optimizer from
            # the current parameters; partial_fit continues the one it has.
            self._optimizer = self._make_optimizer()
        self._inference_cache = {}
        history = self._train(X, split, incremental)
        self._handle_stop(history, incremental, first_call)
        self._record(history, first_call)
        return self

    def _check_fit(self, X, first_call):
        """Step 1: parameters beyond their constraints, and X; returns X and the layer sizes."""
        name = type(self).__name__
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes, name)
        check_n_components_type(self.n_components, name)
        X = validate_data(
            self, X, reset=first_call, dtype=[np.float64, np.float32], accept_sparse=_SPARSE
        )
        check_n_components(
            self.n_components, X.shape[1], None if first_call else self.n_components_
        )
        self._check_input_range(X)
        return X, hidden

    def _initialize(self, X, hidden, validate):
        """Step 2 of a first fit: standardization, network and linear start; returns the split."""
        n_samples, n_features = X.shape
        self.device_ = resolve_device(self.device)
        self._generator, rng = make_generator(self.random_state, self.device_)
        split = validation_split(X, self.validation_fraction, rng) if validate else None
        self.n_components_ = self.n_components
        # The architecture as fitted: rebuilding the network (unpickling,
        # load) must not follow parameters changed since.
        self._hidden_layer_sizes = hidden
        self._activation = self.activation
        self._branch_factories = (self.encoder, self.decoder)
        linear_start = self.init == "linear"
        standardizes = self._observation.standardizes
        mean, moment = column_moments(X, covariance=linear_start)
        variance = diagonal(moment) if linear_start else moment
        # What is left of a constant feature's variance is rounding: it
        # is none, for the scale and for the linear start alike.
        variance, constant, scale = scale_rule(mean, variance, n_samples)
        if standardizes:
            check_float32_scale(scale, getattr(self, "feature_names_in_", None))
        folds = None
        if linear_start and self._selects_on_held_out_rows:
            folds = held_out_folds(X, mean, variance, constant, split, rng, streamed=streams(X))
        if linear_start:
            moment = without_features(moment, constant)
        if standardizes:
            # Sparse X is scaled without centring, as StandardScaler(with_mean=False)
            # does, so that its batches stay sparse until they are densified
            # one by one; the linear start puts the mean in the biases.
            center = np.zeros(n_features) if sp.issparse(X) else mean
            self.mean_, self.scale_ = center, scale
        else:
            self.mean_, self.scale_ = np.zeros(n_features), np.ones(n_features)
        self.module_ = self._build_module(n_features, self._generator)
        if standardizes:
            # Standardized, a constant feature is 0: its reconstruction is
            # held there (its mean, in original units) instead of drifting
            # with the training noise of the decoder.
            self.module_.output_mask.copy_(torch.as_tensor(~constant, dtype=torch.float32))
            self._bound_branch_inputs(X)
        if linear_start:
            self._start_linear(self.module_, mean, moment, folds)
        self._scale_changed(variance)
        self._prepare_fit(variance, self._generator)
        # Running statistics of every row seen, which partial_fit updates.
        self._moments = (n_samples, mean, variance)
        self._centred = not sp.issparse(X)
        self.loss_curve_ = []
        self.validation_scores_ = [] if validate else None
        self.best_loss_ = np.inf
        self.n_iter_ = 0
        self.n_steps_ = 0
        self.best_epoch_ = 0
        return split

    def _continue(self, X, incremental, validate):
        """Step 2 of a warm start or partial_fit: re-standardize for partial_fit; the split."""
        rng = np.random.RandomState(int(self._generator.initial_seed() % (2**31)))
        split = validation_split(X, self.validation_fraction, rng) if validate else None
        if incremental and self._observation.standardizes:
            self._update_standardization(X)
            # The branch's box grows to hold the new rows (after the exact
            # re-expression, which keeps the old box in the new units).
            self._bound_branch_inputs(X)
            self._rows_added(self._moments[2])
        return split

    def _bound_branch_inputs(self, X):
        """Widen the box of the encoder branch's inputs to hold X's rows, standardized."""
        low, high = column_range(X)
        self.module_.encoder.bound_branch_inputs(
            (low - self.mean_) / self.scale_, (high - self.mean_) / self.scale_
        )

    def _update_standardization(self, X):
        """Merge X into the running statistics and re-express the network in them.

        Each ``partial_fit`` call standardizes with the statistics of all the
        rows seen so far (the statistics of the first chunk alone failed on
        small chunks: a VAE over 10 chunks of digits reached 10 nats where
        ``fit`` reached 54). The network is rescaled so that, in the original
        units of X, it computes the same function as before the update: its
        first layers absorb the new input scaling, its last layers the new
        output scaling (exactly, except inside a user's encoder module).
        """
        count, mean, variance = self._moments
        chunk_mean, chunk_variance = column_moments(X)
        total, mean, variance = merge_moments(
            count, mean, variance, X.shape[0], chunk_mean, chunk_variance
        )
        variance, constant, scale = scale_rule(mean, variance, total)
        center = mean if self._centred else np.zeros_like(mean)
        # x_s(old) = (x_s(new) * scale + center - mean_) / scale_, and the
        # inverse for the outputs.
        self.module_.restandardize(
            scale / self.scale_,
            (center - self.mean_) / self.scale_,
            self.scale_ / scale,
            (self.mean_ - center) / scale,
        )
        self.module_.output_mask.copy_(torch.as_tensor(~constant, dtype=torch.float32))
        self.mean_, self.scale_ = center, scale
        self._moments = (total, mean, variance)
        self._scale_changed(variance)

    def _make_optimizer(self):
        """Step 3: a fresh optimizer over the network's parameters."""
        return make_optimizer(self.optimizer, self.module_, self.learning_rate_init, self.alpha)

    def _train(self, X, split, incremental):
        """Step 4: batch sources, the stopping monitor and the loop; returns its History."""
        train_source, validation_source = training_sources(
            X, self.mean_, self.scale_, self.device_, split
        )
        validation_losses = None
        if validation_source is not None:
            validation_losses = partial(self._held_out_losses, validation_source)
        monitor = Monitor(
            self.module_,
            StoppingRule(self.tol, self.n_iter_no_change, relative=self._relative_loss),
            validation_losses,
            # A continuation's starting weights stand against the loss they
            # were left with, should the continuation diverge.
            start_loss=self.loss_curve_[-1] if self.loss_curve_ else np.inf,
        )
        try:
            with flush_denormals():
                return self._run_epochs(train_source, monitor, incremental)
        except NonFiniteStartError as exc:
            raise ValueError(
                f"{type(self).__name__}: {exc}, so training cannot judge any epoch against it. "
                "Check X for extreme values, or try init='linear' or a smaller "
                "learning_rate_init."
            ) from None

    def _held_out_losses(self, source):
        """Per-row validation losses of the current weights over a batch source."""
        batches = evaluation_batches(source)
        return torch.cat([self._validation_losses(self.module_, xv) for xv in batches])

    def _run_epochs(self, source, monitor, incremental):
        """The training loop (:func:`~sklearn_ae._training.train`): the one seam to replace."""
        return train(
            self.module_,
            self._optimizer,
            partial(self._batch_loss, self.module_),
            source,
            monitor,
            max_iter=1 if incremental else self.max_iter,
            batch_size=self._effective_batch_size(source.n_samples),
            shuffle=self.shuffle,
            generator=self._generator,
            term_names=self._loss_terms,
            stop_early=not incremental,
            verbose=self.verbose,
            epoch_offset=self.n_iter_,
        )

    def _record(self, history, first_call):
        """Step 5: the curves, the counters and the weights kept."""
        self.loss_curve_ = self.loss_curve_ + history.loss_curve
        if history.validation_scores is not None:
            previous = self.validation_scores_ or []
            self.validation_scores_ = previous + history.validation_scores
            self.best_validation_score_ = history.best_validation_score
        if self.loss_curve_:
            self.best_loss_ = min(self.loss_curve_)
        self.best_epoch_ = self.n_iter_ + history.kept_epoch
        self.n_iter_ += history.n_iter
        self.n_steps_ += history.n_steps
        for name in self._loss_terms:
            if name != "loss":
                previous = [] if first_call else getattr(self, f"{name}_curve_")
                setattr(self, f"{name}_curve_", previous + history.term_curves.get(name, []))

    def _check_input_range(self, X):
        """Raise if X lies outside the range the observation model accepts."""
        parameter = self._observation_parameter
        check_input_range(X, self._observation, parameter, getattr(self, parameter))

    def _uses_validation(self, n_samples, incremental):
        """Whether this fit holds out a validation split (never for ``partial_fit``)."""
        if incremental or self.early_stopping is False:
            return False
        if self.early_stopping == "auto":
            return self.validation_fraction * n_samples >= _MIN_AUTO_VALIDATION_ROWS
        return True

    def _effective_batch_size(self, n_train):
        if self.batch_size != "auto":
            return min(self.batch_size, n_train)
        # About 10 steps per epoch: small data get enough optimizer steps per
        # epoch, large data keep batches of 256; very wide rows (sparse text)
        # come fewer per batch, so that a dense batch stays a few MB.
        low, high = _AUTO_BATCH_BOUNDS
        high = max(low, min(high, _AUTO_BATCH_VALUES // self.n_features_in_))
        return min(int(np.clip(n_train // _AUTO_STEPS_PER_EPOCH, low, high)), n_train)

    def _handle_stop(self, history, incremental, first_call):
        name = type(self).__name__
        if history.stop_reason == "diverged":
            if history.n_iter == 0 and first_call and self.init != "linear":
                raise ValueError(
                    f"{name}: the training loss was not finite in the first epoch, so there "
                    f"are no usable weights. Try a smaller learning_rate_init (got "
                    f"{self.learning_rate_init}), init='linear', or check the scale of X."
                )
            # The starting weights of a first fit with the linear start are a
            # usable model (PCA or factor analysis), as are a continuation's.
            # partial_fit keeps the optimizer it has: rebuild it, since its
            # moments may hold the non-finite values.
            self._optimizer = self._make_optimizer()
            epoch = self.n_iter_ + history.kept_epoch
            warnings.warn(
                f"{name}: the training loss became non-finite after "
                f"{self.n_iter_ + history.n_iter} epochs; training stopped and the weights of "
                f"epoch {epoch} were restored (0 is the starting model). Try a smaller "
                f"learning_rate_init (got {self.learning_rate_init}).",
                ConvergenceWarning,
            )
        elif history.stop_reason == "interrupted":
            warnings.warn(
                f"{name}: training interrupted by the user after "
                f"{self.n_iter_ + history.n_iter} epochs; the estimator holds the weights of "
                f"epoch {self.n_iter_ + history.kept_epoch} and is usable.",
                UserWarning,
            )
        elif history.stop_reason == "max_iter" and not incremental:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
            )

    # ------------------------------------------------------------------
    # Inference: validate, then batched() over one bound method per output.

    def _inference_state(self, dtype):
        """The :class:`~sklearn_ae._inference.InferenceState` for inputs of ``dtype``, cached."""
        state = self._inference_cache.get(dtype)
        if state is None:
            state = self._inference_cache[dtype] = inference_state(
                self.module_, self.mean_, self.scale_, self.device_, dtype
            )
        return state

    def _validate_X(self, X):
        check_is_fitted(self)
        # Fast path for a finite float ndarray of the fitted width (no feature
        # names to compare): the same checks validate_data makes, without its
        # generic dispatch. Anything else, including every error case, goes
        # through validate_data.
        if not hasattr(self, "feature_names_in_") and is_finite_float_matrix(
            X, self.n_features_in_
        ):
            return X
        return validate_data(
            self, X, reset=False, dtype=[np.float64, np.float32], accept_sparse=_SPARSE
        )

    def transform(self, X):
        """Encode X into the latent space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Latent codes, in the dtype of X (float64 for integer input).
        """
        X = self._validate_X(X)
        return batched(self._inference_state(X.dtype), X, self._transform_rows)

    def _transform_rows(self, state, x):
        return self._encode(state.module, state.standardize(x))

    def inverse_transform(self, X):
        """Decode latent codes back to the original feature space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Reconstructions in the original units of the training data. With
            ``set_output(transform="pandas")`` (or ``"polars"``) a DataFrame
            whose columns are ``feature_names_in_`` (``x0, x1, ...`` when fitted
            without names).
        """
        check_is_fitted(self)
        Z = check_latent(X, self.n_components_, type(self).__name__)
        X_original = batched(self._inference_state(Z.dtype), Z, self._inverse_transform_rows)
        return self._with_input_columns(X_original, X)

    def _inverse_transform_rows(self, state, z):
        return state.unstandardize(self._decode(state.module, z))

    def _with_input_columns(self, X_original, Z):
        """Wrap reconstructions as ``set_output`` asks, with the input's column names.

        scikit-learn's ``set_output`` wraps ``transform`` only, and with the
        output names; a reconstruction has the feature names the estimator
        was fitted with.
        """
        container = _get_output_config("transform", self)["dense"]
        if container == "default":
            return X_original
        columns = getattr(self, "feature_names_in_", None)
        if columns is None:
            columns = [f"x{i}" for i in range(self.n_features_in_)]
        adapter = ADAPTERS_MANAGER.adapters[container]
        return adapter.create_container(X_original, Z, columns=list(columns))

    def score_samples(self, X):
        """Per-sample score: higher means better explained by the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            See the model class for the exact quantity.
        """
        X = self._validate_X(X)
        self._check_input_range(X)
        return batched(self._inference_state(X.dtype), X, self._score_rows)

    def _score_rows(self, state, x):
        return nan_to_neg_inf(self._score_standardized(state, state.standardize(x)))

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` over X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    # ------------------------------------------------------------------
    # scikit-learn plumbing.

    def __sklearn_is_fitted__(self):
        # check_is_fitted's default scans every attribute; this is the one that matters.
        return hasattr(self, "module_")

    @property
    def _n_features_out(self):
        return self.n_components_

    @property
    def encoder_(self):
        """The fitted encoder network (a ``torch.nn.Module``)."""
        return self.module_.encoder

    @property
    def decoder_(self):
        """The fitted decoder network (a ``torch.nn.Module``)."""
        return self.module_.decoder

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        return tags

    def to_onnx(self, path=None, *, target_opset=None):
        """Export :meth:`transform` as an ONNX model (raw X in, standardization inside).

        A thin convenience over the skl2onnx converter that
        :func:`sklearn_ae.register_onnx_converters` registers, which also
        converts whole pipelines. Needs ``pip install "sklearn-ae[onnx]"``.

        Parameters
        ----------
        path : str or path-like, default=None
            Where to write the model; None writes nothing.
        target_opset : int, default=None
            ONNX opset; None takes the newest that skl2onnx supports.

        Returns
        -------
        model : onnx.ModelProto
            Input ``"X"`` (float32, any number of rows), output ``"Z"``.
        """
        return to_onnx(self, path, target_opset=target_opset)

    def save(self, path):
        """Write the estimator to a safe model file, without pickle.

        The file is a single safetensors file: the network's weights, the
        optimizer's state and every fitted array as tensors, the constructor
        parameters and the other fitted values as JSON in its header, and a
        SHA-256 checksum of both. :func:`sklearn_ae.load` reads it back
        without executing any code from it. Needs ``safetensors``
        (``pip install "sklearn-ae[safe]"``).

        Parameters
        ----------
        path : str or path-like
            Destination; an existing file is replaced only once the new one
            is complete.

        Raises
        ------
        TypeError
            If a parameter holds a value JSON cannot represent (e.g. a custom
            ``encoder``): pickle or ``skops.io`` can store such models.
        """
        save(self, path)

    def __getstate__(self):
        # Plain Python and numpy only (see _persistence): device-free, and
        # skops can vet every type.
        return plain_state(self)

    def __setstate__(self, state):
        restore_state(self, state)
