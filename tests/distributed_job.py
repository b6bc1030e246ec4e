"""A job for ``tests/test_distributed.py``, run by torchrun on 2 processes: ``SCENARIO OUT``.

Each process writes what it fitted under OUT, named by its rank; the test
compares the ranks with each other and with one process.

* ``checks``: the step-equivalence fits (interleaved shards, ``shuffle=False``,
  no validation, 1 and 5 epochs, digits and 1,001 rows, both estimators);
  the linear start's reconstructions (at epoch 0 of a fit); a default AE fit
  on ``np.array_split`` shards of 70% of digits, with every epoch's
  decisions, its codes of the other 30%, and the file rank 0 saves; the
  same fit again (two fits with one ``random_state`` are the same bits); a
  ``partial_fit`` over two chunks, a warm start, and a fit on a memmap shard.
* ``small``: a 3-epoch fit on shards, for launches across two "machines".
* ``nan``: rank 1's rows hold a NaN; the job must fail, not hang.
"""

import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._training import on_epoch

ESTIMATORS = {"ae": AutoencoderTransformer, "vae": VAETransformer}


def digits_split():
    """Digits / 16, 70% to fit on and 30% held out (random_state=0)."""
    return train_test_split(load_digits().data / 16, test_size=0.3, random_state=0)


def step_data():
    digits = load_digits().data / 16
    return {"digits": digits, "1001": np.random.RandomState(0).normal(size=(1001, 10))}


def checks(out, rank, size):
    for (name, cls), (data_name, X) in [
        (e, d) for e in ESTIMATORS.items() for d in step_data().items()
    ]:
        for epochs in (1, 5):
            est = cls(
                2,
                batch_size=64,
                shuffle=False,
                early_stopping=False,
                max_iter=epochs,
                random_state=0,
                distributed=True,
            ).fit(X[rank::size])
            weights = {k: v.numpy() for k, v in est.module_.state_dict().items()}
            np.savez(f"{out}/step-{name}-{data_name}-{epochs}-{rank}.npz", **weights)
    X = load_digits().data / 16
    shard = np.array_split(X, size)[rank]
    for name, cls in ESTIMATORS.items():
        starts = []

        def at_start(estimator, result, starts=starts):
            if result.epoch == 0:
                starts.append(estimator.inverse_transform(estimator.transform(X)))

        with on_epoch(at_start):
            cls(4, max_iter=1, random_state=0, distributed=True).fit(shard)
        np.save(f"{out}/start-{name}-{rank}.npy", starts[0])
    train, test = digits_split()
    for run in ("first", "again"):
        epochs = []

        def record(estimator, result, epochs=epochs):
            epochs.append([result.epoch, result.decision, result.kept, result.validation_loss])

        with on_epoch(record):
            est = AutoencoderTransformer(random_state=0, distributed=True)
            est.fit(np.array_split(train, size)[rank])
        np.save(f"{out}/codes-{run}-{rank}.npy", est.transform(test))
        with open(f"{out}/epochs-{run}-{rank}.json", "w") as f:
            json.dump({"epochs": epochs, "n_iter": est.n_iter_}, f)
    if rank == 0:
        est.save(f"{out}/model.safetensors")
    est = VAETransformer(2, random_state=0, distributed=True)
    for chunk in np.array_split(shard, 2):
        est.partial_fit(chunk)
    np.save(f"{out}/partial-{rank}.npy", est.transform(X))
    est = AutoencoderTransformer(2, max_iter=2, warm_start=True, random_state=0, distributed=True)
    est.fit(shard).fit(shard)
    np.save(f"{out}/warm-{rank}.npy", est.transform(X))
    # selection="contrast" judges the gathered validation rows: one decision on every rank.
    est = AutoencoderTransformer(2, max_iter=8, selection="contrast", random_state=0)
    est.set_params(distributed=True).fit(shard)
    np.save(f"{out}/contrast-{rank}.npy", est.transform(X))
    # A memmap shard is streamed, each process its own rows.
    np.save(f"{out}/shard-{rank}.npy", shard)
    mapped = np.load(f"{out}/shard-{rank}.npy", mmap_mode="r")
    est = VAETransformer(2, max_iter=2, random_state=0, distributed=True).fit(mapped)
    np.save(f"{out}/memmap-{rank}.npy", est.transform(X))


def small(out, rank, size):
    X = load_digits().data / 16
    est = AutoencoderTransformer(2, max_iter=3, random_state=0, distributed=True)
    est.fit(np.array_split(X, size)[rank])
    np.save(f"{out}/small-{rank}.npy", est.transform(X))


def nan(out, rank, size):
    X = np.array_split(load_digits().data / 16, size)[rank].copy()
    if rank == 1:
        X[3, 5] = np.nan
    AutoencoderTransformer(2, max_iter=3, distributed=True).fit(X)


def main():
    scenario, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", ConvergenceWarning)
    # The fit joins the group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR, ...).
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    {"checks": checks, "small": small, "nan": nan}[scenario](out, rank, size)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
