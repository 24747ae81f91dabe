"""Scale-free solvers: normalize the data on input, undo it on output, in one place.

Every public solver is wrapped by :func:`scale_free`. It divides the observations (for
regression: the design and the targets, each by its own factor) by a power of two near
their root mean square, which is exact in floating point, runs the solver on data of unit
size, and multiplies the result back (:meth:`linrfm.results.RecoveryResult.rescaled`). So
``f(s X) = s f(X)`` (and ``beta(s X, t y) = (t / s) beta(X, y)``) for every power of two
that keeps the data in float64's normal range, and nothing inside a solver sees values near
overflow or underflow. Parameters given in the data's units (SoftImpute's ``lam``) are
divided on the way in and multiplied back in the result's ``params`` and ``history``.

It also answers trivial data without iterating (:mod:`._trivial`): all-zero observations
give zero, a fully observed matrix itself, a constant matrix observed on every row and
column that constant; and it warns when too few observations determine no answer.
"""

from __future__ import annotations

import copy
import functools
import inspect
import warnings

import numpy as np
import scipy.sparse as sp

from . import _trivial
from .backend import is_tensor, to_numpy_input
from .problems import (
    CoverageWarning,
    FactorProblem,
    MatrixSensing,
    as_completion_problem,
    as_regression_problem,
)

__all__ = ["scale_free", "data_scale"]

_HALF_SQRT2 = np.sqrt(0.5)


