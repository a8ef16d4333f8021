"""sksid: scikit-learn-compatible generative recommendation with Semantic IDs.

Estimators
----------
Tokenizers (``fit_transform(item_features) -> (codes, weights)``; inside a Pipeline on
item-id histories they pass the histories on with the codes attached):
:class:`ADCSIDTokenizer`, :class:`RQVAETokenizer`, :class:`RQKMeansTokenizer`,
:class:`OPQTokenizer`, :class:`LETTERTokenizer`, :class:`MMRQVAETokenizer`.

Recommenders (``fit(X, y)`` / ``predict(X) -> (n_users, top_k)`` on histories):
:class:`IntRRRecommender`, :class:`TIGERRecommender`, :class:`RPGRecommender`,
:class:`SASRecRecommender`, :class:`MostPopular`, :class:`ContentKNN` (content similarity: the
floor on cold items, ``fit(X, y, item_features=)``).

Pipelines: :class:`RecommenderPipeline` (and :func:`sksid.pipeline.make_pipeline`), a
scikit-learn Pipeline of a tokenizer and a recommender that checks its input before any
step trains and answers ``recommend`` like every recommender.

Preprocessing: :class:`ItemEncoder` maps raw item ids to ``0..n_items-1`` and back; your own
(user, item, time) log becomes a dataset with :func:`sksid.datasets.from_interactions`.

Persistence without pickle: :func:`save` / :func:`load` (see :mod:`sksid.persistence`).

Ranker (``fit(X, y, codes=, weights=)`` / ``predict_proba(X)`` on (user, item) rows, CTR):
:class:`SIDRanker`.

Submodules: :mod:`sksid.datasets`, :mod:`sksid.features`, :mod:`sksid.model_selection`,
:mod:`sksid.metrics`, :mod:`sksid.interactions`, :mod:`sksid.preprocessing`, :mod:`sksid.nn` (torch modules),
:mod:`sksid.testing`.

Examples
--------
>>> from sksid import ADCSIDTokenizer, IntRRRecommender, RecommenderPipeline
>>> pipe = RecommenderPipeline([("tok", ADCSIDTokenizer()), ("rec", IntRRRecommender())])
"""
from .ranker import SIDRanker
from .recommenders import ContentKNN, IntRRRecommender, MostPopular, RPGRecommender, SASRecRecommender, TIGERRecommender
from .persistence import load, save
from .pipeline import RecommenderPipeline
from .preprocessing import ItemEncoder
from .sequences import SIDSequences
from .tokenizers import ADCSIDTokenizer, LETTERTokenizer, MMRQVAETokenizer, OPQTokenizer, RQKMeansTokenizer, RQVAETokenizer

__version__ = "0.1.0"

__all__ = [
    "ADCSIDTokenizer",
    "RQVAETokenizer",
    "RQKMeansTokenizer",
    "OPQTokenizer",
    "LETTERTokenizer",
    "MMRQVAETokenizer",
    "IntRRRecommender",
    "TIGERRecommender",
    "RPGRecommender",
    "SASRecRecommender",
    "MostPopular",
    "ContentKNN",
    "SIDRanker",
    "RecommenderPipeline",
    "ItemEncoder",
    "SIDSequences",
    "save",
    "load",
    "__version__",
]
