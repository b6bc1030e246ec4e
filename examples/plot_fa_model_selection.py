"""
===================================================================
Model selection with probabilistic PCA, factor analysis and the VAE
===================================================================

scikit-learn's example "Model selection with Probabilistic PCA and Factor
Analysis (FA)" chooses the number of components of a low-rank model by its
cross-validated log-likelihood: ``cross_val_score(PCA(n_components=k), X)``
uses :meth:`PCA.score <sklearn.decomposition.PCA.score>`, the mean
log-likelihood of held-out rows under probabilistic PCA, and likewise for
:class:`~sklearn.decomposition.FactorAnalysis`.

:class:`~sklearn_ae.VAETransformer` joins in unchanged: its ``score`` is the
mean evidence lower bound (ELBO) of the rows, in nats and in the original
units of X, a lower bound on the same log-likelihood. The data are the
example's: a rank-10 signal in 50 features, 500 samples, plus noise of the
same variance on every feature (homoscedastic) or of a different variance on
each (heteroscedastic). The grid of ``n_components`` and the number of folds
are smaller than in scikit-learn's example to keep this one under a minute.
"""

# %%
# The data
# --------
import matplotlib.pyplot as plt
import numpy as np
from scipy import linalg
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.model_selection import cross_val_score

from sklearn_ae import VAETransformer

n_samples, n_features, rank = 500, 50, 10
sigma = 1.0
rng = np.random.RandomState(42)
U, _, _ = linalg.svd(rng.randn(n_features, n_features))
X = np.dot(rng.randn(n_samples, rank), U[:, :rank].T)

# Adding homoscedastic noise
X_homo = X + sigma * rng.randn(n_samples, n_features)

# Adding heteroscedastic noise
sigmas = sigma * rng.rand(n_features) + sigma / 2.0
X_hetero = X + rng.randn(n_samples, n_features) * sigmas

# %%
# Cross-validated scores
# ----------------------
# Three folds, each model with its default parameters (the VAE's plus
# ``random_state=0``). The VAE starts from factor analysis and keeps it unless
# training beats it on a validation split held out of each training fold, so
# on data that truly are linear-Gaussian its score follows factor
# analysis's; its ELBO is a bound, so it can only lose a little to it.
n_components = [1, 5, 10, 15, 20]
models = {
    "PCA": lambda k: PCA(n_components=k, svd_solver="full"),
    "FactorAnalysis": lambda k: FactorAnalysis(n_components=k),
    "VAETransformer": lambda k: VAETransformer(n_components=k, random_state=0),
}


def compute_scores(X):
    return {
        name: [np.mean(cross_val_score(make(k), X, cv=3)) for k in n_components]
        for name, make in models.items()
    }


results = {}
for X, title in [(X_homo, "Homoscedastic noise"), (X_hetero, "Heteroscedastic noise")]:
    scores = compute_scores(X)
    results[title] = scores
    print(title)
    for name, values in scores.items():
        best = n_components[int(np.argmax(values))]
        print(
            f"  {name:15s} "
            + " ".join(f"{v:8.2f}" for v in values)
            + f"   best n_components = {best}"
        )

# %%
# The scores against ``n_components``
# -----------------------------------
# Each model's best ``n_components`` is marked by a dashed line, the true rank
# by a dotted one. Under homoscedastic noise probabilistic PCA is the right
# model and all three agree. Under heteroscedastic noise PCA's single noise
# variance fits badly and its likelihood keeps improving with more
# components; factor analysis and the VAE, with one noise variance per
# feature, score higher.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for ax, (title, scores) in zip(axes, results.items()):
    for color, (name, values) in zip(["C0", "C1", "C2"], scores.items()):
        ax.plot(n_components, values, marker="o", color=color, label=name)
        best = n_components[int(np.argmax(values))]
        ax.axvline(best, color=color, ls="--", lw=1)
    ax.axvline(rank, color="black", ls=":", lw=1, label="true rank")
    ax.set(
        title=title,
        xlabel="n_components",
        ylabel="CV score (nats per sample)",
        xticks=n_components,
    )
    ax.legend(loc="best")
plt.show()