def data_scale(values) -> float:
    """A power of two within a factor sqrt(2) of the root mean square of the finite
    ``values`` (1 when there are none or all are zero); ``data_scale(2^k v) = 2^k
    data_scale(v)`` exactly, and it never overflows."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    top = float(np.max(np.abs(v), initial=0.0))
    if top == 0.0:
        return 1.0
    m = np.ldexp(1.0, int(np.frexp(top)[1]) - 1)  # a power of two in (top / 2, top]
    rms = m * float(np.sqrt(np.mean(np.square(v / m))))
    mant, e = np.frexp(rms)
    return float(np.ldexp(1.0, int(e) if mant >= _HALF_SQRT2 else int(e) - 1))


def _is_tensor_input(X) -> bool:
    return is_tensor(X) or (isinstance(X, tuple) and any(is_tensor(x) for x in X))


def _completion(X, shape):
    """The completion input as a problem (a torch input is read back, quietly: the solver
    reads it again and warns)."""
    if _is_tensor_input(X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CoverageWarning)
            return as_completion_problem(to_numpy_input(X)[0], shape)
    return as_completion_problem(X, shape)


def _divided(X, prob, s):
    """The solver's input: ``prob`` with its values divided by ``s``; a torch input stays
    torch (its device and dtype lead the fit)."""
    if _is_tensor_input(X):
        if s == 1.0:
            return X
        return (*X[:-1], X[-1] / s) if isinstance(X, tuple) else X / s
    if s == 1.0:
        return prob
    out = copy.copy(prob)
    out.values = prob.values / s
    return out


def _underdetermined(n_obs, n, d, what):
    if n_obs < n + d - 1:
        warnings.warn(
            f"{n_obs} {what} of a {n} x {d} matrix are fewer than n + d - 1 = {n + d - 1}, "
            "the degrees of freedom of a rank-1 matrix: the answer is not determined by "
            "the data.",
            CoverageWarning,
            stacklevel=4,
        )


class _Stopped(Exception):
    pass


def _stop(*args):
    raise _Stopped


class _Call:
    """One call of a wrapped solver: its arguments, the data's scale and how to undo it."""

    def __init__(self, fn, kind, units, args, kwargs):
        self.fn, self.units = fn, units
        self.bound = inspect.signature(fn).bind(*args, **kwargs)
        self.first = next(iter(inspect.signature(fn).parameters))
        self.data = self.bound.arguments[self.first]
        if kind == "auto":  # factorized_gd, deep_mf: sensing or completion
            kind = "sense" if isinstance(self.data, MatrixSensing) else "complete"
        self.kind = kind
        self.s, self.t = 1.0, 1.0

    def lazy(self) -> bool:
        """Data that lives on a Dask cluster (a Dask collection or ``Triples``) with a
        ``client``: never read here; the cluster path takes it as it is."""
        module = type(self.data).__module__
        return self.get("client") is not None and module.startswith(("dask", "linrfm.distributed"))

    def get(self, name, default=None):
        return self.bound.arguments.get(name, default)

    def coerce(self):
        """Read the data as its problem type and find its scale (raises on bad input)."""
        args = self.bound.arguments
        if self.kind == "regress":
            self.prob = as_regression_problem(self.data, args.pop("y", None))
            args[self.first] = self.prob
            X = self.prob.X
            self.s, self.t = data_scale(X.data if sp.issparse(X) else X), data_scale(self.prob.y)
        elif self.kind == "factor":
            if not isinstance(self.data, FactorProblem):
                raise TypeError("not a FactorProblem")
            self.prob = self.data
            self.s = data_scale(self.prob.y)
        elif self.kind == "sense":
            if not isinstance(self.data, MatrixSensing):
                raise TypeError("not a MatrixSensing")
            self.prob = self.data
            self.s = data_scale(self.prob.y)
        else:
            self.prob = _completion(self.data, self.get("shape"))
            self.s = data_scale(self.prob.values)
            args[self.first] = _divided(self.data, self.prob, self.s)

    def prepare(self):
        """Normalize the data; return the trivial answer where there is one, else None."""
        prob, args = self.prob, self.bound.arguments
        if self.kind == "regress":
            triv = _trivial.regression(prob, self)
            if triv is None and (self.s, self.t) != (1.0, 1.0):
                scaled = copy.copy(prob)
                scaled.X = prob.X * (1.0 / self.s) if sp.issparse(prob.X) else prob.X / self.s
                scaled.y = prob.y / self.t
                args[self.first] = scaled
            return triv
        if self.kind == "factor":
            if self.s != 1.0:
                sensing = MatrixSensing(prob.operator, prob.y / self.s)
                args[self.first] = FactorProblem(sensing, loss=prob.loss, model=prob.model)
            return _trivial.sensing(prob, self)
        if self.kind == "sense":
            _underdetermined(prob.m, *prob.shape, "measurements")
            triv = _trivial.sensing(prob, self)
            if triv is None and self.s != 1.0:
                scaled = copy.copy(prob)
                scaled.y = prob.y / self.s
                args[self.first] = scaled
            return triv
        _underdetermined(prob.n_obs, *prob.shape, "observations")
        return _trivial.completion(prob, self)

    def check_arguments(self):
        """Run the solver on the trivial data until its first iteration, for its own
        checks of the arguments (a bad one raises, naming it, as on any other data)."""
        names = [p for p in self.bound.signature.parameters if p != self.first]
        if "callback" not in names:
            return
        bound = copy.copy(self.bound)
        bound.arguments = {**self.bound.arguments, "callback": _stop}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.fn(*bound.args, **bound.kwargs)
        except (ValueError, TypeError) as err:
            if any(f"'{p}'" in str(err) for p in names):
                raise
        except Exception:  # _Stopped, or the trivial data's own breakdown
            return

    def report(self, trivial):
        """A trivial answer counts as one iteration: the callback sees it once."""
        user = self.bound.arguments.get("callback")
        if callable(user):
            user(1, {"iteration": 1, "result": trivial})
        if self.get("return_path"):  # SoftImpute's path: the one point
            return trivial, [trivial]
        return trivial

    @staticmethod
    def _times(value, s, power):
        """``value * s**power`` for a power-of-two ``s``, exact, and inf (never an
        OverflowError) past float64's range: a loss of data at 2^600 is 2^1200, which no
        float holds."""
        exponent = int(np.frexp(s)[1]) - 1  # s = 2**exponent
        with np.errstate(over="ignore", under="ignore"):
            out = np.ldexp(np.asarray(value, dtype=np.float64), exponent * power)
        return float(out) if out.ndim == 0 else out

    def wrap_callback(self):
        """The user's callback sees the iterate in the data's units."""
        user = self.bound.arguments.get("callback")
        if user is None or not callable(user) or (self.s, self.t) == (1.0, 1.0):
            return

        def callback(it, info):
            info = dict(info)
            if "result" in info:
                info["result"] = self.undo(info["result"])
            for name, power in self.units.items():
                if isinstance(info.get(name), (int, float)):
                    info[name] = self._times(info[name], self.s, power)
            return user(it, info)

        self.bound.arguments["callback"] = callback

    def scale_params(self):
        """Divide the parameters in data units (and a warm start) by the data's scale."""
        args = self.bound.arguments
        for name, power in self.units.items():
            if args.get(name) is not None:
                args[name] = self._times(args[name], self.s, -power)
        init = args.get("init")
        if init is not None and hasattr(init, "rescaled"):
            args["init"] = init.rescaled(1.0 / self.s)
        elif isinstance(init, tuple) and self.s != 1.0:  # factors of X = L R^T
            args["init"] = tuple(np.asarray(f) / np.sqrt(self.s) for f in init)
        elif init is not None and self.s != 1.0:
            args["init"] = np.asarray(init, dtype=np.float64) / self.s

    def undo(self, result):
        """The result in the data's units."""
        if isinstance(result, tuple):
            return tuple(self.undo(r) for r in result)
        if isinstance(result, list):
            return [self.undo(r) for r in result]
        if self.kind == "complete":
            result = _trivial.unobserved_to_zero(result, self.prob)
        if (self.s, self.t) == (1.0, 1.0):
            return result
        out = result.rescaled(self.s, self.t) if self.kind == "regress" else result.rescaled(self.s)
        for name, power in self.units.items():
            if isinstance(out.params.get(name), (int, float)):
                out.params[name] = self._times(out.params[name], self.s, power)
            if name in out.history:
                out.history[name] = [self._times(v, self.s, power) for v in out.history[name]]
        return out


def scale_free(kind: str, units=None):
    """Decorator making a public solver scale-free and trivial data trivial.

    Parameters
    ----------
    kind : {'complete', 'sense', 'regress', 'factor', 'auto'}
        The data the solver takes ('auto': sensing or completion, by the input).
    units : dict of str to int, optional
        Parameters in the data's units and the power of the data's scale they carry
        (``{'lam': 1}``: divided by the scale on input, multiplied back in the result).
    """
    units = dict(units or {})

    def wrap(fn):
        @functools.wraps(fn)
        def solver(*args, **kwargs):
            try:
                call = _Call(fn, kind, units, args, kwargs)
                if call.lazy():
                    return fn(*args, **kwargs)
                call.coerce()
            except (TypeError, ValueError, AttributeError):
                # malformed input: the solver's own checks name the argument
                return fn(*args, **kwargs)
            trivial = call.prepare()
            if trivial is not None:
                call.check_arguments()
                return call.report(trivial)
            call.scale_params()
            call.wrap_callback()
            return call.undo(fn(*call.bound.args, **call.bound.kwargs))

        solver.__wrapped_kind__ = kind
        return solver

    return wrap
