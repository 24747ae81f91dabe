"""Forwarding of names from a module that moved (the shims left at the data layer's old paths)."""

from __future__ import annotations

import warnings


def forward(old, modules, renamed=None):
    """A module ``__getattr__`` for ``old`` that serves each name from its new module.

    Parameters
    ----------
    old : str
        Dotted name of the old module (named in the warning).
    modules : sequence of modules
        Where the names live now, searched in order; the first one holding a name is the
        location the warning names.
    renamed : dict, optional
        ``{old name: new name}`` for names that changed on the way.

    Returns
    -------
    callable
        ``__getattr__(name)``: the object, after a ``DeprecationWarning`` naming its new
        location; ``AttributeError`` for dunder names and names found nowhere.
    """
    renamed = dict(renamed or {})

    def __getattr__(name):
        if not name.startswith("__"):
            new = renamed.get(name, name)
            for module in modules:
                if hasattr(module, new):
                    warnings.warn(
                        f"{old}.{name} is deprecated; use {module.__name__}.{new} instead.",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    return getattr(module, new)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    return __getattr__
