"""A fit over several processes on ``torch.distributed`` (``distributed=True``).

Every process of a job (``torchrun``, ``srun``, a Ray or Dask launcher)
calls ``fit`` on its own rows; :class:`DistributedRows` replaces the one
process's :class:`~sklearn_ae._reductions.LocalRows`, so that each sum over
rows the fit makes is over every process's rows:

* the column moments and the covariance behind the linear start: each
  process's count, mean and (co)variance, gathered and merged in rank order
  (Chan et al.), the same on every process;
* the validation split and the noise floor's held-out folds: drawn over
  global row indices, rank 0's rows first, from the seed every process
  shares (rank 0's, broadcast, when ``random_state`` is None);
* each optimizer step: every process takes its share of one global batch
  (:meth:`DistributedRows.plan`: the same number of steps everywhere; a
  process whose rows ran out takes empty steps), its loss scaled by its rows
  over the global batch's, and the gradients summed over the processes in
  one all-reduce of a flat buffer, so every process takes the same fused
  Adam step. The VAE's noise is drawn for the whole global batch from the
  shared generator, each process using its rows' draws (positions taken in
  turn: a global batch interleaves the processes' rows);
* the epoch's mean terms and the validation losses (gathered whole), so
  every process takes the same stop and keep decisions in the same epoch.

One process's batches shuffle with a generator of its own, seeded from the
shared seed and the rank. With ``shuffle=False`` and interleaved shards
(``X[rank::world_size]``) whose global batch size is a multiple of the
number of processes, the steps are one process's steps on X, up to the
order of the sums.
"""

import os

import numpy as np
import torch
import torch.distributed as dist
from sklearn.utils import check_random_state

from ._data import Split, check_split
from ._reductions import LocalRows
from ._scaling import (
    MAX_DENSE_COVARIANCE_FEATURES,
    N_FOLDS,
    _fold,
    column_moments,
    column_range,
)

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def start_process_group(device):
    """Make sure a process group exists: join the launcher's, or raise.

    A launcher that sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` (``torchrun`` does) without initialising a group gets
    one: NCCL for a CUDA device, else gloo. Without either, a fit with
    ``distributed=True`` is refused: N processes that each fitted their own
    rows alone would silently give N different models.

    Parameters
    ----------
    device : torch.device
    """
    if not dist.is_available():
        raise RuntimeError("distributed=True needs torch.distributed, which this torch lacks.")
    if dist.is_initialized():
        return
    if all(name in os.environ for name in _TORCHRUN_VARIABLES):
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return
    raise ValueError(
        "distributed=True needs a torch.distributed process group: run the script under "
        "torchrun (e.g. `torchrun --nproc-per-node=2 script.py`), or call "
        "torch.distributed.init_process_group() before fit. To fit in this process alone, "
        "set distributed=False."
    )


