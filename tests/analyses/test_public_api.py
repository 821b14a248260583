"""The curated public API resolves, and the docstring examples run."""

from __future__ import annotations

import doctest
import importlib

import pytest

import analyses

MODULES = ["analyses.pooling", "analyses.tau2", "analyses.effects", "analyses.binary",
           "analyses.peto", "analyses.batch", "analyses.roots", "analyses.mh",
           "analyses.heterogeneity", "analyses.two_stage", "analyses.interactions",
           "analyses.cox_zph", "analyses.rmst", "analyses.km"]


def test_every_public_name_resolves():
    for name in analyses.__all__:
        assert getattr(analyses, name) is not None, name


def test_unknown_name_is_attribute_error():
    with pytest.raises(AttributeError):
        analyses.not_a_thing  # noqa: B018


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    mod = importlib.import_module(module)
    failures, _ = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


def test_all_lists_exactly_the_exports():
    assert analyses.__all__ == sorted(analyses._EXPORTS)


def test_names_shared_with_submodules_are_the_functions():
    import importlib
    import types

    for name in ("two_stage", "logrank", "one_stage"):
        importlib.import_module(f"analyses.{name}")  # importing the submodule must not win
        assert callable(getattr(analyses, name)), name
        assert not isinstance(getattr(analyses, name), types.ModuleType), name
