"""scikit-learn recommenders: MostPopular, SASRec, IntRR, TIGER."""
from .intrr import IntRRRecommender
from .popular import MostPopular
from .sasrec import SASRecRecommender
from .tiger import TIGERRecommender

__all__ = ["MostPopular", "SASRecRecommender", "IntRRRecommender", "TIGERRecommender"]
