"""
=========================================
Autoencoder versus PCA on the digits data
=========================================

:class:`~sklearn_ae.AutoencoderTransformer` is a drop-in, nonlinear
replacement for :class:`~sklearn.decomposition.PCA`: ``transform`` gives the
latent codes, ``inverse_transform`` the reconstructions. This example compares
the two on scikit-learn's 8x8 digits: the held-out reconstruction error as the
latent dimension grows, a few reconstructed test digits, and the
autoencoder's training and validation curves. The 2-D latent spaces are in
:ref:`sphx_glr_auto_examples_plot_latent_spaces.py`.
"""

# %%
# Load the digits, scale them to [0, 1] and hold out 30% for testing.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from sklearn_ae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)


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
        model.fit(X_train)
        X_hat = model.inverse_transform(model.transform(X_test))
        errors[name].append(np.mean((X_hat - X_test) ** 2))
        models[name, d] = model
    ratio = errors["AutoencoderTransformer"][-1] / errors["PCA"][-1]
    print(
        f"n_components={d:2d}  PCA MSE {errors['PCA'][-1]:.4f}  "
        f"autoencoder MSE {errors['AutoencoderTransformer'][-1]:.4f}  ratio {ratio:.3f}"
    )

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
# Training and validation curves
# ------------------------------
# ``loss_curve_`` is the squared error divided by the total variance of the
# training data: 1.0 is what predicting the mean achieves, so the curve reads
# as the fraction of variance left unexplained. ``validation_scores_`` is
# minus the same loss on the 10% of the training rows held out for early
# stopping. The weights kept are those of ``best_epoch_``: the best epoch
# among those that beat the linear start (PCA, epoch 0) on the validation rows
# by more than two standard errors. The dashed lines are the fraction of
# variance unexplained on the test set.
ae8 = models["AutoencoderTransformer", d]
print(f"{ae8.n_iter_} epochs, weights of epoch {ae8.best_epoch_} kept")
total_var = X_train.var(axis=0).sum()
epochs = np.arange(1, ae8.n_iter_ + 1)
validation_loss = -np.asarray(ae8.validation_scores_)
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.plot(epochs, ae8.loss_curve_, label="autoencoder, train")
ax.plot(epochs, validation_loss, label="autoencoder, validation")
ax.axvline(ae8.best_epoch_, color="gray", lw=0.8, label="best_epoch_")
for name, color in [("AutoencoderTransformer", "C0"), ("PCA", "C1")]:
    unexplained = errors[name][dims.index(d)] * X.shape[1] / total_var
    ax.axhline(unexplained, color=color, ls="--", label=f"{name}, test")
ax.set(xlabel="epoch", ylabel="fraction of variance unexplained", yscale="log")
ax.legend()
plt.show()
