"""One default fit on digits / 16, for whole-process timing of two checkouts against each other.

Fits ``AutoencoderTransformer`` or ``VAETransformer`` with default parameters
(plus ``random_state=0``, ``device="cpu"``) on the 70% training split of
``load_digits().data / 16`` (``random_state=0``), with torch and BLAS on 1
thread, and prints the fit's seconds. Compare two checkouts by running it
alternately, A B A B ..., each with its checkout first on ``PYTHONPATH``, and
take the median of the paired ratios::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_default_fit.py vae 8
    PYTHONPATH=../old .venv/bin/python benchmarks/bench_default_fit.py vae 8
"""

import sys
import time
import warnings

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from sklearn_ae import AutoencoderTransformer, VAETransformer


def main():
    torch.set_num_threads(1)
    threadpool_limits(1)
    estimator = {"ae": AutoencoderTransformer, "vae": VAETransformer}[sys.argv[1]]
    d = int(sys.argv[2])
    X_train, _ = train_test_split(load_digits().data / 16.0, test_size=0.3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        estimator(d, random_state=0, device="cpu").fit(X_train)
    print(f"{time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
