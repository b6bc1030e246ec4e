"""
====================================
Anomaly detection with score_samples
====================================

``score_samples`` gives one score per row, higher for rows the model explains
well: minus the reconstruction error for
:class:`~sklearn_ae.AutoencoderTransformer`, the evidence lower bound (ELBO,
in nats) for :class:`~sklearn_ae.VAETransformer`. Fitted on clean data, both
flag unusual rows by a low score, as :class:`~sklearn.decomposition.PCA` does
with its probabilistic-PCA log-likelihood (``PCA.score_samples``) or its
reconstruction error.

Here every model is fitted on clean training digits; 5% of the held-out
digits are then corrupted, half of them with random pixel noise and half with
a blanked 4x4 patch, and each score is judged by its ROC AUC at telling the
corrupted digits from the clean ones (1.0 is perfect, 0.5 is chance).
"""

# %%
# Clean training data, corrupted test data
# ----------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import RocCurveDisplay, roc_auc_score
from sklearn.model_selection import train_test_split

from sklearn_ae import AutoencoderTransformer, VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)

rng = np.random.default_rng(0)
n_corrupt = int(round(0.05 * len(X_test)))
corrupt = rng.choice(len(X_test), n_corrupt, replace=False)
noisy, blanked = corrupt[: n_corrupt // 2], corrupt[n_corrupt // 2 :]

X_test = X_test.copy()
# Random pixel noise: a quarter of the pixels replaced by uniform values.
for i in noisy:
    pixels = rng.choice(64, 16, replace=False)
    X_test[i, pixels] = rng.uniform(0, 1, size=16)
# A blanked patch: a 4x4 square of the central 6x6 region set to 0.
for i in blanked:
    image = X_test[i].reshape(8, 8)  # a view: writes go to X_test
    top, left = rng.integers(1, 4, size=2)
    image[top : top + 4, left : left + 4] = 0
is_anomaly = np.zeros(len(X_test), dtype=bool)
is_anomaly[corrupt] = True
print(f"{len(X_test)} test digits, {len(noisy)} with pixel noise, {len(blanked)} blanked")

# %%
# Fit the models on clean digits
# ------------------------------
# Eight latent dimensions each; default parameters plus ``random_state=0``.
# Each stops when its validation rows stop improving (the VAE after about 145
# epochs here) and keeps the weights of its best epoch on that split.
d = 8
pca = PCA(n_components=d, random_state=0).fit(X_train)
ae = AutoencoderTransformer(n_components=d, random_state=0).fit(X_train)
vae = VAETransformer(n_components=d, random_state=0).fit(X_train)


def minus_pca_reconstruction_error(X):
    X_hat = pca.inverse_transform(pca.transform(X))
    return -((X - X_hat) ** 2).sum(axis=1)


scores = {
    "PCA.score_samples (log-likelihood)": pca.score_samples(X_test),
    "PCA, minus reconstruction error": minus_pca_reconstruction_error(X_test),
    "AutoencoderTransformer.score_samples": ae.score_samples(X_test),
    "VAETransformer.score_samples (ELBO)": vae.score_samples(X_test),
}

# %%
# ROC AUC of each score
# ---------------------
# A low score flags an anomaly, so the AUC is computed on minus the score.
# The columns restrict the anomalies to one kind of corruption (against all
# the clean digits).
clean = ~is_anomaly
print(f"{'score':40s} {'all':>6s} {'noise':>6s} {'patch':>6s}")
for name, score in scores.items():
    aucs = [roc_auc_score(is_anomaly, -score)]
    for kind in (noisy, blanked):
        rows = clean.copy()
        rows[kind] = True
        aucs.append(roc_auc_score(is_anomaly[rows], -score[rows]))
    print(f"{name:40s} " + " ".join(f"{auc:6.3f}" for auc in aucs))

# %%
# Pixel noise is easy for every model: noise on the border pixels, which are
# nearly always blank, is far from anything seen in training: the
# networks catch all of it. A blanked patch leaves a plausible-looking partial
# digit and is harder; the autoencoder, which reconstructs digits more closely
# than PCA, separates it best here, while the VAE's ELBO ranks it about as
# PCA's scores do. With a dozen anomalies of each kind, differences in the
# second decimal are within noise.
fig, ax = plt.subplots(figsize=(6, 5.5), layout="constrained")
for name, score in scores.items():
    RocCurveDisplay.from_predictions(is_anomaly, -score, name=name, ax=ax)
ax.set(title="Corrupted test digits (5%)")
plt.show()

# %%
# The most anomalous test digits
# ------------------------------
# The twelve lowest ``VAETransformer.score_samples``, with their ELBO;
# corrupted digits are marked with a red title.
order = np.argsort(scores["VAETransformer.score_samples (ELBO)"])[:12]
fig, axes = plt.subplots(2, 6, figsize=(9, 3.6), layout="constrained")
for ax, i in zip(axes.ravel(), order):
    ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    elbo = scores["VAETransformer.score_samples (ELBO)"][i]
    ax.set_title(f"{elbo:.0f}", color="red" if is_anomaly[i] else "black", fontsize=9)
    ax.set(xticks=[], yticks=[])
plt.show()
