"""
=========================================
Autoencoder versus PCA on the digits data
=========================================

:class:`~sklearn_ae.AutoencoderTransformer` is a drop-in, nonlinear
replacement for :class:`~sklearn.decomposition.PCA`: ``transform`` gives the
latent codes, ``inverse_transform`` the reconstructions. This example compares
the two on scikit-learn's 8x8 digits: the 2-D latent spaces, the held-out
reconstruction error as the latent dimension grows, a few reconstructed test
digits, and the autoencoder's training curve.
"""

# %%
# Load the digits, scale them to [0, 1] and hold out 30% for testing.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_ae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)


def fit(estimator):
    # The default 200 epochs may end before the ``tol`` criterion is met; the
    # ConvergenceWarning says so, and it is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X_train)


# %%
# Two-dimensional latent spaces
# -----------------------------
# PCA can only rotate and project; the autoencoder bends the projection and
# separates several digit classes that overlap in the PCA plane.
pca2 = fit(PCA(n_components=2, random_state=0))
ae2 = fit(AutoencoderTransformer(n_components=2, random_state=0))

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
for ax, (name, model) in zip(axes, [("PCA", pca2), ("AutoencoderTransformer", ae2)]):
    Z = model.transform(X_test)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", vmin=-0.5, vmax=9.5, s=8)
    ax.set(title=name, xlabel="component 1", ylabel="component 2")
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
plt.show()

# %%
# Reconstruction error against the latent dimension
# -------------------------------------------------
# The mean squared error of ``inverse_transform(transform(X_test))``. The
# autoencoder wins most clearly when the code is very small.
dims = [2, 4, 8, 16]
errors = {"PCA": [], "AutoencoderTransformer": []}
models = {}
for d in dims:
    for name, model in [
        ("PCA", PCA(n_components=d, random_state=0)),
        ("AutoencoderTransformer", AutoencoderTransformer(n_components=d, random_state=0)),
    ]:
        fit(model)
        X_hat = model.inverse_transform(model.transform(X_test))
        errors[name].append(np.mean((X_hat - X_test) ** 2))
        models[name, d] = model

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, values in errors.items():
    ax.plot(dims, values, marker="o", label=name)
ax.set(xlabel="n_components", ylabel="held-out MSE", xticks=dims, yscale="log")
ax.legend()
plt.show()

# %%
# Reconstructed test digits
# -------------------------
# Originals (top) and their reconstructions from 8 latent dimensions.
d = 8
rows = {
    "original": X_test[:10],
    "PCA": models["PCA", d].inverse_transform(models["PCA", d].transform(X_test[:10])),
    "autoencoder": models["AutoencoderTransformer", d].inverse_transform(
        models["AutoencoderTransformer", d].transform(X_test[:10])
    ),
}
fig, axes = plt.subplots(len(rows), 10, figsize=(10, 3.3), layout="constrained")
for row_axes, (label, images) in zip(axes, rows.items()):
    for ax, image in zip(row_axes, images):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
    row_axes[0].set_ylabel(label)
plt.show()

# %%
# Training curve
# --------------
# ``loss_curve_`` is the squared error divided by the total variance of the
# training data: 1.0 is what predicting the mean achieves, so the curve reads
# as the fraction of variance left unexplained. The dashed lines are the same
# fraction on the test set, at the end of training.
ae8 = models["AutoencoderTransformer", d]
total_var = X_train.var(axis=0).sum()
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.plot(np.arange(1, ae8.n_iter_ + 1), ae8.loss_curve_, label="autoencoder, train")
for name, color in [("AutoencoderTransformer", "C0"), ("PCA", "C1")]:
    unexplained = errors[name][dims.index(d)] * X.shape[1] / total_var
    ax.axhline(unexplained, color=color, ls="--", label=f"{name}, test")
ax.set(xlabel="epoch", ylabel="fraction of variance unexplained", yscale="log")
ax.legend()
plt.show()
