"""The steps of a fit, which ``_BaseAutoencoder._fit_unchecked`` runs in order.

1. :meth:`~_FitSteps._check_fit`: the parameters beyond their constraints, and X;
2. :meth:`~_FitSteps._initialize` on a first fit (standardization, network,
   linear start) or :meth:`~_FitSteps._continue` on a warm start or
   ``partial_fit`` (which re-standardizes);
3. :meth:`~_FitSteps._make_optimizer`;
4. :meth:`~_FitSteps._train`: batch sources, the stopping monitor, and the
   loop through :meth:`~_FitSteps._run_epochs`, the one seam to replace;
5. :meth:`~_FitSteps._handle_stop` and :meth:`~_FitSteps._record`: warnings,
   curves and counters.

The steps call the model hooks that :class:`~sklearn_ae._base._BaseAutoencoder`
declares and each estimator defines.
"""

import math
import os
import sys
import warnings
from functools import partial

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import validate_data

from ._covariance import diagonal, without_features
from ._data import evaluation_batches, streams, training_sources, validation_split
from ._device import flush_denormals, make_generator, resolve_device
from ._modules import state_fingerprint
from ._scaling import column_moments, column_range, held_out_folds, merge_moments, scale_rule
from ._stopping import FLAT_SHARE, Monitor, NonFiniteStartError, StoppingRule
from ._training import make_optimizer, train
from ._validation import (
    check_float32_scale,
    check_hidden_layer_sizes,
    check_n_components,
    check_n_components_type,
)

SPARSE_FORMATS = ("csr", "csc")
# early_stopping="auto" holds out a validation split when it has at least this many rows.
_MIN_AUTO_VALIDATION_ROWS = 10
# batch_size="auto": this many times sqrt(n_train) rows per batch, within the bounds below.
_AUTO_BATCH_PER_ROOT = 2
_AUTO_BATCH_BOUNDS = (16, 256)
_AUTO_BATCH_VALUES = 1 << 20


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# scikit-learn's _fit_context wraps fit and partial_fit: its frame is not the caller's.
_WRAPPER_FILES = (os.path.join("sklearn", "base.py"),)


def warn_at_caller(message, category):
    """Warn with a ``stacklevel`` that points at the first frame outside this package.

    A fixed ``stacklevel`` would point at a line of the package whose depth
    depends on the path (``fit``, ``partial_fit``, a warm start), so the
    warning named ``_base.py`` instead of the line that called ``fit``.
    """
    level, frame = 2, sys._getframe(1)  # stacklevel=2 is the frame that called this
    while frame is not None and (
        os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR)
        or frame.f_code.co_filename.endswith(_WRAPPER_FILES)
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


