"""Training batches on the device: the whole training dict moves to the device once and
batches are index slices of a seeded permutation (skorch's per-sample ``DataLoader`` would
do per-item Python work in the training loop)."""
from __future__ import annotations

import numpy as np
import torch

from ..distributed import shard

__all__ = ["DeviceBatchIterator", "STANDIN", "loss_units"]


class DeviceBatchIterator:
    """Iterate over a skorch ``Dataset`` whose ``X`` is a dict of equal-length arrays.

    Moves every array to ``device`` once, then yields ``(batch_dict, None)`` slices of a
    per-epoch random permutation drawn from a seeded :class:`torch.Generator`.
    """

    def __init__(self, dataset, batch_size=256, shuffle=False, device="cpu", seed=0,
                 drop_last=False, shard=None, **_ignored):
        X = dataset.X
        if not isinstance(X, dict):
            raise TypeError("DeviceBatchIterator expects a dataset whose X is a dict of arrays")
        self.data = {k: torch.as_tensor(np.asarray(v)).to(device) for k, v in X.items()}
        self.n = len(next(iter(self.data.values())))
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(int(seed))
        self.epoch = 0
        self.shard = shard  # (rank, world): yield this process's share of each batch

    def __len__(self):
        if self.drop_last:
            return self.n // self.batch_size
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator)
            order = order.to(next(iter(self.data.values())).device)
        else:
            order = None
        for b in range(len(self)):
            sl = slice(b * self.batch_size, min((b + 1) * self.batch_size, self.n))
            if self.shard is not None:  # the global batch of a single-process fit, split
                full = torch.arange(sl.start, sl.stop) if order is None else order[sl].cpu()
                idx, standin = shard(full, *self.shard)
                batch = {k: v[idx.to(v.device)] for k, v in self.data.items()}
                batch[STANDIN] = standin
                yield batch, None
            elif order is None:
                yield {k: v[sl] for k, v in self.data.items()}, None
            else:
                idx = order[sl]
                yield {k: v[idx] for k, v in self.data.items()}, None


#: batch key of a sharded training batch: True when this process has no rows of the global
#: batch and holds a stand-in row whose loss it weights by 0 (see sksid.distributed)
STANDIN = "__standin__"


def loss_units(batch) -> int:
    """Default unit count of a batch's mean loss: positions with a target, else rows."""
    if "targets" in batch:
        return int((batch["targets"] >= 0).sum())
    first = batch["label"] if "label" in batch else next(iter(batch.values()))
    return int(first.shape[0])
