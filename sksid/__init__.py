"""sksid: scikit-learn-compatible generative recommendation with Semantic IDs.

Estimators
----------
Tokenizers (``fit_transform(item_features) -> (codes, weights)``; inside a Pipeline on
item-id histories they pass the histories on with the codes attached):
:class:`ADCSIDTokenizer`, :class:`RQVAETokenizer`, :class:`RQKMeansTokenizer`,
:class:`OPQTokenizer`.

Recommenders (``fit(X, y)`` / ``predict(X) -> (n_users, top_k)`` on histories):
:class:`IntRRRecommender`, :class:`TIGERRecommender`, :class:`RPGRecommender`,
:class:`SASRecRecommender`, :class:`MostPopular`, :class:`ContentKNN` (content similarity: the
floor on cold items, ``fit(X, y, item_features=)``).

Preprocessing: :class:`ItemEncoder` maps raw item ids to ``0..n_items-1`` and back.

Persistence without pickle: :func:`save` / :func:`load` (see :mod:`sksid.persistence`).

Ranker (``fit(X, y, codes=, weights=)`` / ``predict_proba(X)`` on (user, item) rows, CTR):
:class:`SIDRanker`.

Submodules: :mod:`sksid.datasets`, :mod:`sksid.features`, :mod:`sksid.model_selection`,
:mod:`sksid.metrics`, :mod:`sksid.interactions`, :mod:`sksid.preprocessing`, :mod:`sksid.nn` (torch modules),
:mod:`sksid.testing`.

Examples
--------
>>> from sklearn.pipeline import Pipeline
>>> from sksid import ADCSIDTokenizer, IntRRRecommender
>>> pipe = Pipeline([("tok", ADCSIDTokenizer()), ("rec", IntRRRecommender())])
"""
from .ranker import SIDRanker
from .recommenders import ContentKNN, IntRRRecommender, MostPopular, RPGRecommender, SASRecRecommender, TIGERRecommender
from .persistence import load, save
from .preprocessing import ItemEncoder
from .sequences import SIDSequences
from .tokenizers import ADCSIDTokenizer, OPQTokenizer, RQKMeansTokenizer, RQVAETokenizer

__version__ = "0.1.0"

__all__ = [
    "ADCSIDTokenizer",
    "RQVAETokenizer",
    "RQKMeansTokenizer",
    "OPQTokenizer",
    "IntRRRecommender",
    "TIGERRecommender",
    "RPGRecommender",
    "SASRecRecommender",
    "MostPopular",
    "ContentKNN",
    "SIDRanker",
    "ItemEncoder",
    "SIDSequences",
    "save",
    "load",
    "__version__",
]
