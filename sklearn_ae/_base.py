"""The scikit-learn contract shared by both estimators.

``fit``/``partial_fit`` -> ``_fit``: validate, run a
:class:`~sklearn_ae._fitting.Fit`, record its history.
``transform``, ``inverse_transform``, ``score``, feature names, tags, saving
and pickling live here. A model class
(:mod:`sklearn_ae._autoencoder`, :mod:`sklearn_ae._vae`) owns its
constructor and supplies the hooks of :class:`~sklearn_ae._fitting.FitModel`
(build the module, the linear start, the losses by name) and of inference
(encode, per-sample score); it never touches an optimizer. Batched
inference is :mod:`sklearn_ae._inference`; checks beyond the parameter
constraints are :mod:`sklearn_ae._validation`.
"""

import copy
from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._device import threads_for, torch_threads
from ._export import to_onnx
from ._fitting import Fit, FitModel
from ._inference import batched, inference_rows, inference_state, with_input_columns
from ._losses import nan_to_neg_inf
from ._modules import ACTIVATIONS, user_module
from ._observation import OBSERVATIONS
from ._persistence import save
from ._sklearn_compat import (
    Interval,
    StrOptions,
    _fit_context,
)
from ._state import plain_state, restore_pickled_state
from ._validation import check_fit_input, check_inference_input, check_input_range, check_latent


class _BaseAutoencoder(FitModel, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
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
        "selection": [StrOptions({"loss", "contrast"})],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "n_threads": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"), None],
        "warm_start": ["boolean"],
        "distributed": ["boolean"],
    }

    # ------------------------------------------------------------------
    # Hooks a model class provides beyond FitModel's: its networks, inference.

    @property
    def _observation(self):
        """The observation model (see :mod:`sklearn_ae._observation`)."""
        return OBSERVATIONS[getattr(self, self._observation_parameter)]

    def _user_branches(self, n_features, n_encoder_outputs, generator):
        """The user's encoder and decoder branches, None where the default MLP serves."""
        encoder, decoder = self._branch_factories
        if encoder is not None:
            encoder = user_module(encoder, n_features, n_encoder_outputs, generator, "encoder")
        if decoder is not None:
            decoder = user_module(decoder, self.n_components_, n_features, generator, "decoder")
        return encoder, decoder

    @abstractmethod
    def _encode(self, module, xs):
        """Latent codes of standardized inputs (deterministic)."""

    def _decode(self, module, z):
        """Reconstruction of latent codes, in standardized units."""
        return self._observation.mean(module.decode(z))

    @abstractmethod
    def _score_raw_rows(self, state, x):
        """Per-sample score of rows ``x`` (a tensor in the rows' dtype), in the original units.

        ``state`` is the :class:`~sklearn_ae._inference.InferenceState`:
        ``state.network_input(x)`` is what the network takes.
        """

    # ------------------------------------------------------------------
    # Fitting: fit and partial_fit -> _fit (a transaction): validate, run a Fit, record.

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
        X, hidden = check_fit_input(trial, X, first_call)
        history = Fit(trial, hidden, incremental=incremental, first_call=first_call).run(X)
        trial._record(history, first_call)
        trial._fitted_keys = tuple(key for key in trial.__dict__ if key not in kept)
        self.__dict__.clear()
        self.__dict__.update(trial.__dict__)
        return self

    def _record(self, history, first_call):
        """Record what a :class:`~sklearn_ae._fitting.Fit` ran: curves, counters, epoch kept."""
        previous = [] if first_call else self.loss_curve_
        self.loss_curve_ = previous + history.loss_curve
        if first_call:
            self.validation_scores_ = None if history.validation_scores is None else []
            self.best_loss_ = np.inf
            self.n_iter_ = self.n_steps_ = 0
        if history.validation_scores is not None:
            self.validation_scores_ = (self.validation_scores_ or []) + history.validation_scores
            self.best_validation_score_ = history.best_validation_score
        if self.loss_curve_:
            self.best_loss_ = min(self.loss_curve_)
        self.best_epoch_ = self.n_iter_ + history.kept_epoch
        self.n_iter_ += history.n_iter
        self.n_steps_ += history.n_steps
        self._record_terms(history.term_curves, first_call)

    def _check_input_range(self, X):
        """Raise if X lies outside the range the observation model accepts."""
        parameter = self._observation_parameter
        check_input_range(X, self._observation, parameter, getattr(self, parameter))

    # ------------------------------------------------------------------
    # Inference: validate, then batched() over one bound method per output.

    def _inference_state(self, dtype):
        """The :class:`~sklearn_ae._inference.InferenceState` for inputs of ``dtype``, cached."""
        state = self._inference_cache.get(dtype)
        if state is None:
            state = self._inference_cache[dtype] = inference_state(
                self.module_,
                self.mean_,
                self.scale_,
                self.device_,
                dtype,
                getattr(self, "_linear_start", None),
            )
        return state

    def _batched(self, state, A, fn):
        """:func:`~sklearn_ae._inference.batched`, on the thread count its batches call for."""
        work = min(A.shape[0], inference_rows(A.shape[1])) * state.n_weights
        with torch_threads(threads_for(self.n_threads, work)):
            return batched(state, A, fn)

    def _validate_X(self, X):
        return check_inference_input(self, X)

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
        return self._batched(self._inference_state(X.dtype), X, self._transform_rows)

    def _transform_rows(self, state, x):
        return self._encode(state.module, state.network_input(x))

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
        X_original = self._batched(self._inference_state(Z.dtype), Z, self._inverse_transform_rows)
        return with_input_columns(self, X_original, X)

    def _inverse_transform_rows(self, state, z):
        return state.unstandardize(self._decode(state.module, state.to_network(z)))

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
        return self._batched(self._inference_state(X.dtype), X, self._score_rows)

    def _score_rows(self, state, x):
        return nan_to_neg_inf(self._score_raw_rows(state, x))

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
        converts whole pipelines. Needs onnx and skl2onnx (the ``onnx``
        extra: ``pip install ".[onnx]"`` from a clone).

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
        without executing any code from it. Needs ``safetensors``, a
        dependency of the package. Estimators fitted on pandas or polars
        DataFrames keep their ``feature_names_in_``.

        .. versionchanged:: 0.2.0
           DataFrame-fitted estimators save; files get the usual permissions
           (the umask's), not 0600.

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
        # Plain Python and numpy only (see _state): device-free, and
        # skops can vet every type.
        return plain_state(self)

    def __setstate__(self, state):
        # Another version's pickle warns, as scikit-learn's estimators do, and works.
        restore_pickled_state(self, state)
