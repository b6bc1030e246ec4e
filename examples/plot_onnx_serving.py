"""
=====================================
Serving a pipeline with ONNX Runtime
=====================================

A fitted pipeline that holds an :class:`~sklearn_ae.AutoencoderTransformer`
converts to one ONNX graph with :mod:`skl2onnx`, once sklearn-ae's converters
are registered. The graph needs neither PyTorch nor scikit-learn to run:
:mod:`onnxruntime` and numpy are enough. This example converts a digits
classifier, checks that ONNX Runtime gives the same probabilities as
scikit-learn, and compares the time per row of the two for single-row
requests and for a batch.

The converters need onnx, onnxruntime and skl2onnx (the ``onnx`` extra:
``pip install '.[onnx]'`` from a clone of the repository).
"""

# %%
# Fit the pipeline
# ----------------
# Standardize the pixels, encode them into 8 latent coordinates, classify the
# codes.
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
import skl2onnx
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ae import AutoencoderTransformer
from sklearn_ae._export import register_converters

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        ("autoencoder", AutoencoderTransformer(n_components=8, random_state=0)),
        ("classify", LogisticRegression(max_iter=1000)),
    ]
).fit(X_train, y_train)
print(f"test accuracy: {pipe.score(X_test, y_test):.3f}")

# %%
# Convert to ONNX
# ---------------
# :func:`skl2onnx.to_onnx` reads the input type from one float32 row; the
# batch dimension of the graph stays free. ``zipmap=False`` returns the
# probabilities as one array rather than a list of dictionaries.
register_converters()
model = skl2onnx.to_onnx(
    pipe, X_train[:1].astype(np.float32), options={LogisticRegression: {"zipmap": False}}
)
path = Path(tempfile.mkdtemp()) / "digits.onnx"
path.write_bytes(model.SerializeToString())
print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")

# %%
# Serve it with ONNX Runtime alone
# --------------------------------
# From here on, nothing of scikit-learn or PyTorch is needed: a server loads
# the file and feeds it float32 rows. The graph computes in float32, so it is
# compared with the pipeline on the same float32 rows.
session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
X32 = X_test.astype(np.float32)
labels, proba = session.run(["label", "probabilities"], {"X": X32})

difference = np.abs(proba - pipe.predict_proba(X32)).max()
print(f"largest difference in probability: {difference:.1e}")
print(f"same predicted labels: {np.array_equal(labels, pipe.predict(X32))}")

# %%
# Latency per row
# ---------------
# A single-row request is dominated by fixed per-call costs (input
# validation, dispatch), which ONNX Runtime keeps much smaller; a batch
# spreads them over its rows. Each time is the median of repeated calls.


def seconds_per_call(function, rows, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(rows)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def onnx_proba(rows):
    return session.run(["probabilities"], {"X": rows})[0]


cases = {"single row": (X32[:1], 200), f"batch of {len(X32)}": (X32, 20)}
latency = {"scikit-learn": [], "onnxruntime": []}
for rows, repeats in cases.values():
    for name, function in [("scikit-learn", pipe.predict_proba), ("onnxruntime", onnx_proba)]:
        function(rows)  # warm-up: first-call allocations are not latency
        latency[name].append(seconds_per_call(function, rows, repeats) / len(rows) * 1e6)

print(f"{'microseconds per row':<22}{'scikit-learn':>14}{'onnxruntime':>14}{'speed-up':>10}")
for i, case in enumerate(cases):
    sk, rt = latency["scikit-learn"][i], latency["onnxruntime"][i]
    print(f"{case:<22}{sk:>14.1f}{rt:>14.1f}{sk / rt:>9.1f}x")

# %%
# The same numbers as a chart (log scale).
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
positions = np.arange(len(cases))
for offset, (name, values) in zip([-0.2, 0.2], latency.items()):
    ax.bar(positions + offset, values, width=0.4, label=name)
ax.set(
    xticks=positions,
    xticklabels=list(cases),
    yscale="log",
    ylabel="microseconds per row",
    title="predict_proba latency",
)
ax.legend()
plt.show()
