"""
===========================================================
The linear models: autoencoder = PCA, VAE = factor analysis
===========================================================

With ``hidden_layer_sizes=()`` encoder and decoder are single affine maps and
the two estimators become the linear models they generalise:

* a linear autoencoder trained on the squared error spans the principal
  subspace: it is :class:`~sklearn.decomposition.PCA` (Baldi and Hornik,
  1989);
* a linear VAE with a Gaussian likelihood is
  :class:`~sklearn.decomposition.FactorAnalysis`: its ELBO, with the exact
  posterior, equals factor analysis's log-likelihood.

Both estimators *start* from these linear models (``init="linear"``, the
default), so the check is also a check of that start. This example measures
both identities on scikit-learn's digits.
"""

# %%
# The linear autoencoder is PCA
# -----------------------------
# The decoder's column space, in the original units of X, is spanned by
# ``inverse_transform(e_k) - inverse_transform(0)`` for the unit codes
# ``e_k``. Its principal angles to PCA's components
# (:func:`scipy.linalg.subspace_angles`) are all zero when both span the same
# subspace. For contrast, the same linear autoencoder trained from a random
# start (``init="random"``, the behaviour before version 0.2).
import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import subspace_angles
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.model_selection import train_test_split

from sklearn_ae import AutoencoderTransformer, VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)
d = 8

pca = PCA(n_components=d, random_state=0).fit(X_train)


def decoder_basis(model):
    """Columns spanning the decoder's image, in the original units of X."""
    codes = np.vstack([np.zeros((1, d)), np.eye(d)])
    images = model.inverse_transform(codes)
    return (images[1:] - images[0]).T


def test_mse(model):
    return np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)


angles = {}
for init in ["linear", "random"]:
    ae = AutoencoderTransformer(
        n_components=d, hidden_layer_sizes=(), init=init, random_state=0
    ).fit(X_train)
    angles[init] = np.degrees(subspace_angles(decoder_basis(ae), pca.components_.T))
    codes_gap = np.abs(ae.transform(X_test) - pca.transform(X_test)).max()
    print(
        f'init="{init}": {ae.n_iter_} epochs, largest principal angle to PCA '
        f"{angles[init].max():.2g} degrees, test MSE / PCA's {test_mse(ae) / test_mse(pca):.6f}, "
        f"largest |transform - PCA.transform| {codes_gap:.2g}"
    )

# %%
# From the linear start the autoencoder is PCA to float32 rounding: same
# subspace, same codes, same reconstruction error; training cannot improve on
# PCA's optimum, so the stopping rule keeps it. From a random start, gradient
# descent reaches nearly PCA's reconstruction error but not its subspace: the
# directions of least variance are pinned down weakly by the loss and stay
# far from PCA's after the default budget.
fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
width = 0.4
ranks = np.arange(1, d + 1)
for offset, (init, values) in zip([-width / 2, width / 2], angles.items()):
    # subspace_angles returns the angles in decreasing order.
    label = f'init="{init}" (largest {values.max():.2g} degrees)'
    ax.bar(ranks + offset, np.sort(values), width, label=label)
ax.set(
    xlabel="principal angle (smallest to largest)",
    ylabel="degrees",
    xticks=ranks,
    title=f"Linear autoencoder vs PCA, {d} components",
)
ax.legend()
plt.show()

# %%
# The linear VAE is factor analysis
# ---------------------------------
# The comparison is made on the digits *dequantized*: each pixel's integer
# level plus uniform noise on [0, 1), divided by 17, so that the data have a
# density and no pixel is exactly constant. ``score`` is the mean ELBO per
# row, :meth:`FactorAnalysis.score <sklearn.decomposition.FactorAnalysis.score>`
# the mean log-likelihood; both in nats, on the held-out rows.
X_raw, _ = load_digits(return_X_y=True)
rng = np.random.default_rng(0)
X_deq = (X_raw + rng.uniform(size=X_raw.shape)) / 17
X_deq_train, X_deq_test = train_test_split(X_deq, test_size=0.3, random_state=0)

dims = [2, 4, 8, 16]
held_out = {"linear VAE": [], "FactorAnalysis": [], "PCA": []}
for k in dims:
    vae = VAETransformer(n_components=k, hidden_layer_sizes=(), random_state=0)
    vae.fit(X_deq_train)
    fa = FactorAnalysis(n_components=k, random_state=0).fit(X_deq_train)
    pca_k = PCA(n_components=k, random_state=0).fit(X_deq_train)
    for name, model in zip(held_out, [vae, fa, pca_k]):
        held_out[name].append(model.score(X_deq_test))
    print(
        f"n_components={k:2d}  linear VAE ELBO {held_out['linear VAE'][-1]:.3f}"
        f"  FA {held_out['FactorAnalysis'][-1]:.3f}  PCA {held_out['PCA'][-1]:.3f}"
        f"  (train: VAE - FA = {vae.score(X_deq_train) - fa.score(X_deq_train):+.4f})"
    )

fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
for (name, values), marker in zip(held_out.items(), ["o", "x", "s"]):
    ax.plot(dims, values, marker=marker, label=name)
ax.set(xlabel="n_components", ylabel="held-out score (nats per digit)", xticks=dims)
ax.legend()
plt.show()

# %%
# The VAE's ELBO matches factor analysis's log-likelihood to under a
# hundredth of a nat on the training rows and a few hundredths on the
# held-out ones (the gap is the tolerance of two iterative fits). PCA's
# isotropic noise model scores far lower on the same data.
#
# On the raw digits (``X / 16``) the two part company, by design: the VAE
# floors each pixel's noise variance at 1e-3 of that pixel's variance, and
# factor analysis does not. Factor analysis gives the near-constant border
# pixels a tiny noise variance and a higher mean score; the floor keeps the
# VAE from it. Both score the rare digit that inks such a pixel
# catastrophically, so compare models on such data by the median, or a
# trimmed mean, as well.
vae = VAETransformer(n_components=d, hidden_layer_sizes=(), random_state=0).fit(X_train)
fa = FactorAnalysis(n_components=d, random_state=0).fit(X_train)
for name, model in [("linear VAE", vae), ("FactorAnalysis", fa)]:
    rows = model.score_samples(X_test)
    print(
        f"X / 16, {name:14s} mean {rows.mean():7.2f}  median {np.median(rows):7.2f}"
        f"  worst row {rows.min():9.2f} nats"
    )
