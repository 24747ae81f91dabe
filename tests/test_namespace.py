"""One namespace: everything public is importable from ``linrfm``; old names warn."""

import importlib
import subprocess
import sys
import warnings

import pytest

import linrfm
import linrfm.solvers
from linrfm._deprecated import RENAMED

# every module whose public names (its __all__) linrfm re-exports
SUBMODULES = linrfm._SUBMODULES


def test_everything_in_all_resolves():
    for name in linrfm.__all__:
        assert getattr(linrfm, name) is not None, name
    assert len(set(linrfm.__all__)) == len(linrfm.__all__)


@pytest.mark.parametrize("module", SUBMODULES)
def test_all_covers_the_public_names_of_the_submodules(module):
    mod = importlib.import_module(f"linrfm.{module}")
    for name in mod.__all__:
        assert name in linrfm.__all__, f"linrfm.{module}.{name}"
        assert getattr(linrfm, name) is getattr(mod, name), name


def test_star_import_and_dir():
    ns = {}
    exec("from linrfm import *", ns)
    assert set(linrfm.__all__) <= set(ns)
    assert set(linrfm.__all__) <= set(dir(linrfm))


def test_import_linrfm_is_lazy():
    code = "import sys, linrfm; print('sklearn' in sys.modules, 'linrfm.solvers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_subpackages_are_attributes_without_an_import():
    # `import linrfm; linrfm.datasets.make_completion(...)` as with numpy.linalg
    code = "import linrfm; print(linrfm.datasets.make_completion.__name__, linrfm.flat.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["make_completion", "linrfm.flat"]
    with pytest.raises(AttributeError, match="no attribute '_atomic_nope'"):
        getattr(linrfm, "_atomic_nope")  # noqa: B009


@pytest.mark.parametrize("module", [linrfm, linrfm.solvers], ids=["linrfm", "solvers"])
@pytest.mark.parametrize("old", sorted(RENAMED))
def test_old_names_resolve_to_the_new_with_a_warning(module, old):
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated; use .*{RENAMED[old]}"):
        got = getattr(module, old)
    assert got is getattr(module, RENAMED[old])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(module, RENAMED[old])  # the new name does not warn


def test_old_name_import_statement_warns():
    with pytest.warns(DeprecationWarning):
        from linrfm.solvers import diagonal_net
    assert diagonal_net is linrfm.solvers.diagonal_net_regress
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        linrfm.nope  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        linrfm.solvers.nope  # noqa: B018
