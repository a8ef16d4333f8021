"""sksid: scikit-learn-compatible generative recommendation with Semantic IDs.

Estimators
----------
Recommenders (fit/predict on item-id histories): :class:`MostPopular`,
:class:`SASRecRecommender`.

Submodules: :mod:`sksid.datasets`, :mod:`sksid.features`, :mod:`sksid.model_selection`,
:mod:`sksid.metrics`, :mod:`sksid.nn` (torch modules), :mod:`sksid.testing`.
"""
from .recommenders import MostPopular, SASRecRecommender
from .sequences import SIDSequences

__version__ = "0.1.0"

__all__ = ["MostPopular", "SASRecRecommender", "SIDSequences", "__version__"]
