"""The torch-trained tokenizers' base (ADC-SID, RQ-VAE): their quantiser trains through
the one flow of :mod:`sksid.training` (early stopping on the training loss, checkpoints,
resume, callbacks, schedules, averaging, time budget) with dead-code re-seeding after
every epoch (:class:`CodebookRefresh`)."""
from __future__ import annotations

import numpy as np
import torch
from skorch.callbacks import Callback

from .._validation import NON_NEGATIVE_INT, TRAINING_CONSTRAINTS
from ..base import CPUFallbackMixin
from ..training import FLOW_CONSTRAINTS, Monitor, TrainingMixin, training_doc
from ..training.net import eval_mode
from ._base import TOKENIZER_IO_DOC, BaseTokenizer

__all__ = ["TorchTokenizer", "CodebookRefresh", "TORCH_TOKENIZER_CONSTRAINTS", "TORCH_TOKENIZER_DOC"]

#: Training parameters of the torch-trained tokenizers. ``max_epochs=0`` is allowed: the
#: codebooks keep their k-means initialisation.
TORCH_TOKENIZER_CONSTRAINTS = {
    "max_epochs": [NON_NEGATIVE_INT],
    "batch_size": TRAINING_CONSTRAINTS["batch_size"],
    "lr": TRAINING_CONSTRAINTS["lr"],
    **FLOW_CONSTRAINTS,
}

#: numpydoc entries of the training options every torch tokenizer shares (``{torch_training}``)
TORCH_TOKENIZER_DOC = """    weight_decay : float, default=0.01
        AdamW weight decay (torch's AdamW default, with which the measured codes were learned).
    patience : int or None, default=None
        Early stopping on the training loss (epochs without a lower one; the best epoch's
        weights are restored). None: train ``max_epochs`` epochs.
""" + training_doc(["max_time", "lr_schedule", "ema_decay"]).replace(
    "best monitored score", "lowest training loss") + training_doc(
    ["compile", "checkpoint_dir", "callbacks", "device", "random_state"],
    auto="auto: off for the tokenizers, not measured faster; True compiles") + training_doc(["verbose"]) + (
    "        The behaviour model a tokenizer fits on histories (the default SASRec) prints at\n"
    "        the same verbosity.\n") + TOKENIZER_IO_DOC


class CodebookRefresh(Callback):
    """Dead-code re-seeding after every epoch, from the latents of all training items; on a
    resumed fit, the module's ``resume_training_state`` (if any) rebuilds what the last
    refresh left outside the weights."""

    def __init__(self, data):
        self.data = data

    def on_train_begin(self, net, **kwargs):
        resume = getattr(net.module_, "resume_training_state", None)
        if len(net.history) and resume is not None:  # a checkpoint's weights were restored
            batch = {k: torch.as_tensor(v, device=net.device) for k, v in self.data.items()}
            with eval_mode(net.module_):
                resume(**batch)

    def on_epoch_end(self, net, **kwargs):
        batch = {k: torch.as_tensor(v, device=net.device) for k, v in self.data.items()}
        with eval_mode(net.module_):
            n = net.module_.refresh_codebooks(**batch)
        net.history.record("reseeded", int(n))


class TorchTokenizer(CPUFallbackMixin, TrainingMixin, BaseTokenizer):
    """A tokenizer whose quantiser is a torch module trained through the flow."""

    _compile_auto = False
    _parameter_constraints: dict = {**BaseTokenizer._parameter_constraints, **TORCH_TOKENIZER_CONSTRAINTS}

    def _train_module(self, module_cls, module_kwargs, data, seed, resume):
        """Build, k-means-initialise and train ``module_cls`` on the arrays ``data``; sets
        ``net_`` and ``history_``."""
        def init_codebooks(module):
            batch = {k: torch.as_tensor(v, device=self.device_) for k, v in data.items()}
            module.init_codebooks(generator=torch.Generator().manual_seed(seed), **batch)

        self.net_, self.history_ = self._train_net(
            module_cls, module_kwargs, data, seed=seed, resume=resume,
            monitor=Monitor("train_loss", lower_is_better=True),
            model_callbacks=[("codebook_refresh", CodebookRefresh(data))],
            init_module=init_codebooks, history_keys=("reseeded",))
        self.n_epochs_ = len(self.history_)

    @torch.no_grad()
    def _run_module(self, data, keys=("codes", "weights")):
        """Batched eval forward of the fitted module (float32); numpy outputs + recon loss."""
        module = self.net_.module_
        outs = {k: [] for k in keys}
        recon = []
        n = len(next(iter(data.values())))
        bs = max(int(self.batch_size), 1024)
        with eval_mode(module):
            for b in range(0, n, bs):
                batch = {k: torch.as_tensor(v[b:b + bs], device=self.device_) for k, v in data.items()}
                out = module(**batch)
                for k in keys:
                    outs[k].append(out[k].float().cpu().numpy() if k != "codes" else out[k].cpu().numpy())
                recon.append(module.reconstruction_loss(out, batch, reduction="none").cpu().numpy())
        res = {k: np.concatenate(v) for k, v in outs.items()}
        return res, np.concatenate(recon)