class _FitSteps:
    """The fit's steps, a mixin of :class:`~sklearn_ae._base._BaseAutoencoder`."""

    def _check_fit(self, X, first_call):
        """Step 1: parameters beyond their constraints, and X; returns X and the layer sizes."""
        name = type(self).__name__
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes, name)
        check_n_components_type(self.n_components, name)
        X = validate_data(
            self, X, reset=first_call, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS
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
        # What the model records of its linear start, for float64 inference
        # while the network stays there (see _inference.exact_linear_model).
        self._linear_start = None
        if linear_start:
            self._start_linear(self.module_, mean, moment, folds)
        self._scale_changed(variance)
        self._prepare_fit(variance, self._generator)
        if self._linear_start is not None:
            self._linear_start["fingerprint"] = state_fingerprint(self.module_)
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

    def _train(self, X, split, incremental, rows_in_box=False):
        """Step 4: batch sources, the stopping monitor and the loop; returns its History.

        ``rows_in_box``: whether the encoder branch's box holds every row of X
        (it was just widened to, or is unbounded), so that training need not
        clamp them (:meth:`~sklearn_ae._modules.ResidualMap.inputs_inside_box`).
        """
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
            with flush_denormals(), self.module_.training_inside_box(encoder=rows_in_box):
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

    def _uses_validation(self, n_samples, incremental):
        """Whether this fit holds out a validation split (never for ``partial_fit``)."""
        if incremental or self.early_stopping is False:
            return False
        if self.early_stopping == "auto":
            return self.validation_fraction * n_samples >= _MIN_AUTO_VALIDATION_ROWS
        return True

    def _step_work(self, shape, hidden):
        """Multiply-adds of one forward pass of one training batch (for the thread count).

        Called after :meth:`_check_fit`, which has set ``n_features_in_``.

        The default networks' weights, estimated from the layer sizes: the
        encoder's and decoder's MLPs and their affine paths (a user's modules
        are not counted).
        """
        n_samples, n_features = shape
        sizes = (n_features, *hidden, self.n_components)
        weights = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        weights += 2 * n_features * self.n_components
        n_train = max(1, int(n_samples * (1 - self.validation_fraction)))
        return self._effective_batch_size(n_train) * weights

    def _effective_batch_size(self, n_train):
        if self.batch_size != "auto":
            return min(self.batch_size, n_train)
        # 2 sqrt(n) rows, so sqrt(n) / 2 steps per epoch: small data get
        # enough optimizer steps per epoch (10 steps per epoch left the VAE
        # on digits still improving after 200 epochs, and batches of 64
        # instead of 113 cut the AE's held-out error there by 11%), large data
        # keep batches of 256, whose steps cost little more than smaller ones
        # on wide rows. Very wide rows (sparse text) come fewer per batch, so
        # that a dense batch stays a few MB.
        low, high = _AUTO_BATCH_BOUNDS
        high = max(low, min(high, _AUTO_BATCH_VALUES // self.n_features_in_))
        size = round(_AUTO_BATCH_PER_ROOT * math.sqrt(n_train))
        return min(int(np.clip(size, low, high)), n_train)

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
            warn_at_caller(
                f"{name}: the training loss became non-finite after "
                f"{self.n_iter_ + history.n_iter} epochs; training stopped and the weights of "
                f"epoch {epoch} were restored (0 is the starting model). Try a smaller "
                f"learning_rate_init (got {self.learning_rate_init}).",
                ConvergenceWarning,
            )
        elif history.stop_reason == "interrupted":
            warn_at_caller(
                f"{name}: training interrupted by the user after "
                f"{self.n_iter_ + history.n_iter} epochs; the estimator holds the weights of "
                f"epoch {self.n_iter_ + history.kept_epoch} and is usable.",
                UserWarning,
            )
        elif history.stop_reason == "max_iter" and not incremental:
            warn_at_caller(
                f"{name}(n_components={self.n_components}): Maximum iterations "
                f"({self.max_iter}) reached and the optimization hasn't converged yet; kept "
                f"epoch {self.n_iter_ + history.kept_epoch}. Increase max_iter or tol.",
                ConvergenceWarning,
            )
        if self.verbose and not incremental:
            print(self._stop_message(history), flush=True)

    def _stop_message(self, history):
        """One line for verbose fits: why training stopped and which weights were kept."""
        name = type(self).__name__
        last = self.n_iter_ + history.n_iter
        kept = self.n_iter_ + history.kept_epoch
        validated = history.validation_scores is not None
        where = "the validation rows" if validated else "the training loss"
        flat = {
            "share": f"less than {FLAT_SHARE:.0%} of the improvement on {where} since the start",
            "tol": f"less than tol={self.tol:g} an epoch on average on {where}",
        }.get(history.flat_condition)
        reason = {
            "converged": f"stopped at epoch {last} of {self.max_iter}: no significant "
            f"improvement on {where} for {self.n_iter_no_change + 1} epochs",
            "flattened": f"stopped at epoch {last} of {self.max_iter}: the last "
            f"{self.n_iter_no_change} epochs gained {flat}",
            "max_iter": f"reached max_iter={self.max_iter} before the stopping rule was met",
            "diverged": f"stopped at epoch {last}: the training loss became non-finite",
            "interrupted": f"interrupted by the user at epoch {last}",
        }[history.stop_reason]
        if history.kept_epoch == 0 and validated:
            start = "the linear start" if self.init == "linear" else "the starting weights"
            if self.n_iter_:
                start = "the weights it started from"
            kept_text = f"kept {start} (epoch {kept}): no epoch beat it on {where}"
        else:
            kept_text = f"kept epoch {kept}"
        return f"{name}: {reason}; {kept_text}."
