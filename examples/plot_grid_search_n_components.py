"""
===========================================================
Choosing n_components with GridSearchCV before a classifier
===========================================================

:class:`~sklearn_ae.AutoencoderTransformer` and
:class:`~sklearn_ae.VAETransformer` take :class:`~sklearn.decomposition.PCA`'s
place in a :class:`~sklearn.pipeline.Pipeline`, so
:class:`~sklearn.model_selection.GridSearchCV` tunes their latent dimension
like PCA's: through the ``<step>__n_components`` parameter. Here each
reducer sits between a :class:`~sklearn.preprocessing.StandardScaler` and a
:class:`~sklearn.linear_model.LogisticRegression` on scikit-learn's digits,
and the 3-fold cross-validated accuracy is plotted against ``n_components``.
"""

# %%
# The pipelines and the grid
# --------------------------
# One pipeline per reducer, default parameters plus ``random_state=0``, except
# that the VAE is capped at 60 epochs (the default ``max_iter`` is 200) to keep
# this example under a minute: on these data it is still improving then, and
# says so with a :class:`~sklearn.exceptions.ConvergenceWarning`, silenced
# here. The searches run one fit at a time; on a machine with cores to spare,
# ``GridSearchCV(..., n_jobs=4)`` fits four candidates at once in separate
# processes (on the two shared cores that build this page, it was slower).
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ae import AutoencoderTransformer, VAETransformer

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
n_components = [2, 4, 8, 16]

reducers = {
    "PCA": PCA(random_state=0),
    "AutoencoderTransformer": AutoencoderTransformer(random_state=0),
    "VAETransformer": VAETransformer(max_iter=60, random_state=0),
}
searches = {}
for name, reducer in reducers.items():
    pipe = make_pipeline(StandardScaler(), reducer, LogisticRegression(max_iter=1000))
    step = pipe.steps[1][0]  # "pca", "autoencodertransformer", "vaetransformer"
    search = GridSearchCV(pipe, {f"{step}__n_components": n_components}, cv=3)
    searches[name] = search.fit(X, y)
    best = search.best_params_[f"{step}__n_components"]
    scores = search.cv_results_["mean_test_score"]
    print(
        f"{name:23s} accuracy "
        + "  ".join(f"d={d}: {s:.3f}" for d, s in zip(n_components, scores))
        + f"   best n_components={best}"
    )

# %%
# Cross-validated accuracy against the latent dimension
# -----------------------------------------------------
# The nonlinear codes matter most when the code is small: with two or four
# components the autoencoder keeps more of what separates the classes than
# PCA's projection does. With 16 components all three feed the classifier
# nearly everything it needs.
fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
for name, search in searches.items():
    mean = search.cv_results_["mean_test_score"]
    std = search.cv_results_["std_test_score"]
    ax.errorbar(n_components, mean, yerr=std, marker="o", capsize=3, label=name)
ax.set(
    xscale="log",
    xticks=n_components,
    xticklabels=[str(d) for d in n_components],
    xlabel="n_components",
    ylabel="3-fold CV accuracy",
    title="StandardScaler -> reducer -> LogisticRegression",
)
ax.minorticks_off()
ax.legend()
plt.show()

# %%
# The best pipeline is refitted on all the data, as with any
# :class:`~sklearn.model_selection.GridSearchCV`:
best = max(searches, key=lambda name: searches[name].best_score_)
print(f"best: {best}, {searches[best].best_params_}, CV accuracy {searches[best].best_score_:.3f}")
print(np.round(searches[best].predict_proba(X[:1]), 3))
