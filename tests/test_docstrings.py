"""The two estimators document their shared parameters and attributes in the same words.

Each estimator owns its docstring (scikit-learn's ``PCA`` owns its own over
``_BasePCA``); the entries they share are kept identical by this test, as
scikit-learn's ``test_docstring_parameters_consistency.py`` keeps its own.
The entries left out differ on purpose: they describe the model (the
autoencoder's PCA start against the VAE's factor analysis, its loss in
units of X against the VAE's nats, the VAE's reparameterisation noise).
"""

import pytest
from sklearn.utils._testing import assert_docstring_consistency

from sklearn_ae import AutoencoderTransformer, VAETransformer

pytest.importorskip("numpydoc")

SHARED_PARAMETERS = [
    "n_components",
    "hidden_layer_sizes",
    "activation",
    "batch_size",
    "optimizer",
    "learning_rate_init",
    # max_iter is not shared: the VAE's default is 300, the autoencoder's 200.
    "n_iter_no_change",
    "validation_fraction",
    "shuffle",
    "device",
    "verbose",
    "warm_start",
    "n_threads",
]

SHARED_ATTRIBUTES = [
    "n_components_",
    "module_",
    "validation_scores_",
    "best_validation_score_",
    "best_loss_",
    "n_iter_",
    "n_steps_",
    "device_",
    "n_features_in_",
    "feature_names_in_",
]


def test_shared_parameters_and_attributes_are_documented_alike():
    assert_docstring_consistency(
        [AutoencoderTransformer, VAETransformer],
        include_params=SHARED_PARAMETERS,
        include_attrs=SHARED_ATTRIBUTES,
    )


def test_every_shared_entry_is_in_both_docstrings():
    # assert_docstring_consistency ignores an entry missing from one object.
    from numpydoc.docscrape import ClassDoc

    for cls in (AutoencoderTransformer, VAETransformer):
        doc = ClassDoc(cls)
        parameters = {p.name for p in doc["Parameters"]}
        attributes = {p.name for p in doc["Attributes"]}
        assert set(SHARED_PARAMETERS) <= parameters, cls.__name__
        assert set(SHARED_ATTRIBUTES) <= attributes, cls.__name__
        # Every constructor parameter is documented.
        assert parameters == set(cls().get_params()), cls.__name__
