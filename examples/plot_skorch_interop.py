"""
=============================================
Training the package's networks with skorch
=============================================

:class:`~sklearn_ae.AutoencoderTransformer` trains its network with its own
loop. Users whose training already runs on `skorch <https://skorch.readthedocs.io>`_
(callbacks, checkpoints, learning-rate schedules) can train the same network
there instead: the public module :mod:`sklearn_ae.nn` holds it as a plain
``torch.nn.Module``, ``sklearn_ae.nn.Autoencoder``, and the loss as a plain
tensor function, ``sklearn_ae.nn.squared_error``. This example trains that
network with :class:`skorch.NeuralNet` on scikit-learn's digits and compares
its held-out reconstruction error with :class:`~sklearn.decomposition.PCA`'s.

What the estimator adds on top of the bare network, and this example does not
use: standardization of X, the start at the linear model (PCA), early
stopping with the best weights restored, and ``transform`` /
``inverse_transform`` on numpy arrays.
"""

# %%
# Data
# ----
# The digits scaled to [0, 1], as float32 (the network's dtype), with 30% held
# out for testing.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from skorch import NeuralNet
from skorch.dataset import ValidSplit
from torch import nn

from sklearn_ae.nn import Autoencoder, squared_error

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
n_features = X.shape[1]


# %%
# A criterion from the package's loss
# -----------------------------------
# ``squared_error(x, x_hat, weight)`` returns one weighted sum of squared
# errors per sample; skorch wants a module called as
# ``criterion(y_pred, y_true)`` that returns the batch's scalar loss. Equal
# weights of ``1 / n_features`` make it the mean squared error per feature.
class SquaredError(nn.Module):
    """Mean over the batch of ``sklearn_ae.nn.squared_error``."""

    def __init__(self, n_features):
        super().__init__()
        self.register_buffer("weight", torch.full((n_features,), 1.0 / n_features))

    def forward(self, y_pred, y_true):
        return squared_error(y_true, y_pred, self.weight).mean()


# %%
# The network, trained by skorch
# ------------------------------
# skorch builds the module from ``module__`` parameters. ``Autoencoder``
# draws its initial weights from the :class:`torch.Generator` it is given,
# never from torch's global random state; skorch's shuffling does use the
# global state, hence the ``torch.manual_seed``. The target is X itself, and
# skorch holds out 10% of the training rows to report a validation loss.
torch.manual_seed(0)
net = NeuralNet(
    Autoencoder,
    module__n_features=n_features,
    module__n_components=2,
    module__hidden_layer_sizes=(128, 64),
    module__activation="relu",
    module__generator=torch.Generator().manual_seed(0),
    criterion=SquaredError,
    criterion__n_features=n_features,
    optimizer=torch.optim.Adam,
    lr=1e-3,
    max_epochs=60,
    batch_size=64,
    iterator_train__shuffle=True,
    train_split=ValidSplit(0.1, stratified=False, random_state=0),
    device="cpu",
    verbose=0,
)
net.fit(X_train, X_train)
train_loss = net.history[:, "train_loss"]
valid_loss = net.history[:, "valid_loss"]
print(
    f"{len(net.history)} epochs: train loss {train_loss[0]:.4f} -> {train_loss[-1]:.4f}, "
    f"validation loss {valid_loss[0]:.4f} -> {valid_loss[-1]:.4f}"
)

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
epochs = np.arange(1, len(net.history) + 1)
ax.plot(epochs, train_loss, label="train")
ax.plot(epochs, valid_loss, label="validation")
ax.set(xlabel="epoch", ylabel="mean squared error per feature", yscale="log")
ax.legend()
plt.show()

# %%
# Codes and reconstructions
# -------------------------
# ``net.forward`` runs the whole network, batched, and returns the
# reconstructions; the fitted module, ``net.module_``, is the package's
# ``Autoencoder``, so its ``encode`` gives the 2-D codes. PCA with two
# components is the reference.
X_hat = net.forward(X_test).numpy()
with torch.no_grad():
    codes = net.module_.encode(torch.as_tensor(X_test)).numpy()
pca = PCA(n_components=2, random_state=0).fit(X_train)
codes_pca = pca.transform(X_test)
mse_net = mean_squared_error(X_test, X_hat)
mse_pca = mean_squared_error(X_test, pca.inverse_transform(codes_pca))
print(f"held-out MSE: skorch-trained Autoencoder {mse_net:.4f}, PCA {mse_pca:.4f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
for ax, (name, Z) in zip(axes, [("PCA", codes_pca), ("Autoencoder, trained by skorch", codes)]):
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", vmin=-0.5, vmax=9.5, s=6)
    ax.set(title=name, xlabel="component 1", ylabel="component 2")
fig.colorbar(points, ax=list(axes), ticks=range(10), label="digit")
plt.show()
