"""``distributed=True``: one model from the rows of 2 gloo processes started by torchrun.

Each launch runs ``tests/distributed_job.py`` on 2 processes with a free port
(``--standalone`` rendezvous on port 0, or a port the test binds to 0 and
frees), 1 thread each, under a timeout; the process group and its children
are killed if it runs out, and the files it writes live in ``tmp_path``.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_ae import AutoencoderTransformer, VAETransformer, load

dist = pytest.importorskip("torch.distributed")
pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo"
)

JOB = Path(__file__).with_name("distributed_job.py")
ESTIMATORS = {"ae": AutoencoderTransformer, "vae": VAETransformer}
TIMEOUT = 50


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(scenario, out, *, launcher_args=("--standalone",), nproc=2):
    """Start one torchrun launcher of ``scenario``; returns the Popen (own process group)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *launcher_args,
        f"--nproc-per-node={nproc}",
        str(JOB),
        scenario,
        str(out),
    ]
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait(processes, timeout=TIMEOUT):
    """Wait for every launcher; kill all of them (and their workers) past the timeout."""
    deadline, outputs = time.monotonic() + timeout, []
    try:
        for process in processes:
            left = max(deadline - time.monotonic(), 0.1)
            outputs.append(process.communicate(timeout=left)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return [(p.returncode, text) for p, text in zip(processes, outputs)]


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed")
    ((code, text),) = _wait([_launch("checks", out)])
    assert code == 0, text[-3000:]
    return out


def _one_process(cls, X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**params).fit(X)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("data_name", ["digits", "1001"])
@pytest.mark.parametrize("epochs", [1, 5])
def test_steps_are_one_process_steps_on_interleaved_shards(checks, name, data_name, epochs):
    from distributed_job import step_data

    X = step_data()[data_name]
    reference = _one_process(
        ESTIMATORS[name],
        X,
        n_components=2,
        batch_size=64,
        shuffle=False,
        early_stopping=False,
        max_iter=epochs,
        random_state=0,
    )
    ranks = [np.load(checks / f"step-{name}-{data_name}-{epochs}-{r}.npz") for r in (0, 1)]
    for key, value in reference.module_.state_dict().items():
        assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)
        assert_allclose(ranks[0][key], value.numpy(), atol=1e-5, rtol=0, err_msg=key)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_linear_start_is_the_one_process_start_on_all_rows(checks, name):
    X = load_digits().data / 16
    starts = []

    def at_start(estimator, result):
        if result.epoch == 0:
            starts.append(estimator.inverse_transform(estimator.transform(X)))

    from sklearn_ae._training import on_epoch

    with on_epoch(at_start):
        _one_process(ESTIMATORS[name], X, n_components=4, max_iter=1, random_state=0)
    for rank in (0, 1):
        got = np.load(checks / f"start-{name}-{rank}.npy")
        assert_allclose(got, starts[0], rtol=1e-6, atol=1e-6 * np.abs(starts[0]).max())


def test_ranks_agree_at_every_epoch_and_runs_repeat(checks):
    runs = {
        (run, rank): json.loads((checks / f"epochs-{run}-{rank}.json").read_text())
        for run in ("first", "again")
        for rank in (0, 1)
    }
    first = runs["first", 0]
    assert first["n_iter"] > 5 and len(first["epochs"]) == first["n_iter"] + 1
    assert any(kept for _, _, kept, _ in first["epochs"][1:])
    assert first["epochs"][-1][1] in ("converged", "flattened")
    # The same decision, kept flag and validation loss on both ranks; and again.
    assert all(runs[key] == first for key in runs)
    codes = [
        np.load(checks / f"codes-{run}-{rank}.npy")
        for run in ("first", "again")
        for rank in (0, 1)
    ]
    for other in codes[1:]:
        assert_array_equal(other, codes[0])
    for name in ("partial", "warm", "memmap", "contrast"):
        codes = [np.load(checks / f"{name}-{rank}.npy") for rank in (0, 1)]
        assert np.isfinite(codes[0]).all()
        assert_array_equal(codes[0], codes[1], err_msg=name)


def test_default_fit_is_as_good_as_one_process_and_its_file_loads_anywhere(checks):
    from distributed_job import digits_split

    train, test = digits_split()
    one = _one_process(AutoencoderTransformer, train, random_state=0)
    loaded = load(checks / "model.safetensors")
    assert loaded.distributed is True
    # An ordinary one-process model: transform works here, without a group.
    codes = loaded.transform(test)
    assert_array_equal(codes, np.load(checks / "codes-first-0.npy"))
    error = np.mean(np.sum((loaded.inverse_transform(codes) - test) ** 2, axis=1))
    one_error = np.mean(np.sum((one.inverse_transform(one.transform(test)) - test) ** 2, axis=1))
    # Held-out error no more than 3% above one process's (another seed's worth).
    assert error < 1.03 * one_error, (error, one_error)


def test_two_launchers_with_a_c10d_rendezvous_give_the_same_model(tmp_path):
    one_launcher = tmp_path / "one"
    two_launchers = tmp_path / "two"
    one_launcher.mkdir()
    two_launchers.mkdir()
    port = _free_port()
    common = ["--nnodes=2", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}"]
    launchers = [
        _launch("small", two_launchers, launcher_args=(*common, f"--node-rank={n}"), nproc=1)
        for n in (0, 1)
    ]
    results = _wait(launchers)
    assert all(code == 0 for code, _ in results), results[0][1][-3000:]
    ((code, text),) = _wait([_launch("small", one_launcher)])
    assert code == 0, text[-3000:]
    for rank in (0, 1):
        assert_array_equal(
            np.load(two_launchers / f"small-{rank}.npy"), np.load(one_launcher / "small-0.npy")
        )


def test_bad_rows_on_one_process_fail_the_job_promptly(tmp_path):
    start = time.monotonic()
    ((code, text),) = _wait([_launch("nan", tmp_path)])
    assert code != 0
    assert time.monotonic() - start < 60
    assert "NaN" in text


def test_without_a_process_group_distributed_fit_is_refused(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    est = AutoencoderTransformer(2, distributed=True)
    X = load_digits().data[:100] / 16
    with pytest.raises(ValueError, match="needs a torch.distributed process group"):
        est.fit(X)
    assert not hasattr(est, "module_")
    # The same estimator fits in this process once asked to.
    est.set_params(distributed=False, max_iter=2)
    with pytest.warns(ConvergenceWarning):
        est.fit(X)
    assert est.n_iter_ == 2
