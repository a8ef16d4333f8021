"""Data loaders returning chronological interaction sequences with item metadata.

All loaders return a :class:`SequenceDataset`: one chronological item-id sequence per
user (ids ``0 .. n_items - 1``) plus item text, categories and popularity.
:func:`from_interactions` builds the same from your own (user, item, time) log.
"""
from ._base import SequenceDataset, k_core_filter
from .amazon import load_amazon
from .frame import from_interactions
from .movielens import load_movielens_100k

__all__ = ["SequenceDataset", "k_core_filter", "from_interactions", "load_amazon", "load_movielens_100k"]
