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


@pytest.mark.parametrize("cls", _estimators(), ids=lambda c: c.__name__)
def test_every_parameter_is_documented(cls):
    doc = cls.__doc__
    assert "{" + "training}" not in doc
    names = [n for n, p in inspect.signature(cls).parameters.items()
             if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
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
