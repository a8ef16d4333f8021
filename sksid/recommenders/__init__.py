"""scikit-learn recommenders: MostPopular, ContentKNN, SASRec, IntRR, TIGER, RPG, and the contract they share
(:class:`BaseRecommender`, the base of third-party recommenders)."""
from ._base import BaseRecommender
from .content_knn import ContentKNN
from .intrr import IntRRRecommender
from .popular import MostPopular
from .rpg import RPGRecommender
from .sasrec import SASRecRecommender
from .tiger import TIGERRecommender

__all__ = ["BaseRecommender", "MostPopular", "SASRecRecommender", "IntRRRecommender", "TIGERRecommender",
           "RPGRecommender", "ContentKNN"]