def process_device(device, distributed=True):
    """One GPU per process: ``cuda`` becomes ``cuda:LOCAL_RANK`` under a launcher."""
    if (
        distributed
        and device.type == "cuda"
        and device.index is None
        and "LOCAL_RANK" in os.environ
    ):
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def agreed(step):
    """Run ``step()`` on every process; if any raises, raise on all, promptly.

    A process whose rows fail validation would otherwise leave the others
    waiting in the fit's first collective until the group's timeout. The
    process that failed raises its own exception; the others raise a
    ValueError naming its rank and message.
    """
    result, error = None, None
    try:
        result = step()
    except Exception as exc:  # noqa: BLE001 (re-raised below, on every process)
        error = exc
    messages = [None] * dist.get_world_size()
    dist.all_gather_object(messages, None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    failed = [(rank, message) for rank, message in enumerate(messages) if message is not None]
    if failed:
        rank, message = failed[0]
        raise ValueError(f"distributed fit: process {rank} failed: {message}")
    return result


class DistributedRows(LocalRows):
    """The reductions over rows of a fit whose rows are spread over a process group.

    Parameters
    ----------
    n_local : int
        This process's rows.
    device : torch.device
        The model's device (NCCL reduces CUDA tensors, gloo CPU ones).
    """

    def __init__(self, n_local, device):
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        nccl = dist.get_backend() == "nccl"
        self.comm_device = device if nccl else torch.device("cpu")
        self.counts = self.gather_counts(n_local)
        self.offset = int(self.counts[: self.rank].sum())
        self.n_local = int(n_local)
        # Replaced by validation_split when the fit holds rows out.
        self.train_counts = self.counts
        self.validation_counts = np.zeros_like(self.counts)

    # ------------------------------------------------------------------
    # Collectives.

    def _to_comm(self, array):
        return torch.as_tensor(np.asarray(array, dtype=np.float64)).to(self.comm_device)

    def gather_counts(self, n):
        """Every process's ``n``, by rank (a numpy array of int64)."""
        local = torch.tensor([int(n)], dtype=torch.int64, device=self.comm_device)
        parts = [torch.zeros_like(local) for _ in range(self.world_size)]
        dist.all_gather(parts, local)
        return torch.cat(parts).cpu().numpy()

    def _gather_padded(self, tensor, counts):
        """Every process's ``tensor`` (rows ``counts[rank]``), concatenated in rank order."""
        width = int(max(counts.max(), 1))
        padded = torch.zeros((width, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
        padded[: tensor.shape[0]] = tensor
        parts = [torch.zeros_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded.to(self.comm_device))
        return torch.cat([part[:count] for part, count in zip(parts, counts)]).to(tensor.device)

    def shared_seed(self, random_state):
        """``random_state`` itself when it is an int, else a seed rank 0 draws from it."""
        if isinstance(random_state, (int, np.integer)):
            return random_state
        seed = [int(check_random_state(random_state).randint(np.iinfo(np.int32).max))]
        dist.broadcast_object_list(seed, src=0)
        return seed[0]

    # ------------------------------------------------------------------
    # The reductions of LocalRows, over every process's rows.

    def total_rows(self, n_local):
        return int(self.gather_counts(n_local).sum())

    def column_moments(self, X, covariance=False, rows=None):
        n = X.shape[0] if rows is None else len(rows)
        n_features = X.shape[1]
        if covariance and n_features > MAX_DENSE_COVARIANCE_FEATURES:
            raise ValueError(
                f"distributed=True keeps the covariance of the linear start as a matrix; X has "
                f"{n_features} features, more than {MAX_DENSE_COVARIANCE_FEATURES}. Reduce the "
                "features, or use init='random'."
            )
        shape = (n_features, n_features) if covariance else (n_features,)
        mean, moment = np.zeros(n_features), np.zeros(shape)
        if n > 0:
            mean, moment = _dense_moments(X, covariance, rows)
        counts = self.gather_counts(n)
        means = self._gather_padded(self._to_comm(mean[None]), np.ones_like(counts))
        moments = self._gather_padded(self._to_comm(moment[None]), np.ones_like(counts))
        means, moments = means.cpu().numpy(), moments.cpu().numpy()
        count, mean, moment = 0, np.zeros(n_features), np.zeros(shape)
        for k, m, v in zip(counts, means, moments):
            if k == 0:
                continue
            total = count + k
            delta = m - mean
            spread = np.outer(delta, delta) if covariance else delta**2
            moment = (moment * count + v * k + spread * (count * k / total)) / total
            mean, count = mean + delta * (k / total), total
        return mean, moment

    def column_range(self, X):
        n_features = X.shape[1]
        low, high = np.full(n_features, np.inf), np.full(n_features, -np.inf)
        if X.shape[0] > 0:
            low, high = column_range(X)
        low, high = self._to_comm(low), self._to_comm(high)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        return low.cpu().numpy(), high.cpu().numpy()

    def epoch_means(self, total, n_samples):
        packed = torch.cat([total.detach().reshape(-1).double(), total.new_tensor([n_samples])])
        packed = packed.double().to(self.comm_device)
        dist.all_reduce(packed)
        return (packed[:-1] / packed[-1]).to(total.dtype).to(total.device)

    def gradients(self, params):
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads]).to(self.comm_device)
        dist.all_reduce(flat)
        flat = flat.to(params[0].device)
        start = 0
        for p, g in zip(params, grads):
            p.grad = flat[start : start + g.numel()].view_as(p)
            start += g.numel()

    def validation_losses(self, losses):
        return self._gather_padded(losses.reshape(-1), self.validation_counts)

    # ------------------------------------------------------------------
    # Global row indices: rank 0's rows first.

    def local_indices(self, rows):
        """This process's rows among global row indices ``rows``, as local indices (sorted)."""
        rows = np.sort(np.asarray(rows))
        mine = rows[(rows >= self.offset) & (rows < self.offset + self.n_local)]
        return mine - self.offset

    def validation_split(self, X, validation_fraction, rng):
        n = int(self.counts.sum())
        n_val = int(np.ceil(validation_fraction * n))
        check_split(n, n_val, validation_fraction)
        order = rng.permutation(n)
        validation = np.sort(order[:n_val])
        self.validation_counts = np.array(
            [np.count_nonzero((validation >= a) & (validation < a + c)) for a, c in self._ranges()]
        )
        self.train_counts = self.counts - self.validation_counts
        return Split(self.local_indices(order[n_val:]), self.local_indices(validation))

    def _ranges(self):
        starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        return list(zip(starts, self.counts))

    def held_out_folds(self, X, mean, variance, constant, split, rng, *, streamed):
        """The noise floor's folds over the global rows, their moments as matrices."""
        n = int(self.counts.sum())
        sparse_too_wide = hasattr(X, "tocsr") and X.shape[1] > MAX_DENSE_COVARIANCE_FEATURES // 4
        if n < 2 * N_FOLDS or sparse_too_wide:
            return None
        order = rng.permutation(n)
        return [
            _fold(
                X,
                self.local_indices(rows),
                mean,
                variance,
                constant,
                as_matrix=True,
                moments=self.column_moments,
                n_samples=n,
                n_rows=len(rows),
            )
            for rows in np.array_split(order, N_FOLDS)
        ]

    # ------------------------------------------------------------------
    # The steps of an epoch.

    def begin_training(self, module, term_names, noise_width, generator):
        """Remember what empty steps need; seed this process's shuffling stream."""
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.term_names, self.noise_width = term_names, noise_width
        self._generator_for_noise = generator
        device = self.params[0].device
        self.shuffle_generator = torch.Generator(device=device)
        # Each process shuffles its own rows: the shared stream stays for the
        # noise, which every process draws for the whole global batch.
        seed = (generator.initial_seed() * 1_000_003 + 7919 * (self.rank + 1)) % (2**63)
        self.shuffle_generator.manual_seed(seed)
        self.step_total, self.positions = 0, None

    def steps_per_epoch(self, n_samples, batch_size):
        return self.plan(batch_size)[1]

    def batches(self, source, batch_size, shuffle, generator):
        sizes, steps = self.plan(batch_size)
        mine = source.batches(int(sizes[self.rank]), shuffle, self.shuffle_generator)
        for step in range(steps):
            rows = self.step_rows(sizes, step)
            self.step_total = int(rows.sum())
            self.positions = self.noise_positions(rows)
            xb = next(mine, None) if rows[self.rank] > 0 else None
            if xb is None:
                xb = torch.empty((0, source.X.shape[1]), device=self.params[0].device)
            yield xb

    def batch_loss(self, batch_loss, xb):
        if xb.shape[0] == 0:
            if self.noise_width:
                # Keep the shared stream where the other processes' draws leave it.
                like = torch.empty((0, self.noise_width), device=xb.device)
                self.normal(like, self._generator_for_noise)
            zero = sum((p * 0).sum() for p in self.params)
            return zero, {name: zero.detach() for name in self.term_names}
        loss, terms = batch_loss(xb)
        return loss * (xb.shape[0] / self.step_total), terms

    def normal(self, like, generator):
        shape = (self.step_total, like.shape[1])
        full = torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
        return full[torch.as_tensor(self.positions, device=like.device)]

    def plan(self, batch_size):
        """Every process's rows per step, and the steps of an epoch (the same everywhere).

        A global batch of ``batch_size`` rows takes from each process its
        share, ``batch_size * n_rank / n_train`` rounded, over the steps one
        process would take; a share that would need more steps grows to fit
        them (else one process's last rows would make a tiny step of their
        own), and a process whose rows run out sooner takes empty steps.
        """
        counts = self.train_counts
        total = max(int(counts.sum()), 1)
        steps = -(-total // batch_size)
        sizes = np.maximum(np.rint(batch_size * counts / total).astype(np.int64), 1)
        sizes = np.maximum(sizes, -(-counts // steps))
        return sizes, int(steps)

    def step_rows(self, sizes, step):
        """Each process's rows at ``step`` of an epoch."""
        return np.clip(self.train_counts - step * sizes, 0, sizes)

    def noise_positions(self, rows_per_process):
        """This process's positions in the global batch: the processes' rows taken in turn."""
        order = []
        for j in range(int(rows_per_process.max(initial=0))):
            order.extend(r for r in range(self.world_size) if j < rows_per_process[r])
        order = np.asarray(order, dtype=np.int64)
        return np.flatnonzero(order == self.rank)


def _dense_moments(X, covariance, rows):
    """This process's moments, as a dense vector or matrix even for few rows."""
    if covariance and not hasattr(X, "tocsr"):
        part = X if rows is None else X[rows]
        if part.shape[0] < part.shape[1]:
            # Fewer rows here than features: column_moments would keep them as an
            # operator; the collective merge needs the matrix.
            part = np.asarray(part, dtype=np.float64)
            centred = part - part.mean(axis=0)
            return part.mean(axis=0), centred.T @ centred / part.shape[0]
    mean, moment = column_moments(X, covariance=covariance, rows=rows)
    if hasattr(moment, "matmat"):
        raise ValueError("distributed=True needs the covariance as a matrix, not an operator.")
    return mean, moment
