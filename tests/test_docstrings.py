"""Every parameter of every public estimator is documented in its class docstring, with a
description (``help(Estimator)`` is where a notebook user looks)."""
import inspect
import re

import pytest

import sksid


def _estimators():
    from sklearn.base import BaseEstimator
    return [obj for name in sksid.__all__ for obj in [getattr(sksid, name)]
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator)]


def _init_params(cls):
    """The constructor's named parameters (``inspect.Parameter``), ``*args``/``**kwargs`` left out."""
    return [p for p in inspect.signature(cls).parameters.values()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


@pytest.mark.parametrize("cls", _estimators(), ids=lambda c: c.__name__)
def test_every_parameter_is_documented(cls):
    doc = cls.__doc__
    assert "{" + "training}" not in doc
    names = [p.name for p in _init_params(cls)]
    missing = [n for n in names if not re.search(rf"^    {n} : ", doc, re.M)]
    assert not missing, f"{cls.__name__}: parameters without a numpydoc entry: {missing}"
    bare = [n for n in names if re.search(rf"^    {n} : .*\n(    \S|\n)", doc, re.M)]
    assert not bare, f"{cls.__name__}: parameters without a description: {bare}"


def test_fill_docstring_refuses_an_unknown_block():
    from sksid.base import fill_docstring

    class Foo:
        pass
    Foo.__doc__ = "Doc.\n\n    Parameters\n    ----------\n    {nope}\n"
    with pytest.raises(RuntimeError, match="nope"):
        fill_docstring(Foo)


@pytest.mark.parametrize("cls", _estimators(), ids=lambda c: c.__name__)
def test_documented_defaults_match_the_signature(cls):
    """A numpydoc ``default=...`` is the value the constructor really has (written as Python:
    ``"auto"``, ``2e-3``, ``1/3``); an entry without one says ``optional`` and defaults to None.
    Guards against a default that moves in the code but not in ``help()``."""
    doc = cls.__doc__
    wrong = []
    for p in _init_params(cls):
        if p.default is p.empty:  # a required parameter (a Pipeline's steps): no default to state
            continue
        name = p.name
        line = re.search(rf"^    {name} : (.*)$", doc, re.M).group(1)
        stated = re.search(r"default=(.*)$", line)
        if stated is None:
            if not (line.rstrip().endswith("optional") and p.default is None):
                wrong.append(f"{name}: no default= in {line!r} (signature {p.default!r})")
            continue
        value = eval(stated.group(1).strip().rstrip("."), {"__builtins__": {}})  # literals and 1/3
        if value != p.default or isinstance(value, bool) != isinstance(p.default, bool):
            wrong.append(f"{name}: documented {stated.group(1)!r}, signature {p.default!r}")
    assert not wrong, f"{cls.__name__}: " + "; ".join(wrong)
