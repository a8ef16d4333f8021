"""Data-parallel training of the torch estimators over ``torch.distributed`` (``torchrun``).

Launch the same script once per process with PyTorch's own launcher, and call
:func:`init` before fitting::

    torchrun --nproc_per_node=4 train.py          # one machine, 4 processes (GPUs or CPUs)
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_endpoint=host:29500 train.py   # 2 machines

    # train.py
    import sksid.distributed
    sksid.distributed.init()                      # gloo on CPU, nccl on CUDA (one GPU per process)
    rec = IntRRRecommender(random_state=0).fit(X, y, codes=codes)
    if sksid.distributed.rank() == 0:
        sksid.save(rec, "intrr.sksid")
    sksid.distributed.shutdown()

The estimators' API does not change. While a process group is initialised, every
:class:`~sksid.training.SIDNet` fit (SASRec, IntRR, TIGER, the CTR ranker):

* gives each process a contiguous share of every global batch of ``batch_size``
  training windows (the same seeded permutation on every process, so the global batches
  are those of a single-process fit);
* trains the module through torch's :class:`~torch.nn.parallel.DistributedDataParallel`
  (the module and its loss in one ``forward``, so DDP sees every parameter the loss uses;
  its gradient all-reduce overlaps the backward pass) and scales each process's loss terms
  by ``world size x local units / global units`` (units: the positions with a target, the
  rows of a CTR batch; one count per loss term, e.g. IntRR's alignment term counts history
  items), which DDP's gradient average turns into the single-process weighting, so the
  update **equals the single-process update** up to floating-point rounding (with
  ``dropout=0``; dropout masks are drawn per process);
* draws one training seed (process 0's, when ``random_state=None``) and validates on the
  full validation set with process 0's score recorded in every process, so all of them
  stop at the same epoch and hold the same model; a ``max_time`` budget stops all of them
  when any process's clock runs out; only process 0 writes ``checkpoint_dir``.

Why torch's DDP and not Hugging Face Accelerate (skorch's ``AccelerateMixin``): it is
part of torch (no new dependency) and is launched by ``torchrun``; what this module adds
is what DDP leaves to its user: sharding each global batch, the per-term unit weights,
one seed, one early-stopping decision (:func:`from_rank0`) and one time budget
(:func:`any_process`).

The tokenizers (ADC-SID, RQ-VAE) are not split: their losses use in-batch negatives and
batch code statistics, which do not decompose over processes, so under a process group
each process fits the same tokenizer (same seed, same result); fit them on a sample.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["init", "shutdown", "is_active", "rank", "world_size", "shard", "any_process", "from_rank0",
           "global_units"]


def init(backend: str | None = None, **kwargs) -> None:
    """Initialise the default process group from ``torchrun``'s environment variables.

    ``backend`` defaults to ``"nccl"`` when CUDA is available (and sets this process's GPU
    to ``LOCAL_RANK``), else ``"gloo"``. Extra keyword arguments go to
    :func:`torch.distributed.init_process_group`. A no-op when already initialised.
    """
    if is_active():
        return
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise RuntimeError("sksid.distributed.init() needs the environment torchrun sets (RANK, "
                           "WORLD_SIZE, MASTER_ADDR, MASTER_PORT); launch the script with "
                           "`torchrun --nproc_per_node=N script.py`")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend, **kwargs)


def shutdown() -> None:
    """Destroy the default process group (if any), after a barrier: a process that tears
    the group down while another still finishes its last collective can abort in gloo's
    background threads ("terminate called without an active exception")."""
    if is_active():
        dist.barrier()
        dist.destroy_process_group()


def is_active() -> bool:
    """True when a process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def shard(idx: torch.Tensor, rank_: int, world: int):
    """This process's contiguous share of a global batch of indices, and whether it is
    a stand-in: when the batch has fewer rows than processes, the empty ones get the
    batch's first row, whose loss they then weight by 0.

    Examples
    --------
    >>> [shard(torch.arange(5), r, 2)[0].tolist() for r in range(2)]
    [[0, 1, 2], [3, 4]]
    >>> shard(torch.arange(1), 1, 2)
    (tensor([0]), True)
    """
    part = torch.tensor_split(idx, world)[rank_]
    if part.numel() == 0:
        return idx[:1], True
    return part, False


def any_process(flag: bool) -> bool:
    """True when ``flag`` is true in any process (``flag`` itself outside a process group);
    a collective: every process of an active group must call it."""
    if not is_active():
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0])
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def from_rank0(value):
    """Process 0's ``value`` in every process (``value`` itself outside a process group); a
    collective: every process of an active group must call it.

    The training flow passes the seed a fit draws (``random_state=None``) and every epoch's
    validation score through it, so all processes start from the same initialisation and
    take the same early-stopping and learning-rate decisions."""
    if not is_active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def global_units(local: torch.Tensor) -> torch.Tensor:
    """Sum over the processes of per-term unit counts (a 1-D tensor)."""
    out = local.detach().to(torch.float64).clone()
    dist.all_reduce(out)
    return out
