"""A fit as one object: :class:`Fit`, from checked X to the history the estimator records.

``_BaseAutoencoder._fit`` validates X, runs a :class:`Fit` and records its
:class:`~sklearn_ae._training.History`. A fit reads the parameters once
(:class:`FitParameters`) and calls the model only through the hooks
:class:`FitModel` declares. :meth:`Fit.run` reads top to bottom: a first
fit runs :meth:`~Fit.start` in named steps (random stream, split, architecture,
standardization, network, linear start), a warm start or ``partial_fit``
:meth:`~Fit.resume`; then an optimizer, :meth:`~Fit.train` (batch sources,
monitor, the loop in :meth:`~Fit.run_epochs`) and :meth:`~Fit.report_stop`.
The state the hooks read (standardization, network, generator) is set on the
estimator as it is built; every sum over rows goes through :attr:`Fit.rows`
(:mod:`sklearn_ae._reductions`).
"""

from abc import abstractmethod
from collections import namedtuple
from functools import partial

import numpy as np
import scipy.sparse as sp
import torch

from ._contrast import check_validation_rows
from ._covariance import diagonal, without_features
from ._data import batch_size_for, evaluation_batches, streams, training_sources
from ._device import (
    blas_threads_as_torch,
    flush_denormals,
    make_generator,
    resolve_device,
    threads_for,
    torch_threads,
)
from ._distributed import DistributedRows, process_device
from ._reductions import LocalRows
from ._row_invariant import state_fingerprint
from ._scaling import merge_moments, scale_rule
from ._sklearn_compat import warn_at_caller
from ._stopping import Monitor, NonFiniteStartError, StoppingRule
from ._training import epoch_observer, make_optimizer, train
from ._validation import check_float32_scale

# early_stopping="auto" holds out a validation split when it has at least this many rows.
_MIN_AUTO_VALIDATION_ROWS = 10


class FitModel:
    """The hooks a model class supplies to :class:`Fit`; the estimators inherit it."""

    #: The parameter that picks the observation model (``"loss"`` or ``"likelihood"``).
    _observation_parameter: str

    #: Whether the loss is a positive error (its stopping criterion is relative)
    #: rather than a log-density in nats.
    _relative_loss = True

    #: The terms ``_batch_loss`` reports by name; each but ``"loss"``
    #: (``loss_curve_``) is recorded per epoch by :meth:`_record_terms`.
    _loss_terms = ("loss",)

    #: Whether the linear start chooses among candidate models on held-out
    #: rows (and so needs :func:`~sklearn_ae._scaling.held_out_folds`).
    _selects_on_held_out_rows = False

    @abstractmethod
    def _build_module(self, n_features, generator):
        """Return the freshly initialised ``nn.Module`` (with ``encoder``/``decoder``)."""

    @abstractmethod
    def _start_linear(self, module, mean, covariance, folds=None):
        """Set ``module`` to the linear model of this mean and covariance (units of X).

        ``mean_`` and ``scale_`` are set; ``folds`` holds the held-out folds
        (:class:`~sklearn_ae._scaling.HeldOutFold`) if the model asks for them, else None.
        """

    #: Whether ``_batch_loss`` draws noise, ``n_components_`` values per row.
    _draws_noise = False

    @abstractmethod
    def _batch_loss(self, module, xb, noise):
        """Return ``(loss, terms)`` on a standardized training batch.

        ``terms`` maps each of ``_loss_terms`` to a detached 0-d tensor; ``noise(like)``
        draws standard normal noise shaped like ``like`` from the fit's stream.
        """

    @abstractmethod
    def _sample_losses(self, module, x):
        """Per-row losses of standardized rows, deterministic: what validation judges."""

    def _prepare_fit(self, variance, generator):
        """Set model-specific fitted state at the first fit (``variance``: 0 if constant)."""

    def _scale_changed(self, variance):
        """Recompute state derived from ``mean_``, ``scale_`` and the variances.

        At the first fit and whenever ``partial_fit`` updates the standardization.
        """

    def _rows_added(self, variance):
        """Follow the rows seen (running ``variance``) after ``partial_fit``'s re-expression.

        Unlike :meth:`_scale_changed`, this may change the function the model computes.
        """

    def _record_terms(self, term_curves, first_call):
        """Record the per-epoch curves of the terms other than ``"loss"`` (a dict by name)."""


#: The constructor parameters a fit reads, once, into a :class:`FitParameters`.
FIT_PARAMETERS = (
    "n_components activation encoder decoder init batch_size optimizer learning_rate_init "
    "alpha max_iter tol n_iter_no_change early_stopping validation_fraction selection shuffle "
    "random_state device verbose n_threads distributed"
).split()
FitParameters = namedtuple("FitParameters", FIT_PARAMETERS)


