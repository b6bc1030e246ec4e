"""Scaling out with Dask: grid searches on a cluster, Incremental over dask arrays, threads.

One ``LocalCluster`` of two single-threaded worker processes serves the whole
module. The grid searches are compared with the same search run in this
process, the Incremental fit with the same ``partial_fit`` calls made here.
"""

import os
import subprocess
import sys

import joblib
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ae import AutoencoderTransformer, VAETransformer

pytest.importorskip("dask")
pytest.importorskip("distributed")
pytest.importorskip("dask_ml")

import dask.array as da  # noqa: E402
from dask_ml.wrappers import Incremental  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
TINY = {"hidden_layer_sizes": (16,), "max_iter": 3, "random_state": 0, "device": "cpu"}
# The thread-limit variables that conftest sets for the suite, and that torch
# reads when it is imported.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
BLOCK_ROWS = 200


@pytest.fixture(scope="module")
def X():
    return load_digits().data / 16.0


@pytest.fixture(scope="module")
def client():
    # Workers start without the suite's thread limits in the environment, so
    # what they get is what dask gives them (the Nanny's pre-spawn-environ),
    # not an inheritance from conftest.
    environ = dict(os.environ)
    try:
        for name in THREAD_VARIABLES:
            os.environ.pop(name, None)
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # Without a dashboard the scheduler still serves HTTP (health,
            # metrics), on port 8787 by default: where another cluster on the
            # machine holds it, dask warns and moves, and the warning fails
            # the start-up. Port 0 takes a free one without a word.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    finally:
        # The Nanny writes its pre-spawn variables (thread limits,
        # MALLOC_TRIM_THRESHOLD_, PYTHONHASHSEED) into this process's
        # environment too, where later tests' subprocesses would inherit them.
        os.environ.clear()
        os.environ.update(environ)
    with cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def torch_default_threads():
    """torch's thread count in a fresh process with no thread-limit variables set."""
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    result = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout)


