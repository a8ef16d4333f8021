"""The training layer: one fit flow for every torch-backed estimator.

* :mod:`~sksid.training.flow`: :class:`TrainingMixin` (the flow and its options) and
  :class:`Monitor` (the score a fit is judged by).
* :mod:`~sksid.training.net`: :class:`SIDNet`, the skorch net the flow trains; autocast,
  seeding and batched evaluation helpers.
* :mod:`~sksid.training.batching`: training batches on the device.
* :mod:`~sksid.training.callbacks`: validation score, time budget, plateau schedule,
  weight averaging.
* :mod:`~sksid.training.checkpoint`: checkpoints for an exact resume.
"""
from .batching import DeviceBatchIterator
from .callbacks import PlateauLR, RankingValidation, TimeBudget, WeightAverage
from .checkpoint import ResumableCheckpoint
from .flow import FLOW_CONSTRAINTS, TRAINING_DOC, Monitor, TrainingMixin, training_doc
from .net import SIDNet, autocast_context, eval_batches, torch_seed

__all__ = ["TrainingMixin", "Monitor", "FLOW_CONSTRAINTS", "TRAINING_DOC", "training_doc", "SIDNet",
           "DeviceBatchIterator", "RankingValidation", "TimeBudget", "PlateauLR", "WeightAverage",
           "ResumableCheckpoint", "autocast_context", "eval_batches", "torch_seed"]
