"""Docstring paragraphs every iterative solver shares, written once.

A public solver's docstring names a paragraph by a line ``%(name)s`` (indented where it
goes); :func:`fill_doc` replaces it with the text below, indented the same.
"""

from __future__ import annotations

import re
import textwrap

__all__ = ["fill_doc", "PARAGRAPHS"]

PARAGRAPHS = {
    "loop": """\
callback : callable, optional
    ``callback(iteration, info)`` after every iteration, the last included: ``info`` holds
    the iteration's record, ``'iteration'`` and ``'result'`` (the current iterate as this
    function's result type, valid during the call). Returning True stops the fit (not
    converged).
progress : bool, default=False
    Show a tqdm progress bar.
checkpoint : callable, optional
    ``checkpoint(Checkpoint)`` after every iteration (:func:`linrfm.iteration.iterate`).
resume : linrfm.iteration.Checkpoint, optional
    Continue a fit of the same data and parameters from one of its checkpoints: the
    result equals the uninterrupted fit's. ``max_iter`` counts from the fit's start.""",
    "warns": """\
Warns
-----
sklearn.exceptions.ConvergenceWarning
    When ``max_iter`` is reached before the method's stop, or the stop is met by an
    iterate the data do not determine (the figures that failed are in the message).""",
    "raises": """\
Raises
------
ModelFitError
    When the iterate becomes non-finite.""",
}

_MARK = re.compile(r"^( *)%\((\w+)\)s$", re.M)


def fill_doc(func):
    """Put the :data:`PARAGRAPHS` named in ``func``'s docstring in place."""
    if func.__doc__:
        func.__doc__ = _MARK.sub(
            lambda m: textwrap.indent(PARAGRAPHS[m.group(2)], m.group(1)), func.__doc__
        )
    return func
