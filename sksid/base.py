"""Estimator building blocks shared by every sksid estimator family.

* :class:`SkorchParamsMixin`: skorch-style ``module__*`` / ``optimizer__*`` /
  ``callbacks__*`` / ``iterator_train__*`` pass-through parameters that survive
  ``get_params``/``set_params``/``clone`` (and therefore Pipeline and GridSearchCV).
* :class:`CPUFallbackMixin`: a model fitted on CUDA loads and predicts on a CPU.
* :func:`fill_docstring`: shared numpydoc entries put into class docstrings.

The training flow of the torch estimators is :mod:`sksid.training`; the recommenders'
bases are in :mod:`sksid.recommenders._base` and :mod:`sksid.recommenders._torch`.
"""
from __future__ import annotations

import copy
import inspect
import re

import torch
from sklearn.utils.validation import check_is_fitted

from ._validation import resolve_device

__all__ = ["SkorchParamsMixin", "CPUFallbackMixin", "fill_docstring", "clone_module_state"]


def fill_docstring(cls=None, blocks=None):
    """Put the numpydoc entries of ``blocks`` (``{name: text}``) where the class docstring
    has a line ``    {name}``; a placeholder left unfilled raises. A class decorator:
    ``@fill_docstring(blocks={...})``."""
    if cls is None:
        return lambda c: fill_docstring(c, blocks)
    doc = cls.__doc__
    for name, text in (blocks or {}).items():
        doc = doc.replace("    {" + name + "}\n", text)
    left = re.findall(r"^    \{(\w+)\}$", doc, flags=re.M)
    if left:
        raise RuntimeError(f"{cls.__name__}'s docstring has unfilled blocks {left}")
    cls.__doc__ = doc
    return cls


_PREFIXES = ("module__", "optimizer__", "callbacks__", "iterator_train__", "iterator_valid__")


class SkorchParamsMixin:
    """skorch-style prefixed parameters for sklearn estimators.

    ``Est(module__n_heads=4)`` stores ``module__n_heads`` as a parameter; ``get_params``
    returns it, ``set_params(module__n_heads=2)`` changes it and ``clone`` copies it, so
    ``GridSearchCV(param_grid={"rec__module__n_heads": [2, 4]})`` works.
    """

    _param_prefixes = _PREFIXES

    def _store_prefixed(self, kwargs):
        for key, value in kwargs.items():
            if not key.startswith(self._param_prefixes):
                raise TypeError(
                    f"{type(self).__name__}.__init__() got an unexpected keyword argument {key!r}; "
                    f"extra parameters must start with one of {self._param_prefixes}"
                )
            setattr(self, key, value)

    def _prefixed_names(self):
        return sorted(k for k in vars(self) if k.startswith(self._param_prefixes))

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update({k: getattr(self, k) for k in self._prefixed_names()})
        return params

    def set_params(self, **params):
        prefixed = {k: v for k, v in params.items() if k.startswith(self._param_prefixes)}
        for key, value in prefixed.items():
            setattr(self, key, value)
        rest = {k: v for k, v in params.items() if k not in prefixed}
        if rest:
            super().set_params(**rest)
        return self

    def _params_for(self, prefix: str) -> dict:
        p = prefix + "__"
        return {k[len(p):]: getattr(self, k) for k in self._prefixed_names() if k.startswith(p)}

    def _net_kwargs(self, module_kwargs: dict) -> dict:
        """skorch keyword arguments: the module's (overridden by ``module__*``) and every
        other prefixed parameter."""
        module_kwargs = dict(module_kwargs)
        module_kwargs.update(self._params_for("module"))
        net_kwargs = {f"module__{k}": v for k, v in module_kwargs.items()}
        for prefix in ("optimizer", "iterator_train", "iterator_valid", "callbacks"):
            net_kwargs.update({f"{prefix}__{k}": v for k, v in self._params_for(prefix).items()})
        return net_kwargs


class CPUFallbackMixin:
    """Device handling of a fitted torch estimator (``net_`` and ``device_``).

    Unpickling on a machine without CUDA moves a GPU-fitted estimator to the CPU: skorch
    already maps the net's tensors to the CPU (with a ``DeviceWarning``); this keeps the
    estimator's ``device_`` and its net's ``device`` consistent with them.
    :meth:`to_device` moves a fitted model explicitly.
    """

    def to_device(self, device):
        """Move a fitted model to ``device`` (e.g. after loading a GPU model on a CPU)."""
        check_is_fitted(self, "net_")
        self.device_ = resolve_device(device)
        self.net_.device = self.device_
        self.net_.module_.to(self.device_)
        return self

    def __setstate__(self, state):
        dev = state.get("device_")
        if dev is not None and str(dev).startswith("cuda") and not torch.cuda.is_available():
            state["device_"] = "cpu"
            net = state.get("net_")
            if net is not None:
                net.device = "cpu"
                net.module_.to("cpu")
        # a model pickled by an earlier sksid gains the parameters added since at their
        # defaults (which reproduce the earlier behaviour), so get_params / clone still work
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.default is not inspect.Parameter.empty and name not in state:
                state[name] = param.default
        self.__dict__.update(state)


def clone_module_state(module):
    """A detached copy of a module's state dict (for tests and analysis)."""
    return copy.deepcopy({k: v.detach().cpu() for k, v in module.state_dict().items()})
