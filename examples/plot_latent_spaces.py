"""
=====================================================
Latent spaces of the digits: PCA, autoencoder and VAE
=====================================================

Three ways to map scikit-learn's 8x8 digits (64 pixels) to a plane:
:class:`~sklearn.decomposition.PCA`, the nonlinear
:class:`~sklearn_ae.AutoencoderTransformer` and the variational
:class:`~sklearn_ae.VAETransformer`. All three are transformers with the same
``fit`` / ``transform`` interface; each is fitted on 70% of the digits with its
default parameters and ``random_state=0``, and the held-out 30% are plotted,
coloured by their label (which none of the models sees).

Two numbers summarise each map: the accuracy of a 5-nearest-neighbour
classifier trained on the 2-D codes of the training digits, scored on the
held-out codes (how well the classes separate), and the trustworthiness of
the map (:func:`sklearn.manifold.trustworthiness`: 1.0 means the 10 nearest
neighbours of every held-out digit in the plane are also near it in pixel
space).
"""

# %%
# Fit the three models
# --------------------
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from sklearn_ae import AutoencoderTransformer, VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

models = {
    "PCA": PCA(n_components=2, random_state=0),
    "AutoencoderTransformer": AutoencoderTransformer(n_components=2, random_state=0),
    "VAETransformer": VAETransformer(n_components=2, random_state=0),
}
codes = {}
for name, model in models.items():
    model.fit(X_train)
    Z_train, Z_test = model.transform(X_train), model.transform(X_test)
    knn = KNeighborsClassifier(n_neighbors=5).fit(Z_train, y_train)
    codes[name] = Z_test
    print(
        f"{name:23s} 5-NN accuracy {knn.score(Z_test, y_test):.3f}   "
        f"trustworthiness {trustworthiness(X_test, Z_test, n_neighbors=10):.3f}"
    )

# %%
# For the two networks, ``best_epoch_`` says which epoch's weights were kept
# (0 would mean the linear start, i.e. PCA or factor analysis, was not
# beaten on the held-out validation split).
for name in ["AutoencoderTransformer", "VAETransformer"]:
    model = models[name]
    print(f"{name}: {model.n_iter_} epochs, weights of epoch {model.best_epoch_} kept")

# %%
# The three planes
# ----------------
# PCA can only rotate and project, so classes that differ along directions
# of low variance overlap. The autoencoder bends the projection and pulls
# several classes apart. The VAE's codes are posterior means; its KL term
# pulls them towards the standard normal prior, so they fill a disc around
# the origin.
fig, axes = plt.subplots(1, 3, figsize=(13, 4.3), layout="constrained")
for ax, (name, Z) in zip(axes, codes.items()):
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", vmin=-0.5, vmax=9.5, s=8)
    ax.set(title=name, xlabel="component 1", ylabel="component 2")
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
plt.show()