def _search(estimator_class, n_jobs):
    pipeline = Pipeline([("scale", StandardScaler()), ("ae", estimator_class(**TINY))])
    return GridSearchCV(
        pipeline, {"ae__n_components": [2, 4]}, cv=2, n_jobs=n_jobs, error_score="raise"
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator_class", ESTIMATORS)
def test_grid_search_on_cluster_matches_local_search(client, X, estimator_class):
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        on_cluster = _search(estimator_class, n_jobs=-1).fit(X)
    local = _search(estimator_class, n_jobs=1).fit(X)

    # The fits ran on the workers, not in this process.
    workers = set(client.scheduler_info()["workers"])
    assert {task["worker"] for task in tasks.data} <= workers
    assert len(tasks.data) > 0
    scores = on_cluster.cv_results_["mean_test_score"]
    assert scores.shape == (2,)
    assert np.isfinite(scores).all()
    # Same seeds, same data, one torch thread on both sides: the same
    # arithmetic, so bit-identical results rather than merely close ones.
    for key in ("split0_test_score", "split1_test_score", "mean_test_score", "rank_test_score"):
        assert_array_equal(on_cluster.cv_results_[key], local.cv_results_[key])
    assert on_cluster.best_params_ == local.best_params_
    assert_array_equal(on_cluster.transform(X), local.transform(X))


@pytest.fixture(scope="module")
def incremental(client, X):
    X_dask = da.from_array(X, chunks=(BLOCK_ROWS, X.shape[1]))
    # Blocks in order, so that the same partial_fit calls can be made here.
    model = Incremental(AutoencoderTransformer(**TINY), shuffle_blocks=False)
    with get_task_stream(client) as tasks:
        model.fit(X_dask)
    return model, X_dask, tasks.data


def test_incremental_calls_partial_fit_once_per_block(incremental, X):
    model, X_dask, tasks = incremental
    fitted = model.estimator_
    n_blocks = X_dask.numblocks[0]
    assert n_blocks == 9
    # partial_fit is one epoch: one entry per call in the curve.
    assert fitted.n_iter_ == n_blocks
    assert len(fitted.loss_curve_) == n_blocks
    # dask-ml's graph chains one partial_fit task per block after a task that
    # holds the unfitted model (block index -1).
    fit_tasks = [task["key"] for task in tasks if task["key"][0].startswith("fit-")]
    assert sorted(index for _, index in fit_tasks) == list(range(-1, n_blocks))
    # The learned attributes are copied onto the wrapper too.
    assert model.n_iter_ == n_blocks

    local = AutoencoderTransformer(**TINY)
    for start in range(0, X.shape[0], BLOCK_ROWS):
        local.partial_fit(X[start : start + BLOCK_ROWS])
    # The same calls in the same order on one torch thread: bit-identical.
    assert_array_equal(fitted.loss_curve_, local.loss_curve_)
    assert_array_equal(fitted.transform(X), local.transform(X))


def test_incremental_transform_maps_over_blocks(client, incremental, X):
    model, X_dask, _ = incremental
    Z_dask = model.transform(X_dask)
    assert isinstance(Z_dask, da.Array)
    n_blocks = X_dask.numblocks[0]
    assert Z_dask.numblocks[0] == n_blocks
    with get_task_stream(client) as tasks:
        Z = Z_dask.compute()
    # One transform task per block, run on the workers.
    assert sum(task["key"][0].startswith("_transform-") for task in tasks.data) == n_blocks
    assert Z.shape == (X.shape[0], model.estimator_.n_components_)
    assert Z.dtype == np.float64
    # Blocks of 200 rows against one pass over all 1797: only the float64
    # rounding of differently sized matrix products may differ.
    assert_allclose(Z, model.estimator_.transform(X), rtol=1e-10, atol=1e-12)


def test_map_blocks_with_explicit_chunks_declares_latent_shape(incremental, X):
    # dask-ml 2025.1's ParallelPostFit.transform calls map_blocks without
    # chunks, so its lazy result claims the input's 64 columns (for PCA too;
    # the computed blocks are right). The workaround the documentation gives:
    model, X_dask, _ = incremental
    estimator = model.estimator_
    Z = X_dask.map_blocks(
        estimator.transform,
        chunks=(X_dask.chunks[0], (estimator.n_components_,)),
        dtype=X_dask.dtype,
    )
    assert Z.shape == (X.shape[0], estimator.n_components_)
    assert_allclose(Z.compute(), estimator.transform(X), rtol=1e-10, atol=1e-12)


def test_blockwise_score_samples_matches_score(incremental, X):
    # Incremental.score hands the whole dask array to the estimator, which
    # validates it into one ndarray in the client; the documentation gives
    # this blockwise mean instead.
    model, X_dask, _ = incremental
    estimator = model.estimator_
    scores = X_dask.map_blocks(estimator.score_samples, drop_axis=1, dtype=X_dask.dtype)
    assert scores.shape == (X.shape[0],)
    assert_allclose(scores.mean().compute(), estimator.score(X), rtol=1e-10)


def test_dask_workers_run_torch_single_threaded(client, torch_default_threads):
    if torch_default_threads == 1:
        pytest.skip("torch defaults to one thread here: the limit cannot be told apart")
    # dask's Nanny sets OMP/MKL/OPENBLAS_NUM_THREADS=1 before it spawns a
    # worker (distributed.nanny.pre-spawn-environ) unless the parent's
    # environment sets them, whatever threads_per_worker is; the fixture
    # starts the workers without them. Asked in each worker's task thread,
    # where fits run.
    addresses = list(client.scheduler_info()["workers"])
    futures = [
        client.submit(torch.get_num_threads, pure=False, workers=[address])
        for address in addresses
    ]
    assert client.gather(futures) == [1] * len(addresses)


def test_loky_workers_do_not_oversubscribe(torch_default_threads):
    n_jobs = 2
    n_cpus = joblib.cpu_count()
    if torch_default_threads * n_jobs <= n_cpus:
        pytest.skip("torch's default threads would not oversubscribe here either")
    # joblib gives each loky worker cpu_count // n_jobs threads through the
    # same variables, unless the parent sets them: it does not here. A new
    # environment makes loky start new workers rather than reuse old ones.
    with pytest.MonkeyPatch.context() as patch:
        for name in THREAD_VARIABLES:
            patch.delenv(name, raising=False)
        threads = joblib.Parallel(n_jobs=n_jobs, backend="loky")(
            joblib.delayed(torch.get_num_threads)() for _ in range(2 * n_jobs)
        )
    assert n_jobs * max(threads) <= n_cpus
