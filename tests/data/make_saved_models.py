"""Write the saved-model fixtures of one release: safe files, pickles and their outputs.

Run it with the package of that release first on the path, from a worktree at
its commit (0.2.0 is 5dcf5cb)::

    git worktree add /tmp/v020 5dcf5cb
    PYTHONPATH=/tmp/v020 .venv/bin/python tests/data/make_saved_models.py tests/data/v0.2.0

Each model is written as ``<name>.safetensors`` (``est.save``) and
``<name>.pkl`` (``pickle``), with ``<name>.npz``: the rows it was asked
about and the outputs that release gave for them. ``tests/test_saved_models.py``
loads every model at HEAD and compares.
"""

import json
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits, load_wine

import sklearn_ae
from sklearn_ae import AutoencoderTransformer, VAETransformer


def models():
    digits = load_digits().data[:600] / 16.0
    wine = load_wine(as_frame=True).data
    yield "ae_digits", AutoencoderTransformer(n_components=8, max_iter=15, random_state=0), digits
    yield "vae_digits", VAETransformer(n_components=4, max_iter=15, random_state=0), digits
    yield (
        "ae_wine_frame",
        AutoencoderTransformer(n_components=3, hidden_layer_sizes=(16,), random_state=0),
        wine,
    )
    yield (
        "vae_wine_frame",
        VAETransformer(n_components=3, hidden_layer_sizes=(16,), random_state=0),
        wine,
    )


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"sklearn_ae {sklearn_ae.__version__} from {sklearn_ae.__file__}")
    for name, est, X in models():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X)
        est.save(out / f"{name}.safetensors")
        with open(out / f"{name}.pkl", "wb") as file:
            pickle.dump(est, file)
        rows = np.asarray(X, dtype=np.float64)[::7]
        frame = X.iloc[::7] if isinstance(X, pd.DataFrame) else rows
        Z = est.transform(frame)
        outputs = {
            "rows": rows,
            "transform": Z,
            "transform_float32": est.transform(rows.astype(np.float32)),
            "inverse_transform": np.asarray(est.inverse_transform(Z)),
            "score_samples": est.score_samples(frame),
        }
        np.savez(out / f"{name}.npz", **outputs)
        params = {key: repr(value) for key, value in est.get_params().items()}
        (out / f"{name}.json").write_text(
            json.dumps({"version": sklearn_ae.__version__, "params": params}, indent=1) + "\n"
        )
        print(name, {key: value.shape for key, value in outputs.items()})


if __name__ == "__main__":
    main(sys.argv[1])
