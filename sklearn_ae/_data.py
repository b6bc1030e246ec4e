"""Batch sources: where the training loop gets its mini-batches.

The loop asks a source for the shuffled, standardized batches of one epoch
and knows nothing else about the data. Two sources serve every input:

* :class:`TensorBatches`, the fast case: the training rows standardized once
  into one float32 tensor on the device, batches taken by indexing it with a
  permutation.
* :class:`StreamedBatches`, for data that must not be copied whole: a
  ``numpy.memmap``, an ndarray larger than :func:`stream_bytes` as float32, or
  a ``scipy.sparse`` matrix. Rows are grouped in contiguous blocks of
  :data:`BLOCK_ROWS`; each epoch visits the blocks in a random order, a window
  of :data:`WINDOW_BLOCKS` blocks at a time, and shuffles the rows within the
  window. Each batch's rows are read from X on their own (in file order), then
  standardized (and densified) into a buffer reused from batch to batch: the
  memory a fit holds is a batch, whatever the size of X or of a window. (A
  memmap's pages read stay in the page cache, which the kernel reclaims.)

:func:`training_sources` makes the training source and the validation source
for a fit: the validation rows are drawn row by row, except from a long
memory-mapped array, where whole blocks are held out. :func:`batch_size_for`
is the policy behind ``batch_size="auto"``.
"""

import ctypes
import ctypes.util
import math
import os
import sys
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ._scaling import standardize_into, standardized_tensor

#: Arrays whose float32 copy would exceed this many bytes are streamed, not
#: copied, unless the environment variable :data:`STREAM_BYTES_VARIABLE` says otherwise.
STREAM_BYTES = 1 << 30
#: The environment variable, read at every fit, that overrides :data:`STREAM_BYTES`.
STREAM_BYTES_VARIABLE = "SKLEARN_AE_STREAM_BYTES"
#: Rows per block read from a streamed array.
BLOCK_ROWS = 1024
#: Blocks per shuffling window: rows are shuffled among 64 * 1024 = 65,536 rows.
WINDOW_BLOCKS = 64
#: A streamed array with fewer blocks than this is split into training and
#: validation rows row by row; longer ones, block by block.
MIN_SPLIT_BLOCKS = 20
#: Values read from a streamed array between two trims of the C heap (release_free_heap).
TRIM_VALUES = 1 << 19
#: Rows per evaluation batch of a streamed validation set, and values at most.
EVAL_ROWS = 4096
EVAL_VALUES = 1 << 21


# batch_size="auto": this many times sqrt(n_train) rows per batch, within the bounds below.
_AUTO_BATCH_PER_ROOT = 2
_AUTO_BATCH_BOUNDS = (16, 256)
_AUTO_BATCH_VALUES = 1 << 20


def stream_bytes():
    """The size of float32 copy above which an in-memory array is streamed, in bytes.

    :data:`STREAM_BYTES` (1 GiB), unless the environment variable
    ``SKLEARN_AE_STREAM_BYTES`` holds a positive integer, read at each fit:
    a machine with little memory streams sooner, and a benchmark can compare
    the two sources on one array without touching the package.

    Raises
    ------
    ValueError
        If the variable is set to anything but a positive integer.
    """
    value = os.environ.get(STREAM_BYTES_VARIABLE)
    if value is None or value.strip() == "":
        return STREAM_BYTES
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValueError(
            f"The environment variable {STREAM_BYTES_VARIABLE} must be a positive number of "
            f"bytes; got {value!r}."
        )
    return limit


def streams(X):
    """Whether X is trained on from a :class:`StreamedBatches` source."""
    if sp.issparse(X) or _maps_a_file(X):
        return True
    return X.shape[0] * X.shape[1] * 4 > stream_bytes()


