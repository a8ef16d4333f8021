"""scikit-learn recommenders: MostPopular, SASRec, IntRR, TIGER."""
from .popular import MostPopular
from .sasrec import SASRecRecommender

__all__ = ["MostPopular", "SASRecRecommender"]
