"""Evaluation protocols and leakage-free splitters for GridSearchCV.

* Leave-last-out (next-item recommendation, docs/protocol.md): per user, the last item is
  the test target, the second to last the validation target, everything before is
  training data; histories fed to the model for validation and test are capped at
  ``max_len`` items (:func:`leave_last_out`, :class:`LeaveLastOutSplit`,
  :class:`LeaveLastOutCV`, :func:`train_item_counts`).
* Temporal split (CTR ranking, docs/ranking.md): interaction rows sorted by time, the
  first ``1 - test_size`` of them train, the rest test (:func:`temporal_split`,
  :class:`TemporalSplitCV`).
"""
from ._leave_last_out import LeaveLastOutCV, LeaveLastOutSplit, leave_last_out, train_item_counts
from ._temporal import TemporalSplitCV, temporal_split

__all__ = ["LeaveLastOutSplit", "LeaveLastOutCV", "leave_last_out", "train_item_counts",
           "temporal_split", "TemporalSplitCV"]
