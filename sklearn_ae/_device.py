"""Device resolution, tensor <-> numpy conversion and seeding.

Everything that decides *where* a computation runs or *which* random stream it
draws from lives here, so that the estimators never touch torch's global RNG.
"""

from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state


def resolve_device(device):
    """Turn the ``device`` parameter into an available :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"} or torch.device
        ``"auto"`` picks CUDA, then MPS, then the CPU.

    Returns
    -------
    torch.device
        A device on which tensors can be allocated now.

    Raises
    ------
    ValueError
        If the device is unknown or not available on this machine.
    """
    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this machine; "
                "use device='cpu' or device='auto'."
            )
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only {torch.cuda.device_count()} CUDA "
                "device(s) are available."
            )
        return torch.device("cuda", index)
    if resolved.type == "mps":
        if not _mps_available():
            raise ValueError(
                f"device={device!r} was requested but MPS is not available on this machine; "
                "use device='cpu' or device='auto'."
            )
        return resolved
    raise ValueError(
        f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
    )


def _mps_available():
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def available_device(device):
    """Return ``device`` if it is usable now, else the CPU.

    Used when unpickling: a model fitted on a GPU must still load on a machine
    without one.
    """
    if device.type == "cuda" and (
        not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()
    ):
        return torch.device("cpu")
    if device.type == "mps" and not _mps_available():
        return torch.device("cpu")
    return device


def make_generator(random_state, device):
    """Build a private :class:`torch.Generator` on ``device`` seeded from ``random_state``.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        Seed source, as in scikit-learn. ``None`` draws a fresh seed.
    device : torch.device
        Device the generator produces numbers on.

    Returns
    -------
    generator : torch.Generator
        A generator independent of torch's global random state.
    seed_rng : numpy.random.RandomState
        The numpy stream the seed came from, for numpy-side randomness.
    """
    rng = check_random_state(random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator, rng


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def to_tensor(X, device, dtype=torch.float32):
    """Copy a numpy array to a contiguous tensor of ``dtype`` on ``device``."""
    X = np.ascontiguousarray(X, dtype=_NUMPY_DTYPES[dtype])
    if not X.flags.writeable:
        # torch.from_numpy warns on read-only buffers (e.g. joblib memmaps).
        X = X.copy()
    return torch.from_numpy(X).to(device)


def to_numpy(tensor):
    """Return a tensor's values as a numpy array on the host."""
    return tensor.detach().cpu().numpy()


def _flushing_denormals():
    """Whether this thread's CPU arithmetic already flushes subnormal floats to zero."""
    # torch has a setter and no getter: a subnormal times 1 reads as 0 under
    # denormals-are-zero.
    return bool((torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0)


@contextmanager
def flush_denormals():
    """Flush subnormal floats to zero on the CPU for the duration, then restore the mode.

    Long fits drive many residual-branch weights and Adam moments towards
    zero (weight decay on a branch that starts at zero), into float32's
    subnormal range, where x86 arithmetic is 10-100x slower: a 1M-row epoch
    took 110 s instead of 12 s, and transform slowed 60x. Values that small
    contribute nothing the model can use.
    """
    if _flushing_denormals() or not torch.set_flush_denormal(True):
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


# Multiply-adds of one forward pass (rows x weights) that keep one more
# thread busy enough to gain. Below it, a second thread only adds
# synchronisation, and fights any other process on the machine: a digits
# fit (2.4e6 per step) took 35.9 ms an epoch on 2 threads beside one busy
# process, against 12.5 ms on 1; on a quiet machine 2 threads were no faster.
WORK_PER_THREAD = 1 << 24


def threads_for(n_threads, work):
    """The torch/BLAS thread count for a computation of ``work`` multiply-adds per pass.

    Parameters
    ----------
    n_threads : "auto", int or None
        The estimator's parameter: ``"auto"`` one thread per
        :data:`WORK_PER_THREAD` of ``work``, at least 1 and at most the
        current setting (``torch.get_num_threads()``, which joblib's loky and
        dask workers lower to their share of the cores); an int, exactly
        that; ``None``, the current setting.
    work : float
        Multiply-adds of one forward pass of one batch.

    Returns
    -------
    int
    """
    current = torch.get_num_threads()
    if n_threads is None:
        return current
    if n_threads == "auto":
        return int(np.clip(work // WORK_PER_THREAD, 1, current))
    return int(n_threads)


@contextmanager
def torch_threads(n_threads):
    """torch at ``n_threads`` intra-op threads for the duration, then restored.

    ``torch.set_num_threads`` is process-wide and costs well under a
    microsecond when the count is unchanged.
    """
    previous = torch.get_num_threads()
    if n_threads != previous:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


_BLAS = None


@contextmanager
def blas_threads_as_torch():
    """Limit the BLAS libraries (numpy's, scipy's) to torch's thread count for the duration.

    A fit's set-up calls BLAS and LAPACK through numpy and scipy (the moments,
    the eigendecomposition of the linear start). Left at all cores, scipy's
    OpenBLAS woke a worker thread for the eigendecomposition that then
    busy-waited beside the training loop: with torch at one thread, a digits
    fit used 1.6 times its wall time in CPU, fighting whatever else ran on
    the second core. With this limit one thread count, torch's
    (``torch.set_num_threads``, or what joblib/loky give a worker), governs
    the whole fit. The limit is restored on exit.
    """
    global _BLAS
    if _BLAS is None:
        # Scanning the loaded libraries takes milliseconds; a limit on the
        # controller, microseconds.
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController().select(user_api="blas")
    with _BLAS.limit(limits=torch.get_num_threads()):
        yield
