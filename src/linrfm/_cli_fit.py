"""The model settings of ``linrfm complete`` as flags: one row per estimator parameter.

:data:`FLAGS` maps each flag onto a parameter of :class:`~linrfm.ratings.RatingsCompleter`;
a flag is offered only when the estimator has that parameter, and its help states the
estimator's default. Every value given is checked before the fit by the estimator's own
parameter check, and an error names the flag as typed (a usage error, exit status 2).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ._cli_args import UsageError, byte_size, integer, real

__all__ = ["FLAGS", "add_fit_args", "available", "check_fit_args", "fit_params", "given_flags"]


@dataclass(frozen=True)
class Flag:
    """A command-line flag for one estimator parameter.

    ``methods``: the ``--method`` values that use it (empty: all); ``kind``: argparse's
    ``type`` (or ``bool`` for a ``--x/--no-x`` pair); ``nargs``, ``choices`` as argparse's.
    """

    option: str
    param: str
    help: str
    kind: object = None
    methods: tuple = ()
    nargs: str | None = None
    choices: tuple | None = None
    metavar: str | None = None


def auto_or_rank(text: str):
    """An argparse type: 'auto' or an integer >= 1 (``--kernel-rank``)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return integer(1)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or an integer >= 1; got {text!r}"
        ) from None


FLAGS = (
    Flag("--alpha", "alpha", "lin-RFM power: the kernel is G^(2 alpha)", real(0, low_open=True),
         ("linrfm",), metavar="A"),
    Flag("--variant", "variant", "lin-RFM variant ('auto': two-sided when both kernels fit "
         "in memory)", methods=("linrfm",), choices=("auto", "one-sided", "two-sided")),
    Flag("--lams", "lams", "candidate lin-RFM ridges, relative to the kernel's scale; the one "
         "best on the validation split is kept", real(0), ("linrfm",), "+", metavar="LAM"),
    Flag("--max-iter", "max_iter", "most lin-RFM iterations tried per ridge (the count is "
         "chosen on the validation split)", integer(1), ("linrfm",), metavar="N"),
    Flag("--kernel-side", "kernel_side", "the one-sided lin-RFM kernel: 'row' regresses each "
         "row on the columns' kernel, 'col' the reverse, 'auto' the cheaper",
         methods=("linrfm",), choices=("auto", "row", "col")),
    Flag("--cooccurrence", "cooccurrence", "candidate weights in [0, 1) of the observed "
         "pattern in the lin-RFM kernel (which columns a row rated)", real(0, 1), ("linrfm",),
         "+", metavar="W"),
    Flag("--refit", "refit", "the chosen lin-RFM on all ratings: rerun from the start "
         "('full') or one iteration from the validation fit ('warm')", methods=("linrfm",),
         choices=("full", "warm")),
    Flag("--dtype", "dtype", "working precision of lin-RFM", methods=("linrfm",),
         choices=("float64", "float32")),
    Flag("--n-lams", "n_lams", "length of the SoftImpute lam path", integer(1),
         ("softimpute",), metavar="N"),
    Flag("--lam-ratio", "lam_ratio", "end of the SoftImpute path, as a fraction of lam_max",
         real(0, 1, low_open=True), ("softimpute",), metavar="R"),
    Flag("--biases", "biases", "remove the mean and row/column biases ('both'), the mean "
         "only, or nothing", choices=("both", "global", "none")),
    Flag("--bias-reg", "bias_reg", "ridge on the biases, in pseudo-observations", real(0),
         metavar="R"),
    Flag("--clip", "clip", "clip predictions to the range of the training ratings", bool),
    Flag("--val-fraction", "val_fraction", "fraction of the ratings held out to choose the "
         "settings", real(0, 1, low_open=True), metavar="F"),
    Flag("--memory-limit", "memory_limit", "most bytes the fit may hold (e.g. 4GiB, 500M)",
         byte_size, metavar="BYTES"),
    Flag("--kernel-rank", "kernel_rank", "rank of lin-RFM's column kernel ('auto': the "
         "full kernel when it fits --memory-limit, else 64)", auto_or_rank, ("linrfm",),
         metavar="R"),
)  # fmt: skip


def _defaults() -> dict:
    from .ratings import RatingsCompleter

    return RatingsCompleter().get_params()


def available() -> list[Flag]:
    """The flags whose parameter this version of the estimator has."""
    params = _defaults()
    return [f for f in FLAGS if f.param in params]


def _shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_fit_args(parser) -> None:
    """Add the model settings of :func:`available` to ``parser`` (defaults: None, so that
    only what was typed reaches the estimator)."""
    defaults = _defaults()
    group = parser.add_argument_group(
        "model settings",
        "Parameters of the estimator (linrfm.RatingsCompleter); unset ones keep its defaults. "
        "A setting of another --method than the one used is refused.",
    )
    for f in available():
        used = f" (--method {'/'.join(f.methods)})" if f.methods else ""
        text = f"{f.help}{used}; default {_shown(defaults[f.param])}"
        if f.kind is bool:
            group.add_argument(f.option, action=argparse.BooleanOptionalAction, help=text)
            continue
        kw = {"type": f.kind} if f.kind is not None else {}
        group.add_argument(
            f.option, nargs=f.nargs, choices=f.choices, metavar=f.metavar, help=text, **kw
        )


def _dest(flag: Flag) -> str:
    return flag.option.lstrip("-").replace("-", "_")


def given_flags(args) -> list[Flag]:
    """The flags set on the command line."""
    return [f for f in available() if getattr(args, _dest(f), None) is not None]


def fit_params(args) -> dict:
    """The estimator parameters the command line sets (only those typed)."""
    return {f.param: getattr(args, _dest(f)) for f in given_flags(args)}


def check_fit_args(args) -> None:
    """Every model setting given applies (a fit, of its method) and is valid, by the
    estimator's own parameter check; a :class:`UsageError` naming the flag otherwise."""
    from .ratings import RatingsCompleter

    flags = given_flags(args)
    if flags and args.model_in:
        raise UsageError(
            f"{flags[0].option} is a fit setting; --model loads a fitted model (give no "
            "model settings with it)."
        )
    for f in flags:
        if f.methods and args.method not in f.methods:
            raise UsageError(
                f"{f.option} is a setting of --method {' or '.join(f.methods)}; --method "
                f"{args.method} has none (leave {f.option} out)."
            )
    for f in flags:
        value = getattr(args, _dest(f))
        try:
            RatingsCompleter(method=args.method, **{f.param: value})._check_params()
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{f.option} {_shown(value)}: {exc}") from None
    # settings valid alone may still not go together (or with --scheduler's cluster)
    client = {"client": args.scheduler} if getattr(args, "scheduler", None) else {}
    try:
        RatingsCompleter(method=args.method, **fit_params(args), **client)._check_params()
    except (ValueError, TypeError) as exc:
        typed = [f.option for f in flags] + (["--scheduler"] if client else [])
        raise UsageError(f"{' with '.join(typed) or '--method'}: {exc}") from None
