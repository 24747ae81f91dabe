"""Name -> method registry, so experiments and benchmarks swap methods by name.

Every method is called as ``fit_method(name, problem, **params)`` with ``problem`` a
completion input (MatrixCompletion, ndarray with NaN, scipy.sparse) or a
:class:`~linrfm.operators.MatrixSensing`; it returns a result object with ``predict`` and
``to_dense``. A name fixes the method and its preset parameters (e.g. ``'lin-rfm-a0.5-two'``
is lin-RFM, alpha = 1/2, two-sided); ``params`` override the preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .operators import EntrySampling, MatrixSensing
from .problems import MatrixCompletion, as_completion_problem

__all__ = ["Method", "METHODS", "get_method", "fit_method", "list_methods"]


@dataclass(frozen=True)
class Method:
    """A named method: its function for completion and for sensing, and preset parameters.

    ``needs_rank`` marks methods that take the target ``rank`` (factorized GD).
    """

    name: str
    complete: object | None
    sense: object | None
    preset: dict = field(default_factory=dict)
    needs_rank: bool = False
    description: str = ""


def _lin_rfm_complete(problem, **kw):
    from .solvers.linrfm import lin_rfm_complete

    return lin_rfm_complete(problem, **kw)


def _lin_rfm_sense(problem, **kw):
    from .solvers.sensing import lin_rfm_sense

    return lin_rfm_sense(problem, **kw)


def _irls_complete(problem, **kw):
    from .solvers.irls import irls_complete

    return irls_complete(problem, **kw)


def _irls_sense(problem, **kw):
    from .solvers.irls import irls_sense

    return irls_sense(problem, **kw)


def _softimpute(problem, **kw):
    from .solvers.softimpute import soft_impute

    return soft_impute(problem, **kw)


def _nuclear_sense(problem, **kw):
    from .solvers.nuclear import nuclear_norm_sense

    return nuclear_norm_sense(problem, **kw)


def _fgd(problem, **kw):
    from .solvers.factorized_gd import factorized_gd

    return factorized_gd(problem, **kw)


def _dmf(problem, **kw):
    from .solvers.deep_linear import deep_matrix_factorization

    return deep_matrix_factorization(problem, **kw)


def _build():
    methods = {}

    def add(m):
        methods[m.name] = m

    for a, atag in ((0.5, "0.5"), (1.0, "1")):
        for var, vtag in (("one-sided", "one"), ("two-sided", "two")):
            add(
                Method(
                    f"lin-rfm-a{atag}-{vtag}",
                    _lin_rfm_complete,
                    _lin_rfm_sense,
                    {"alpha": a, "variant": var},
                    description=f"lin-RFM, alpha={a:g}, {var}",
                )
            )
    add(Method("lin-rfm", _lin_rfm_complete, _lin_rfm_sense, {}, description="lin-RFM"))
    for p in (0.0, 1.0):
        add(
            Method(
                f"irls-p{p:g}",
                _irls_complete,
                _irls_sense,
                {"p": p},
                description=f"IRLS-p, p={p:g} (eigendecomposition weights)",
            )
        )
    add(
        Method(
            "softimpute",
            _softimpute,
            _nuclear_sense,
            {},
            description="nuclear norm: SoftImpute (completion) / FISTA-SVT (sensing), "
            "end of a lam path to 1e-4 lam_max",
        )
    )
    add(Method("nuclear-norm", _softimpute, _nuclear_sense, {}, description="alias"))
    add(
        Method(
            "factorized-gd",
            _fgd,
            _fgd,
            {},
            needs_rank=True,
            description="X = U V^T, gradient descent from small init",
        )
    )
    add(
        Method(
            "scaled-gd",
            _fgd,
            _fgd,
            {"scaled": True},
            needs_rank=True,
            description="ScaledGD (damped) from small init",
        )
    )
    add(
        Method(
            "deep-mf",
            _dmf,
            _dmf,
            {"depth": 3},
            description="deep matrix factorization, 3 square factors, small init",
        )
    )
    return methods


METHODS: dict[str, Method] = _build()


def list_methods() -> list[str]:
    """Names of every registered method."""
    return sorted(METHODS)


def get_method(name: str) -> Method:
    """The :class:`Method` registered under ``name``."""
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; choose one of {list_methods()}.")
    return METHODS[name]


def fit_method(name: str, problem, **params):
    """Run method ``name`` on ``problem`` (completion or sensing) with ``params``.

    A :class:`MatrixSensing` whose operator is an :class:`EntrySampling` is solved as
    completion (the fast path) when the method has one.
    """
    method = get_method(name)
    kw = {**method.preset, **params}
    if isinstance(problem, MatrixSensing):
        op = problem.operator
        if isinstance(op, EntrySampling) and method.complete is not None:
            comp = MatrixCompletion(op.rows, op.cols, problem.y, op.shape)
            return method.complete(comp, **kw)
        if method.sense is None:
            raise ValueError(f"Method {name!r} has no sensing solver.")
        return method.sense(problem, **kw)
    if method.complete is None:
        raise ValueError(f"Method {name!r} has no completion solver.")
    return method.complete(as_completion_problem(problem), **kw)
