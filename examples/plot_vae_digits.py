"""
============================================
A variational autoencoder on the digits data
============================================

:class:`~sklearn_ae.VAETransformer` learns a generative model
``z ~ N(0, I)``, ``x | z ~ p(x | z)``. Besides ``transform`` (the posterior
mean of ``z``) and ``inverse_transform`` (the decoder mean), it can draw new
data with ``sample``. This example fits a VAE with a 2-D latent space to
scikit-learn's 8x8 digits, plots the latent space, decodes a grid of points
across it, and draws new digits from the model.
"""

# %%
# Fit the model
# -------------
# The pixels are scaled to [0, 1] and modelled as Bernoulli probabilities
# (``likelihood="bernoulli"``), the usual choice for images; the default
# Gaussian likelihood suits general continuous data. For data in [0, 1] take
# the Bernoulli likelihood: its samples stay in [0, 1], where a Gaussian
# VAE's ``sample(noise=False)`` on these pixels puts 14% (at d=2) to about
# 20% (at d=8) of its values outside [0, 1].
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from sklearn_ae import VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16

vae = VAETransformer(n_components=2, likelihood="bernoulli", random_state=0).fit(X)
print(f"{vae.n_iter_} epochs; KL to the prior in the last one: {vae.kl_curve_[-1]:.2f} nats")
print(f"ELBO {vae.score(X):.2f} nats per digit (Bernoulli likelihood of the pixels)")


def mosaic(images, n_rows, n_cols, pad=1):
    """Tile 8x8 images into one array, with ``pad`` blank pixels between them."""
    size = 8 + pad
    canvas = np.full((n_rows * size - pad, n_cols * size - pad), np.nan)
    for k, image in enumerate(images):
        i, j = divmod(k, n_cols)
        canvas[i * size : i * size + 8, j * size : j * size + 8] = image.reshape(8, 8)
    return canvas


# %%
# The latent space
# ----------------
# Posterior means of all digits. The KL term pulls the codes towards the
# standard normal prior, so they fill a disc around the origin.
Z = vae.transform(X)
fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
points = ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", vmin=-0.5, vmax=9.5, s=6)
fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
ax.set(xlabel="z 1", ylabel="z 2", title="Posterior means")
plt.show()

# %%
# Decoding a grid of latent points
# --------------------------------
# ``inverse_transform`` maps each point of a 15x15 grid over [-2.5, 2.5]^2 to
# the decoder's mean image; the digits morph into each other along the grid.
# Rows run from z 2 = 2.5 at the top to -2.5 at the bottom, matching the
# scatter plot above.
grid = np.linspace(-2.5, 2.5, 15)
Z_grid = np.array([[z1, z2] for z2 in grid[::-1] for z1 in grid])
decoded = vae.inverse_transform(Z_grid)

fig, ax = plt.subplots(figsize=(7, 7), layout="constrained")
ax.imshow(mosaic(decoded, 15, 15), cmap="gray_r", vmin=0, vmax=1)
ax.set(xticks=[], yticks=[], title="inverse_transform over the latent plane")
plt.show()

# %%
# Sampling new digits
# -------------------
# ``sample`` draws ``z`` from the prior and then ``x`` from ``p(x | z)``; with
# the Bernoulli likelihood each pixel is 0 or 1. ``sample(noise=False)``
# returns the decoder's mean at the same codes instead: smooth images like the
# grid above, what is usually shown as generated digits. Both stay in [0, 1]
# (means are probabilities, draws are 0 or 1).
noisy = vae.sample(16, random_state=0)
means = vae.sample(16, random_state=0, noise=False)
fig, axes = plt.subplots(1, 2, figsize=(8, 4), layout="constrained")
for ax, images, title in [
    (axes[0], means, "sample(noise=False): decoder means"),
    (axes[1], noisy, "sample(): draws from p(x | z)"),
]:
    ax.imshow(mosaic(images, 4, 4), cmap="gray_r", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[], title=title)
plt.show()
