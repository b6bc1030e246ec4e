"""
==============================
Denoising digits: a round trip
==============================

A model that keeps only a few latent dimensions cannot reproduce noise it has
no room for: ``inverse_transform(transform(X_noisy))`` projects noisy digits
onto what the model learned digits look like. This is the setting of
scikit-learn's example "Image denoising using kernel PCA": Gaussian noise
(standard deviation 0.25) on digits scaled to [0, 1], and models fitted on
*noisy* training digits only, since clean ones are rarely available. The
denoised test digits are compared with the clean originals by their mean
squared error, for :class:`~sklearn.decomposition.PCA`,
:class:`~sklearn_ae.AutoencoderTransformer` and
:class:`~sklearn_ae.VAETransformer`.
"""

# %%
# Noisy digits
# ------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from sklearn_ae import AutoencoderTransformer, VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)

rng = np.random.default_rng(0)
X_train_noisy = X_train + rng.normal(scale=0.25, size=X_train.shape)
X_test_noisy = X_test + rng.normal(scale=0.25, size=X_test.shape)
print(f"MSE of the noisy test digits: {np.mean((X_test_noisy - X_test) ** 2):.4f}")

# %%
# Denoise with each model
# -----------------------
# Default parameters plus ``random_state=0``, at a few latent dimensions.
# The error is measured against the clean test digits, which no model sees.


def denoise(model, X):
    return model.inverse_transform(model.transform(X))


dims = [8, 16, 32]
errors = {"PCA": [], "AutoencoderTransformer": [], "VAETransformer": []}
denoised = {}
for d in dims:
    models = {
        "PCA": PCA(n_components=d, random_state=0),
        "AutoencoderTransformer": AutoencoderTransformer(n_components=d, random_state=0),
        "VAETransformer": VAETransformer(n_components=d, random_state=0),
    }
    for name, model in models.items():
        X_hat = denoise(model.fit(X_train_noisy), X_test_noisy)
        errors[name].append(np.mean((X_hat - X_test) ** 2))
        denoised[name, d] = X_hat
    print(
        f"n_components={d:2d}  "
        + "  ".join(f"{name} {errors[name][-1]:.4f}" for name in errors)
        + f"  (AE / PCA {errors['AutoencoderTransformer'][-1] / errors['PCA'][-1]:.3f},"
        + f" VAE / PCA {errors['VAETransformer'][-1] / errors['PCA'][-1]:.3f})"
    )
    print(
        f"               weights kept: autoencoder epoch "
        f"{models['AutoencoderTransformer'].best_epoch_}, VAE epoch "
        f"{models['VAETransformer'].best_epoch_}"
    )

# %%
# With few components every model throws away digit detail along with the
# noise; with many, PCA's projection starts to keep noise too. ``best_epoch_``
# tells what each network kept. Training sees only noisy digits, and its
# validation split is noisy too: where a trained epoch was not significantly
# better than the linear start on it, the estimator kept the linear start
# (epoch 0). The autoencoder then *is* PCA, hence the identical errors. The
# VAE's linear start is factor analysis, not PCA: a probabilistic model with a
# learned per-pixel noise variance, whose posterior mean shrinks each code
# towards the prior by how much of it the noise could explain. That
# shrinkage keeps the noise out as the dimension grows, which PCA's
# projection does not.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, values in errors.items():
    ax.plot(dims, values, marker="o", label=name)
ax.axhline(0.25**2, color="gray", ls="--", label="noisy input")
ax.set(xlabel="n_components", ylabel="MSE against the clean digits", xticks=dims)
ax.legend()
plt.show()

# %%
# Before and after
# ----------------
# Ten test digits: clean, noisy, and denoised by each model with the number
# of components that suits it best above.
rows = {"clean": X_test[:10], "noisy": X_test_noisy[:10]}
for name, values in errors.items():
    best_d = dims[int(np.argmin(values))]
    rows[f"{name}\n(d={best_d})"] = denoised[name, best_d][:10]
fig, axes = plt.subplots(len(rows), 10, figsize=(10, 0.95 * len(rows)), layout="constrained")
for row_axes, (label, images) in zip(axes, rows.items()):
    for ax, image in zip(row_axes, images):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
    row_axes[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
plt.show()
