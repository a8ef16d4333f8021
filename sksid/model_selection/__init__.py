"""Evaluation protocols and leakage-free splitters for GridSearchCV.

* Leave-last-out (next-item recommendation, docs/protocol.md): per user, the last item is
  the test target, the second to last the validation target, everything before is
  training data; histories fed to the model for validation and test are capped at
  ``max_len`` items (:func:`leave_last_out`, :class:`LeaveLastOutSplit`,
  :class:`LeaveLastOutCV`, :func:`train_item_counts`).
* Cold items (issue 42): leave-last-out where a seeded share of the catalogue is new and
  appears only as test targets (:func:`cold_item_split`, :class:`ColdItemSplit`).
* Temporal split (CTR ranking, docs/ranking.md): interaction rows sorted by time, the
  first ``1 - test_size`` of them train, the rest test (:func:`temporal_split`,
  :class:`TemporalSplitCV`).
"""
from ._leave_last_out import LeaveLastOutCV, LeaveLastOutSplit, leave_last_out, train_item_counts
from ._cold import ColdItemSplit, cold_item_split
from ._temporal import TemporalSplitCV, temporal_split

__all__ = ["LeaveLastOutSplit", "LeaveLastOutCV", "leave_last_out", "train_item_counts",
           "cold_item_split", "ColdItemSplit",
           "temporal_split", "TemporalSplitCV"]