def batch_size_for(batch_size, n_train, n_features):
    """The rows per training batch: ``batch_size``, or the ``"auto"`` policy.

    Parameters
    ----------
    batch_size : int or "auto"
    n_train : int
        Training rows.
    n_features : int

    Returns
    -------
    int
        At most ``n_train``.
    """
    if batch_size != "auto":
        return min(batch_size, n_train)
    # 2 sqrt(n) rows, so sqrt(n) / 2 steps per epoch: small data get
    # enough optimizer steps per epoch (10 steps per epoch left the VAE
    # on digits still improving after 200 epochs, and batches of 64
    # instead of 113 cut the AE's held-out error there by 11%), large data
    # keep batches of 256, whose steps cost little more than smaller ones
    # on wide rows. Very wide rows (sparse text) come fewer per batch, so
    # that a dense batch stays a few MB.
    low, high = _AUTO_BATCH_BOUNDS
    high = max(low, min(high, _AUTO_BATCH_VALUES // n_features))
    size = round(_AUTO_BATCH_PER_ROOT * math.sqrt(n_train))
    return min(int(np.clip(size, low, high)), n_train)


def _maps_a_file(X):
    """Whether X is, or is a view of, a ``numpy.memmap`` (validation returns such views)."""
    while X is not None:
        if isinstance(X, np.memmap):
            return True
        X = getattr(X, "base", None)
    return False


class TensorBatches:
    """Training rows held as one standardized float32 tensor on the device.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    """

    def __init__(self, X):
        self.X = X

    @property
    def n_samples(self):
        return self.X.shape[0]

    def batches(self, batch_size, shuffle, generator):
        """Yield the mini-batches of one epoch (the last one may be smaller)."""
        n_samples = self.X.shape[0]
        if shuffle:
            order = torch.randperm(n_samples, generator=generator, device=self.X.device)
        for start in range(0, n_samples, batch_size):
            if shuffle:
                yield self.X[order[start : start + batch_size]]
            else:
                yield self.X[start : start + batch_size]


class StreamedBatches:
    """Training rows read batch by batch from an array that is never copied whole.

    Parameters
    ----------
    X : ndarray, numpy.memmap or scipy.sparse matrix of shape (n_samples, n_features)
        Sparse matrices are read as CSR.
    mean, scale : ndarray of shape (n_features,)
        Standardization, applied to each batch as it is read.
    device : torch.device
    starts : ndarray of int, optional
        First rows of the blocks of :data:`BLOCK_ROWS` rows this source serves
        (a memory-mapped X's training or validation blocks): memory per
        block, not per row.
    rows : ndarray of int, optional
        Or the rows it serves (sorted), grouped in blocks of
        :data:`BLOCK_ROWS` entries. Neither: all the rows of X.
    """

    def __init__(self, X, mean, scale, device, *, starts=None, rows=None):
        self.X = X
        self.mean, self.scale, self.device = mean, scale, device
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        if self.rows is not None:
            self.n_samples = int(self.rows.shape[0])
            self.n_blocks = math.ceil(self.n_samples / BLOCK_ROWS)
            return
        if starts is None:
            starts = np.arange(0, X.shape[0], BLOCK_ROWS)
        self.starts = np.sort(np.asarray(starts, dtype=np.int64))
        ends = np.minimum(self.starts + BLOCK_ROWS, X.shape[0])
        self.n_samples = int((ends - self.starts).sum())
        self.n_blocks = len(self.starts)

    def _block(self, b):
        """The row indices of block ``b``."""
        if self.rows is not None:
            return self.rows[b * BLOCK_ROWS : (b + 1) * BLOCK_ROWS]
        start = self.starts[b]
        return np.arange(start, min(start + BLOCK_ROWS, self.X.shape[0]))

    def windows(self, shuffle, generator):
        """Yield the row indices of each window, its blocks in a random order if ``shuffle``."""
        order = np.arange(self.n_blocks)
        if shuffle:
            order = _permutation(self.n_blocks, generator)
        for start in range(0, self.n_blocks, WINDOW_BLOCKS):
            blocks = np.sort(order[start : start + WINDOW_BLOCKS])
            yield np.concatenate([self._block(b) for b in blocks])

    def batches(self, batch_size, shuffle, generator):
        """Yield the mini-batches of one epoch; each window's last batch may be smaller.

        Each batch is standardized (and densified) on its own, so sparse rows
        stay sparse until then, into one buffer reused from batch to batch: a
        batch is valid until the next one is drawn (on the CPU it shares the
        buffer's memory). Allocating every batch afresh let glibc's heap grow
        by hundreds of MB on wide sparse rows. On CUDA the batches go through
        pinned host memory, copied asynchronously (:meth:`_pinned_batches`).
        """
        if self.device.type == "cuda":
            yield from self._pinned_batches(batch_size, shuffle, generator)
            return
        buffer = np.empty((batch_size, self.X.shape[1]), dtype=np.float32)
        for rows in self._batch_rows(batch_size, shuffle, generator):
            out = standardize_into(rows, self.mean, self.scale, buffer[: rows.shape[0]])
            yield torch.from_numpy(out).to(self.device)

    def _batch_rows(self, batch_size, shuffle, generator):
        """The raw rows of each batch of one epoch, read from X batch by batch.

        Dense rows are read into one reused array, valid until the next batch. Reading
        a whole window first (65,536 rows) held two windows at once as the
        next was read, 262 MB on 500 float32 features, and allocating each
        batch afresh let glibc's heap grow: a fit's anonymous memory grew by
        160 MB between 50,000 and 200,000 rows of a memmap.
        """
        raw = None
        if not sp.issparse(self.X):
            raw = np.empty((batch_size, self.X.shape[1]), dtype=self.X.dtype)
        # The heap is trimmed every TRIM_VALUES values read (about 50 us a trim).
        trim_every = max(1, TRIM_VALUES // (batch_size * self.X.shape[1]))
        n_batches = 0
        for rows in self.windows(shuffle, generator):
            if shuffle:
                rows = rows[_permutation(rows.shape[0], generator)]
            for start in range(0, rows.shape[0], batch_size):
                if n_batches % trim_every == 0:
                    release_free_heap()
                n_batches += 1
                # In file order within the batch: a memmap is read forwards.
                index = np.sort(rows[start : start + batch_size])
                if raw is None:
                    yield self.X[index]
                else:
                    yield np.take(self.X, index, axis=0, out=raw[: index.shape[0]])

    def _pinned_batches(self, batch_size, shuffle, generator):
        """CUDA batches through two pinned host buffers, copied asynchronously.

        The host standardizes batch i + 1 into one buffer while the device
        still copies from (and computes on) batch i from the other; an event
        recorded after each copy guards a buffer against being overwritten
        before its copy has finished. Each yielded batch is its own device
        tensor.
        """
        shape = (batch_size, self.X.shape[1])
        buffers = [torch.empty(shape, dtype=torch.float32, pin_memory=True) for _ in range(2)]
        copied = [None, None]
        for i, rows in enumerate(self._batch_rows(batch_size, shuffle, generator)):
            k = i % 2
            if copied[k] is not None:
                copied[k].synchronize()
            host = buffers[k][: rows.shape[0]]
            standardize_into(rows, self.mean, self.scale, host.numpy())
            batch = host.to(self.device, non_blocking=True)
            copied[k] = torch.cuda.Event()
            copied[k].record()
            yield batch


def _libc_malloc_trim():
    """glibc's ``malloc_trim``, or None off glibc."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


_MALLOC_TRIM = _libc_malloc_trim() if sys.platform.startswith("linux") else None


def release_free_heap():
    """Give the free pages of the C heap back to the system (glibc only; else nothing).

    A training step allocates and frees torch's batch-sized temporaries.
    Once glibc has freed one large block it raises its threshold for using
    mmap, and later temporaries come from the heap, which fragments and
    keeps the freed pages: a 1-epoch memmap fit's anonymous memory grew by
    30-80 MB between 50,000 and 400,000 rows of 500 features, by run. Trimming
    once per window of 65,536 rows still left 0-80 MB; once every
    :data:`TRIM_VALUES` values read (a batch of 1,024 such rows) left 0-17 MB
    at under 1% of the step time.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _permutation(n, generator):
    """A permutation of ``range(n)`` drawn from the torch generator, as a host array."""
    return torch.randperm(n, generator=generator, device=generator.device).cpu().numpy()


@dataclass(frozen=True)
class Split:
    """Which rows of X train and which validate.

    Attributes
    ----------
    train, validation : ndarray of int
        Row indices; in a random order for in-memory X (the validation
        batches' order), sorted for streamed X (read in runs). ``train`` is
        None when ``blocks`` is given.
    blocks : tuple of (ndarray, ndarray) or None
        For a long memory-mapped X, the start rows of the training and the
        validation blocks of :data:`BLOCK_ROWS` rows: whole blocks are held
        out, and the training rows are never listed one by one.
    """

    train: np.ndarray | None
    validation: np.ndarray
    blocks: tuple | None = None


def validation_split(X, validation_fraction, rng):
    """Draw the validation rows of a fit.

    Rows are drawn one by one, except from a long memory-mapped array, where
    whole blocks are held out so that both sets are read in contiguous runs.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    validation_fraction : float
    rng : numpy.random.RandomState

    Returns
    -------
    Split

    Raises
    ------
    ValueError
        If the split leaves no training row.
    """
    n_samples = X.shape[0]
    n_blocks = math.ceil(n_samples / BLOCK_ROWS)
    if not streams(X) or sp.issparse(X) or n_blocks < MIN_SPLIT_BLOCKS:
        n_val = math.ceil(validation_fraction * n_samples)
        check_split(n_samples, n_val, validation_fraction)
        order = rng.permutation(n_samples)
        if streams(X):
            return Split(np.sort(order[n_val:]), np.sort(order[:n_val]))
        return Split(order[n_val:], order[:n_val])
    blocks = np.arange(0, n_samples, BLOCK_ROWS)
    n_val = math.ceil(validation_fraction * len(blocks))
    check_split(len(blocks), n_val, validation_fraction, unit="blocks of rows")
    order = rng.permutation(len(blocks))
    train_blocks, validation_blocks = blocks[order[n_val:]], blocks[order[:n_val]]

    validation_rows = np.concatenate(
        [np.arange(b, min(b + BLOCK_ROWS, n_samples)) for b in np.sort(validation_blocks)]
    )
    return Split(None, validation_rows, (train_blocks, validation_blocks))


def training_sources(X, mean, scale, device, split):
    """The training and validation batch sources of a fit.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Dense ndarray, numpy.memmap or scipy.sparse matrix.
    mean, scale : ndarray of shape (n_features,)
    device : torch.device
    split : Split or None
        From :func:`validation_split`; None holds out no rows.

    Returns
    -------
    train : TensorBatches or StreamedBatches
    validation : TensorBatches or StreamedBatches or None
        Iterate it with ``shuffle=False`` to evaluate.
    """
    if not streams(X):
        X_all = standardized_tensor(X, mean, scale, device)
        if split is None:
            return TensorBatches(X_all), None
        train = torch.from_numpy(split.train).to(device)
        validation = torch.from_numpy(split.validation).to(device)
        return TensorBatches(X_all[train]), TensorBatches(X_all[validation])
    if sp.issparse(X):
        X = X.tocsr()
    if split is None:
        return StreamedBatches(X, mean, scale, device), None
    # Both sources read their rows from X itself: neither the training nor
    # the validation rows are copied out.
    if split.blocks is not None:
        return tuple(StreamedBatches(X, mean, scale, device, starts=s) for s in split.blocks)
    return tuple(
        StreamedBatches(X, mean, scale, device, rows=rows)
        for rows in (split.train, split.validation)
    )


def check_split(n_units, n_val, validation_fraction, unit="samples"):
    if n_units - n_val < 1:
        raise ValueError(
            f"early_stopping needs at least one training and one validation sample; "
            f"{n_units} {unit} with validation_fraction={validation_fraction} leaves none. "
            "Set early_stopping=False or pass more data."
        )


def evaluation_batches(source):
    """The rows of a validation source, in a fixed order, in batches of bounded size."""
    if isinstance(source, TensorBatches):
        return [source.X]
    rows = int(np.clip(EVAL_VALUES // max(1, source.X.shape[1]), 1, EVAL_ROWS))
    return source.batches(rows, shuffle=False, generator=None)
