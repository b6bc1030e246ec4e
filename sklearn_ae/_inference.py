"""Batched inference: the fitted network run over row batches of X, returned in X's dtype.

``transform``, ``inverse_transform``, ``score_samples`` and the VAE's
``log_likelihood`` each pass one function ``fn(state, rows)`` to
:func:`batched`, which runs it under ``torch.inference_mode`` on batches of
at most :data:`INFERENCE_BATCH` rows (and :data:`INFERENCE_ELEMENTS` values)
and writes the results into one output array. :class:`InferenceState` holds
the network in its own precision (float32, as trained) and the
standardization in the dtype of the rows: float64 rows are standardized in
float64, where range matters (features at 1e30 or 1e-30), and the network
computes in float32; the results come back as float64.

A row's results do not depend on the rows it is computed with (scikit-learn's
``check_methods_subset_invariance``, and users who score in chunks): the state
runs the fitted network through :func:`~sklearn_ae._row_invariant.row_invariant`,
whose linear layers give each row the same float32 arithmetic whatever the
batch, and a single row goes through the two-row kernels every batch uses.
Where the network is still the linear start it was fitted from (an
autoencoder that kept PCA), float64 rows get that linear model in float64
(:func:`exact_linear_model`).
"""

import copy
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch

from ._device import to_numpy, to_tensor
from ._row_invariant import row_invariant, state_fingerprint
from ._sklearn_compat import ADAPTERS_MANAGER, _get_output_config

# Rows per forward pass in transform and scoring: bounds memory on large X.
INFERENCE_BATCH = 8192
# ... and at most this many input values, so wide (sparse) rows come in fewer per batch.
INFERENCE_ELEMENTS = 1 << 21
_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
# Values per block when float64 rows are standardized for the float32 network.
_STANDARDIZE_ELEMENTS = 1 << 15


