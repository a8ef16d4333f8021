"""Ranking metrics (single held-out item), scorers for GridSearchCV, quantisation metrics.

Ranking metrics follow the leave-one-out protocol: each user has exactly one relevant
item ``y_true[u]`` and a ranked list ``y_pred[u]`` over the whole catalogue. With a single
relevant item, at cut-off ``k`` and 0-based rank ``r`` of the target:

* Recall@k (= HitRate@k) = 1 if ``r < k``;
* NDCG@k = ``1 / log2(r + 2)`` if ``r < k`` (the ideal DCG is 1);
* MRR@k = ``1 / (r + 1)`` if ``r < k``;

all 0 when the target is not in the first ``k``, averaged over users. If an id is
repeated in ``y_pred[u]`` its first position counts. Padding ids (e.g. ``-1``) in ``y_pred``
never match: ``y_true`` must hold non-negative ids.

CTR ranking (binary labels per (user, item) row): :func:`gauc` and :data:`gauc_scorer`;
plain AUC is scikit-learn's :func:`~sklearn.metrics.roc_auc_score`.
"""
from __future__ import annotations

from ._codes import code_entropy, codebook_utilization, collision_rate
from ._ctr import gauc
from ._ranking import _check_k  # noqa: F401  (private, used by sksid.recommenders)
from ._ranking import cold_start_report, mrr_at_k, ndcg_at_k, popularity_strata, ranking_report, recall_at_k
from ._scorers import (gauc_scorer, make_gauc_scorer, make_ranking_scorer, ndcg10_scorer,
                       recall10_scorer)

__all__ = [
    "recall_at_k", "ndcg_at_k", "mrr_at_k", "ranking_report", "popularity_strata", "cold_start_report",
    "make_ranking_scorer", "ndcg10_scorer", "recall10_scorer",
    "gauc", "make_gauc_scorer", "gauc_scorer",
    "code_entropy", "codebook_utilization", "collision_rate",
]