class Fit:
    """One call of ``fit`` or ``partial_fit`` on checked X.

    Parameters
    ----------
    model : FitModel
        The estimator being fitted (a copy, swapped in if the fit succeeds);
        the fit sets its network, standardization and random stream.
    hidden : tuple of int
        The checked ``hidden_layer_sizes``.
    incremental : bool
        ``partial_fit``: one epoch, no early stopping, no validation split.
    first_call : bool
        Whether the fit starts from the parameters alone (not a warm start or
        a later ``partial_fit``).
    """

    def __init__(self, model, hidden, *, incremental, first_call):
        self.model = model
        self.params = FitParameters(*(getattr(model, name) for name in FIT_PARAMETERS))
        self.hidden = hidden
        self.incremental = incremental
        self.first_call = first_call
        self.name = type(model).__name__
        #: Where the fit sums over rows (see :mod:`sklearn_ae._reductions`).
        self.rows = LocalRows()
        #: Epochs run by earlier calls, and the loss they were left with.
        self.epochs_before = 0 if first_call else model.n_iter_
        self.loss_before = np.inf if first_call or not model.loss_curve_ else model.loss_curve_[-1]

    def run(self, X):
        """Train on X; return the :class:`~sklearn_ae._training.History` to record."""
        # One thread count, chosen from the work of a training step, governs
        # torch and the BLAS of the set-up, and is restored afterwards.
        threads = threads_for(self.params.n_threads, self.step_work(X.shape))
        with torch_threads(threads), blas_threads_as_torch():
            if self.params.distributed:
                # The group exists: check_fit_input joined it, or refused.
                self.rows = DistributedRows(X.shape[0], self.device())
            validate = self.uses_validation(self.rows.total_rows(X.shape[0]))
            split = self.start(X, validate) if self.first_call else self.resume(X, validate)
            if self.first_call or not self.incremental:
                # As MLPRegressor: fit (warm or not) builds a fresh optimizer from
                # the current parameters; partial_fit continues the one it has.
                self.model._optimizer = self.make_optimizer()
            self.model._inference_cache = {}
            # A first fit and partial_fit widen the branch's box to hold X; a
            # warm-started fit on new rows does not, and its training clamps them.
            history = self.train(X, split, rows_in_box=self.first_call or self.incremental)
            self.report_stop(history)
        return history

    def uses_validation(self, n_samples):
        """Whether this fit holds out a validation split (never for ``partial_fit``)."""
        p, rows = self.params, self.params.validation_fraction * n_samples
        if self.incremental:
            return False
        if p.selection == "contrast":
            check_validation_rows(self.name, p.early_stopping, rows)
        elif p.early_stopping == "auto":
            return rows >= _MIN_AUTO_VALIDATION_ROWS
        return p.early_stopping is not False

    def batch_size(self, n_train):
        return batch_size_for(self.params.batch_size, n_train, self.model.n_features_in_)

    def step_work(self, shape):
        """Multiply-adds of a training batch's forward pass, for the thread count.

        Of the default networks' layers and affine paths (not a user's modules).
        """
        n_samples, n_features = shape
        d = self.params.n_components
        sizes = (n_features, *self.hidden, d)
        weights = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) + 2 * n_features * d
        n_train = max(1, int(n_samples * (1 - self.params.validation_fraction)))
        return self.batch_size(n_train) * weights

    # ------------------------------------------------------------------
    # A first fit, step by step.

    def start(self, X, validate):
        """Step 1 of a first fit: everything up to the first epoch; returns the split."""
        model, linear = self.model, self.params.init == "linear"
        rng = self.start_random_stream()
        split = self.split(X, validate, rng)
        self.record_architecture()
        mean, moment = self.rows.column_moments(X, covariance=linear)
        variance, constant = self.standardize(X, mean, diagonal(moment) if linear else moment)
        folds = None
        if linear and model._selects_on_held_out_rows:
            folds = self.rows.held_out_folds(
                X, mean, variance, constant, split, rng, streamed=streams(X)
            )
        self.build_network(X, constant)
        # What the model records of its linear start, for float64 inference
        # while the network stays there (see _inference.exact_linear_model).
        model._linear_start = None
        if linear:
            model._start_linear(model.module_, mean, without_features(moment, constant), folds)
        model._scale_changed(variance)
        model._prepare_fit(variance, model._generator)
        if model._linear_start is not None:
            model._linear_start["fingerprint"] = state_fingerprint(model.module_)
        # Running statistics of every row seen, which partial_fit updates.
        model._moments = (self.rows.total_rows(X.shape[0]), mean, variance)
        model._centred = not sp.issparse(X)
        return split

    def start_random_stream(self):
        """The device and the private random stream; returns a numpy stream for the split."""
        model = self.model
        model.device_ = self.device()
        seed = self.rows.shared_seed(self.params.random_state)
        model._generator, rng = make_generator(seed, model.device_)
        return rng

    def device(self):
        """The device this process fits on (its own GPU, under a launcher)."""
        return process_device(resolve_device(self.params.device), self.params.distributed)

    def split(self, X, validate, rng):
        """The validation rows, or None."""
        if not validate:
            return None
        return self.rows.validation_split(X, self.params.validation_fraction, rng)

    def record_architecture(self):
        """The architecture as fitted: rebuilding the network (unpickling, load)
        must not follow parameters changed since."""
        model = self.model
        model.n_components_ = self.params.n_components
        model._hidden_layer_sizes = self.hidden
        model._activation = self.params.activation
        model._branch_factories = (self.params.encoder, self.params.decoder)

    def standardize(self, X, mean, variance):
        """Set ``mean_`` and ``scale_``; returns the variances and the constant features."""
        model = self.model
        # What is left of a constant feature's variance is rounding: it
        # is none, for the scale and for the linear start alike.
        variance, constant, scale = scale_rule(mean, variance, self.rows.total_rows(X.shape[0]))
        if not model._observation.standardizes:
            model.mean_, model.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
            return variance, constant
        check_float32_scale(scale, getattr(model, "feature_names_in_", None))
        # Sparse X is scaled without centring, as StandardScaler(with_mean=False)
        # does, so that its batches stay sparse until they are densified
        # one by one; the linear start puts the mean in the biases.
        model.mean_ = np.zeros(X.shape[1]) if sp.issparse(X) else mean
        model.scale_ = scale
        return variance, constant

    def build_network(self, X, constant):
        """``module_``, with constant features held and the branch's box around X."""
        model = self.model
        model.module_ = model._build_module(X.shape[1], model._generator)
        if model._observation.standardizes:
            # Standardized, a constant feature is 0: its reconstruction is
            # held there (its mean, in original units) instead of drifting
            # with the training noise of the decoder.
            model.module_.output_mask.copy_(torch.as_tensor(~constant, dtype=torch.float32))
            self.bound_branch_inputs(X)

    def bound_branch_inputs(self, X):
        """Widen the box of the encoder branch's inputs to hold X's rows, standardized."""
        model = self.model
        low, high = self.rows.column_range(X)
        model.module_.encoder.bound_branch_inputs(
            (low - model.mean_) / model.scale_, (high - model.mean_) / model.scale_
        )

    # ------------------------------------------------------------------
    # A warm start or a later partial_fit.

    def resume(self, X, validate):
        """Step 1 of a warm start or partial_fit: re-standardize for partial_fit; the split."""
        model = self.model
        rng = np.random.RandomState(int(model._generator.initial_seed() % (2**31)))
        split = self.split(X, validate, rng)
        if self.incremental and model._observation.standardizes:
            self.update_standardization(X)
            # The branch's box grows to hold the new rows (after the exact
            # re-expression, which keeps the old box in the new units).
            self.bound_branch_inputs(X)
            model._rows_added(model._moments[2])
        return split

    def update_standardization(self, X):
        """Merge X into the running statistics and re-express the network in them.

        Each ``partial_fit`` call standardizes with the statistics of all the
        rows seen so far (the statistics of the first chunk alone failed on
        small chunks: a VAE over 10 chunks of digits reached 10 nats where
        ``fit`` reached 54). The network is rescaled so that, in the original
        units of X, it computes the same function as before the update: its
        first layers absorb the new input scaling, its last layers the new
        output scaling (exactly, except inside a user's encoder module).
        """
        model = self.model
        count, mean, variance = model._moments
        chunk_mean, chunk_variance = self.rows.column_moments(X)
        total, mean, variance = merge_moments(
            count, mean, variance, self.rows.total_rows(X.shape[0]), chunk_mean, chunk_variance
        )
        variance, constant, scale = scale_rule(mean, variance, total)
        center = mean if model._centred else np.zeros_like(mean)
        # x_s(old) = (x_s(new) * scale + center - mean_) / scale_, and the
        # inverse for the outputs.
        model.module_.restandardize(
            scale / model.scale_,
            (center - model.mean_) / model.scale_,
            model.scale_ / scale,
            (model.mean_ - center) / scale,
        )
        model.module_.output_mask.copy_(torch.as_tensor(~constant, dtype=torch.float32))
        model.mean_, model.scale_ = center, scale
        model._moments = (total, mean, variance)
        model._scale_changed(variance)

    # ------------------------------------------------------------------
    # Training.

    def make_optimizer(self):
        """A fresh optimizer over the network's parameters."""
        p = self.params
        return make_optimizer(p.optimizer, self.model.module_, p.learning_rate_init, p.alpha)

    def train(self, X, split, rows_in_box=False):
        """Step 3: batch sources, the stopping monitor and the loop; returns its History.

        ``rows_in_box``: whether the encoder branch's box holds every row of X
        (it was just widened to, or is unbounded), so that training need not
        clamp them (:meth:`~sklearn_ae._modules.ResidualMap.inputs_inside_box`).
        """
        model, params = self.model, self.params
        train_source, validation_source = training_sources(
            X, model.mean_, model.scale_, model.device_, split
        )
        validation_losses = None
        if validation_source is not None:
            validation_losses = partial(self.validation_losses, validation_source)
        monitor = Monitor(
            model.module_,
            StoppingRule(params.tol, params.n_iter_no_change, relative=model._relative_loss),
            validation_losses,
            # A continuation's starting weights stand against the loss they
            # were left with, should the continuation diverge.
            start_loss=self.loss_before,
            # The on_epoch observer (benchmarks), shown this estimator.
            on_epoch=None if (seen := epoch_observer()) is None else partial(self.observe, seen),
            contrast=params.selection == "contrast",
        )
        try:
            with flush_denormals(), model.module_.training_inside_box(encoder=rows_in_box):
                return self.run_epochs(train_source, monitor)
        except NonFiniteStartError as exc:
            raise ValueError(
                f"{self.name}: {exc}, so training cannot judge any epoch against it. "
                "Check X for extreme values, or try init='linear' or a smaller "
                "learning_rate_init."
            ) from None

    def validation_losses(self, source):
        """Per-row validation losses of the current weights over a batch source."""
        model, batches = self.model, evaluation_batches(source)
        losses = [model._sample_losses(model.module_, xv) for xv in batches]
        # A process may hold no validation row: it still joins the gathering.
        losses = torch.cat(losses) if losses else torch.zeros(0, device=model.device_)
        return self.rows.validation_losses(losses)

    def observe(self, callback, result):
        module, training = self.model.module_, self.model.module_.training
        callback(self.model, result)
        # Inference cached a copy of the network with the weights it was shown,
        # and left it in eval mode: training goes on as if nobody had looked.
        self.model._inference_cache = {}
        module.train(training)

    def run_epochs(self, source, monitor):
        """The training loop (:func:`~sklearn_ae._training.train`): the one seam to replace."""
        model, params, rows = self.model, self.params, self.rows
        noise = partial(rows.normal, generator=model._generator)
        width = model.n_components_ if model._draws_noise else 0
        rows.begin_training(model.module_, model._loss_terms, width, model._generator)
        return train(
            model.module_,
            model._optimizer,
            partial(model._batch_loss, model.module_, noise=noise),
            source,
            monitor,
            max_iter=1 if self.incremental else params.max_iter,
            batch_size=self.batch_size(rows.total_rows(source.n_samples)),
            shuffle=params.shuffle,
            generator=model._generator,
            term_names=model._loss_terms,
            rows=self.rows,
            stop_early=not self.incremental,
            verbose=params.verbose if rows.rank == 0 else 0,
            epoch_offset=self.epochs_before,
        )

    def report_stop(self, history):
        """Step 4: raise if nothing usable is left; warn why training stopped; the verbose line."""
        p, name = self.params, self.name
        if history.stop_reason == "diverged":
            if history.n_iter == 0 and self.first_call and p.init != "linear":
                raise ValueError(
                    f"{name}: the training loss was not finite in the first epoch, so there "
                    f"are no usable weights. Try a smaller learning_rate_init (got "
                    f"{p.learning_rate_init}), init='linear', or check the scale of X."
                )
            # The starting weights of a first fit with the linear start are a
            # usable model (PCA or factor analysis), as are a continuation's.
            # partial_fit keeps the optimizer it has: rebuild it, since its
            # moments may hold the non-finite values.
            self.model._optimizer = self.make_optimizer()
        warning = history.stop_warning(name, self.epochs_before, p, self.incremental)
        # Once per job (rank 0), not once per process.
        if warning is not None and self.rows.rank == 0:
            warn_at_caller(*warning)
        if p.verbose and not self.incremental and self.rows.rank == 0:
            print(self.stop_message(history), flush=True)

    def stop_message(self, history):
        """One line for verbose fits: why training stopped and which weights were kept."""
        p, before = self.params, self.epochs_before
        text = history.describe_stop(before, p.max_iter, p.tol, p.n_iter_no_change, p.init)
        return f"{self.name}: {text}"
