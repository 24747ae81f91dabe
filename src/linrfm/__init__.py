"""linrfm: low-rank matrix and sparse vector recovery with linear Recursive Feature Machines.

Every public function and class is importable from here; each is imported from its module
on first use (:func:`_index`), so ``import linrfm`` itself is cheap.
"""

import ast
import functools
import importlib
import pathlib

from ._deprecated import module_getattr

__version__ = "0.1.0"

# the modules whose public names (their literal ``__all__``) linrfm re-exports, first one wins
_SUBMODULES = (
    "solvers",
    "estimators",
    "problems",
    "datasets",
    "results",
    "iteration",
    "methods",
    "evaluation",
    "io",
    "ratings",
)


def _names(path: pathlib.Path) -> list:
    """The names a module's ``__all__`` lists: strings, or ``*part.__all__`` of a module
    ``part`` beside it (a package listing its modules' names), read without importing."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "__all__" for t in node.targets
        ):
            return [
                n
                for e in node.value.elts
                for n in (
                    _names(path.parent / f"{e.value.value.id}.py")
                    if isinstance(e, ast.Starred)
                    else [ast.literal_eval(e)]
                )
            ]
    return []


@functools.cache
def _index() -> dict:
    """Public name -> the module defining it, read from each submodule's ``__all__``
    without importing it (so the list of names has one home: the submodule)."""
    here = pathlib.Path(__file__).parent
    out = {}
    for mod in _SUBMODULES:
        path = here / mod / "__init__.py" if (here / mod).is_dir() else here / f"{mod}.py"
        for name in _names(path):
            out.setdefault(name, f".{mod}")
    return out


def _export(name):
    if name == "__all__":
        return [*_index(), "__version__"]
    if name in _index():
        value = getattr(importlib.import_module(_index()[name], __name__), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    here = pathlib.Path(__file__).parent
    if not name.startswith("_") and ((here / name).is_dir() or (here / f"{name}.py").is_file()):
        return importlib.import_module(f".{name}", __name__)  # linrfm.datasets without an import
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__getattr__ = module_getattr(__name__, _export)


def __dir__():
    return sorted({*globals(), *_index()})