def inference_rows(n_features):
    """Rows per inference batch: up to INFERENCE_BATCH, up to INFERENCE_ELEMENTS values."""
    return int(np.clip(INFERENCE_ELEMENTS // max(1, n_features), 1, INFERENCE_BATCH))


def all_finite(X):
    """Whether every value of a float ndarray is finite, without an X-sized temporary."""
    with np.errstate(over="ignore", invalid="ignore"):
        # One reduction settles the common case; a non-finite sum may still
        # be an overflow of finite values, so those are checked row block by block.
        if np.isfinite(X.sum()):
            return True
    rows = inference_rows(X.shape[1])
    return all(np.isfinite(X[i : i + rows]).all() for i in range(0, X.shape[0], rows))


def is_finite_float_matrix(X, n_features):
    """Whether X is a non-empty, finite float ndarray of ``n_features`` columns.

    What ``validate_data`` checks of such X, without its generic dispatch,
    which costs more than encoding one row.
    """
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_DTYPES
        and X.shape[0] > 0
        and X.shape[1] == n_features
        and all_finite(X)
    )


class InferenceState(NamedTuple):
    """The fitted network, and the standardization in the dtype of the rows, on one device.

    Attributes
    ----------
    module : torch.nn.Module
        The network, in the precision it was trained in.
    mean, scale : torch.Tensor
        The standardization, in the dtype of the rows (and of the results).
    dtype : torch.dtype
        The network's dtype: what :meth:`to_network` casts to.
    n_weights : int
        The network's parameters, counted once: the work of a forward pass
        per row, from which the thread count of a batch is chosen.
    linear : LinearModel or None
        For float64 rows of a network that is still its linear start: that
        linear model in float64, which the model class evaluates instead of
        the float32 network (see :func:`exact_linear_model`).
    """

    module: torch.nn.Module
    mean: torch.Tensor
    scale: torch.Tensor
    dtype: torch.dtype
    n_weights: int
    linear: "LinearModel | None" = None

    def to_network(self, t):
        """``t`` in the network's dtype."""
        return t.to(self.dtype)

    def standardize(self, x):
        """``(x - mean) / scale``, in the rows' dtype (:meth:`to_network` casts it)."""
        return (x - self.mean) / self.scale

    def network_input(self, x):
        """``(x - mean) / scale`` computed in the rows' dtype, rounded once to the network's.

        Rounded once, the network's input is the float32 value nearest the
        exact one (a large offset loses nothing of a float64 row), and it is
        what 0.2.0 computed: a model saved then gives the same outputs now.
        """
        if x.dtype == self.dtype:
            return self.standardize(x)
        out = torch.empty(x.shape, dtype=self.dtype, device=x.device)
        # Block by block: the float64 difference stays in cache and its buffer
        # is reused, where one X-sized temporary cost a fifth of a transform.
        rows = max(1, _STANDARDIZE_ELEMENTS // max(1, x.shape[1]))
        for start in range(0, x.shape[0], rows):
            block = slice(start, start + rows)
            torch.div(x[block] - self.mean, self.scale, out=out[block])
        return out

    def unstandardize(self, xs):
        """``xs * scale + mean``: the network's rows back in the original units and dtype."""
        if xs.dtype == self.mean.dtype:
            return xs * self.scale + self.mean
        out = torch.empty(xs.shape, dtype=self.mean.dtype, device=xs.device)
        torch.mul(xs, self.scale, out=out)
        return out.add_(self.mean)


class LinearModel(NamedTuple):
    """A linear encoder and decoder in float64.

    ``z = (x - mean) @ components.T`` and ``x = z @ components + mean``.
    """

    components: torch.Tensor
    mean: torch.Tensor

    def encode(self, x):
        return (x - self.mean) @ self.components.T

    def decode(self, z):
        return z @ self.components + self.mean


def exact_linear_model(start, module, device):
    """The float64 :class:`LinearModel` of ``start`` if ``module`` is still that start, else None.

    ``start`` is what the fit recorded of its linear start (a dict with
    ``components``, ``mean`` and the network's ``fingerprint`` at the start),
    or None. The float32 network computes that linear model up to the
    rounding of its weights, which moves a reconstruction error by up to
    about 1e-5 relative; float64 rows get PCA's result to float64 precision
    instead, as long as training did not move the network.
    """
    if start is None or state_fingerprint(module) != start["fingerprint"]:
        return None
    return LinearModel(
        to_tensor(start["components"], device, torch.float64),
        to_tensor(start["mean"], device, torch.float64),
    )


def inference_state(module, mean, scale, device, dtype, linear_start=None):
    """The :class:`InferenceState` of a fitted network for inputs of numpy ``dtype``.

    The network stays in float32, the precision it was trained in, whatever
    the dtype of the rows: a float64 forward pass bought nothing but 2-4x the
    time of ``transform`` and ``score_samples`` (numpy's default dtype is
    float64). Its linear layers run row-invariant
    (:class:`~sklearn_ae._row_invariant.RowInvariantLinear`), so per-row results do
    not depend on how rows are batched. ``linear_start`` is what the fit
    recorded of its linear start (see :func:`exact_linear_model`), or None.
    """
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    # MPS has no float64: float64 rows are standardized on the CPU there.
    if torch_dtype == torch.float64 and device.type == "mps":
        device = torch.device("cpu")
        module = copy.deepcopy(module).to(device=device)
    module.eval()
    linear = None
    if torch_dtype == torch.float64 and device.type != "mps":
        linear = exact_linear_model(linear_start, module, device)
    return InferenceState(
        row_invariant(module).eval(),
        to_tensor(mean, device, torch_dtype),
        to_tensor(scale, device, torch_dtype),
        next(module.parameters()).dtype,
        sum(p.numel() for p in module.parameters()),
        linear,
    )


def batched(state, A, fn):
    """Run ``fn(state, rows)`` over row batches of A, in A's dtype; stack the results.

    Parameters
    ----------
    state : InferenceState
    A : ndarray or sparse matrix of shape (n_samples, n_columns)
    fn : callable
        ``fn(state, rows) -> tensor`` of shape ``(len(rows), ...)``.

    Returns
    -------
    ndarray of shape (n_samples, ...)
    """
    out = None
    # A plain range, not sklearn's gen_batches: its parameter validation
    # alone costs more than encoding a single row.
    step = inference_rows(A.shape[1])
    with torch.inference_mode():
        for start in range(0, A.shape[0], step):
            rows = A[start : start + step]
            if sp.issparse(rows):
                rows = rows.toarray()
            rows = to_tensor(rows, state.mean.device, state.mean.dtype)
            if rows.shape[0] == 1:
                # A single row goes through the two-row kernels that every
                # batch uses (see RowInvariantLinear), once for the whole network.
                batch = fn(state, torch.cat((rows, rows)))[:1]
            else:
                batch = fn(state, rows)
            batch = to_numpy(batch.to(state.mean.dtype))
            if step >= A.shape[0]:
                return batch
            # Written into one output array: a list of batches and its
            # concatenation would hold the output twice.
            if out is None:
                out = np.empty((A.shape[0], *batch.shape[1:]), dtype=batch.dtype)
            out[start : start + batch.shape[0]] = batch
    return out


def with_input_columns(estimator, X_original, Z):
    """Wrap reconstructions as ``set_output`` asks, with the input's column names.

    scikit-learn's ``set_output`` wraps ``transform`` only, and with the
    output names; a reconstruction has the feature names the estimator was
    fitted with (``x0, x1, ...`` when fitted without names).
    """
    container = _get_output_config("transform", estimator)["dense"]
    if container == "default":
        return X_original
    columns = getattr(estimator, "feature_names_in_", None)
    if columns is None:
        columns = [f"x{i}" for i in range(estimator.n_features_in_)]
    adapter = ADAPTERS_MANAGER.adapters[container]
    return adapter.create_container(X_original, Z, columns=list(columns))
