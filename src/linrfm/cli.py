"""The ``linrfm`` command line.

Every option and every file a command names is checked before any work starts. Exit
status: 0 on success, 2 for a usage error (a bad option or input, found before any work),
1 for a failure while working, 130 when interrupted (Ctrl-C); the error is one line on
standard error, with the full traceback only under ``--debug``. Every command takes
``--json`` (machine-readable output on standard output).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from contextlib import contextmanager

from . import _cli_complete
from ._cli_args import (
    UsageError,
    add_common,
    add_int,
    check_input_file,
    integer,
    options,
    print_json,
    real,
    separator,
)

__all__ = ["main", "build_parser", "EXPERIMENTS"]


def _ratings_methods() -> list[str]:
    """The ``--method`` choices of ``complete`` and ``evaluate``: from the method table."""
    from .methods import METHODS

    return [s.ratings for s in METHODS.values() if s.ratings]


# Modules of linrfm.experiments whose ``register(subparsers)`` adds a ``linrfm experiment``
# study; each study lives in its own module so the command line grows without one big file.
EXPERIMENTS: list[str] = ["sparse", "phase", "flat"]


def _cmd_demo(args) -> int:
    import io

    from .demo import run_demo

    rows = run_demo(
        **options(args, "n", "d", "rank", "n_obs", "variant", "seed"),
        alphas=args.alpha,
        out=io.StringIO() if args.json else sys.stdout,
    )
    if args.json:
        print_json(rows)
    return 0


def _check_demo(args) -> None:
    if args.rank > min(args.n, args.d):
        raise UsageError(
            f"--rank {args.rank} is larger than min(--n, --d) = {min(args.n, args.d)}."
        )
    if args.n_obs > args.n * args.d:
        raise UsageError(f"--n-obs {args.n_obs} is more than the {args.n * args.d} entries.")


def _load_table(args):
    """The ratings named on the command line: a file or a built-in data set."""
    from .io import read_ratings

    if args.dataset:
        from .datasets import load_movielens100k

        return load_movielens100k()
    if not args.input:
        raise UsageError("give a ratings file, or --dataset ml-100k")
    missing = [f"--{k}" for k in ("row", "col", "value") if getattr(args, k) is None]
    if missing:
        raise UsageError(f"{', '.join(missing)} required: the column names of the input file")
    check_input_file(args.input, "input")
    return read_ratings(
        args.input, args.row, args.col, args.value, sep=args.sep, duplicates=args.duplicates
    )


def _report_reading(table, args):
    from .io import _SEPARATORS

    rep = table.report
    if not args.json:
        msg = (
            f"read {rep.get('read', table.n_obs):,} ratings: {table.shape[0]:,} rows x "
            f"{table.shape[1]:,} columns"
        )
        if rep.get("duplicates_merged"):
            msg += f"; {rep['duplicates_merged']:,} duplicate pair(s) merged ({args.duplicates})"
        if rep.get("sniffed_sep"):
            msg += f"; separated by {_SEPARATORS[rep['sniffed_sep']]} (sniffed; --sep overrides)"
        print(msg, file=sys.stderr)


def _cmd_evaluate(args) -> int:
    from .evaluation import cross_validate

    with _validating():
        table = _load_table(args)
        if table.n_obs < args.folds:
            raise UsageError(f"--folds {args.folds} is more than the {table.n_obs} ratings.")
    _report_reading(table, args)
    res = cross_validate(
        table,
        methods=args.methods,
        folds=args.folds,
        seed=args.seed,
        progress=not args.json and not args.no_progress,
    )
    if args.json:
        print_json(res)
        return 0
    sp = res["split"]
    print(
        f"{sp['folds']}-fold cross-validation, seed {sp['seed']}, "
        f"split fingerprint {sp['fingerprint']}"
    )
    print(f"{'method':<14} {'RMSE':>8} {'MAE':>8} {'seconds':>9}")
    for r in res["summary"]:
        print(f"{r['method']:<14} {r['rmse']:>8.4f} {r['mae']:>8.4f} {r['seconds']:>9.2f}")
    return 0


@contextmanager
def _validating():
    """Errors in this block come from checking the command line and the files it names,
    before any work: usage errors (exit status 2)."""
    from .io import UnknownIdError

    try:
        yield
    except UsageError:
        raise
    except (ValueError, UnknownIdError, OSError, ImportError) as exc:
        raise UsageError(_one_line(exc)) from exc


def _cmd_complete(args) -> int:
    return _cli_complete.cmd_complete(args, _load_table, _validating, _report_reading)


def _add_table_args(p):
    p.add_argument("input", nargs="?", help="ratings file: .csv, .tsv or .parquet")
    p.add_argument("--row", metavar="NAME", help="column holding the row id (e.g. user)")
    p.add_argument("--col", metavar="NAME", help="column holding the column id (e.g. item)")
    p.add_argument("--value", metavar="NAME", help="column holding the rating")
    p.add_argument(
        "--dataset",
        choices=["ml-100k"],
        help="use a built-in data set instead of a file (MovieLens-100K from an "
        "installed recbole or neighbors wheel)",
    )
    p.add_argument(
        "--sep",
        type=separator,
        help="field separator of text files (default: by extension; '\\t' for a tab)",
    )
    p.add_argument(
        "--duplicates",
        default="error",
        choices=["error", "mean", "last"],
        help="repeated (row, col) pairs: refuse (default), average, or keep last",
    )
    add_int(p, "--seed", 0, "random seed", low=0)
    add_common(p)


def _add_demo(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="complete the paper's canonical synthetic matrix and print a table",
        description="Run lin-RFM on the paper's canonical setting (500x500, rank 5, "
        "10,000 observed entries: about 2x the degrees of freedom) and print, per alpha, "
        "the relative error and MSE on the unobserved entries, iterations and seconds. "
        "The planted truth is used only to report, never inside the solver.",
    )
    add_int(demo, "--n", 500, "rows")
    add_int(demo, "--d", 500, "columns")
    add_int(demo, "--rank", 5, "planted rank")
    add_int(demo, "--n-obs", 10_000, "observed entries")
    demo.add_argument(
        "--alpha",
        type=real(0, low_open=True),
        nargs="+",
        default=[0.5, 1.0],
        help="powers (default 0.5 1)",
    )
    demo.add_argument(
        "--variant",
        default="auto",
        choices=["auto", "one-sided", "two-sided"],
        help="lin-RFM variant (default auto)",
    )
    add_int(demo, "--seed", 0, "random seed", low=0)
    add_common(demo)
    demo.set_defaults(func=_cmd_demo, check=_check_demo)


def _add_evaluate(sub) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="k-fold cross-validation of methods on a ratings table",
        description="Seeded k-fold cross-validation on the observed ratings; every method "
        "on the same folds. Prints method, RMSE, MAE and fit seconds.",
        epilog="example: linrfm evaluate --dataset ml-100k --folds 5",
    )
    _add_table_args(ev)
    ev.add_argument("--folds", type=integer(2), default=5, help="number of folds (default 5)")
    ev.add_argument(
        "--methods",
        nargs="+",
        default=_ratings_methods(),
        choices=_ratings_methods(),
        help="methods to compare (default: all)",
    )
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.set_defaults(func=_cmd_evaluate)


class _Parser(argparse.ArgumentParser):
    """argparse, refusing no value for an option that takes one (``--n=--`` or
    ``--ranks=--`` give ``[]``: argparse strips the ``--``)."""

    def _get_values(self, action, arg_strings):
        values = super()._get_values(action, arg_strings)
        optional = action.nargs in ("*", "?", argparse.REMAINDER, argparse.PARSER, 0)
        if isinstance(values, list) and not values and not optional:
            raise argparse.ArgumentError(action, "expected a value; got none")
        return values


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``linrfm`` command."""
    parser = _Parser(
        prog="linrfm",
        description="Recover low-rank matrices and sparse vectors with linear Recursive "
        "Feature Machines (lin-RFM) and the methods it is measured against.",
        epilog="Exit status: 0 done, 2 usage error (found before any work), 1 failure while "
        "working, 130 interrupted. --debug shows tracebacks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_demo(sub)
    _cli_complete.add_parser(sub, _ratings_methods(), _add_table_args)
    sub.choices["complete"].set_defaults(func=_cmd_complete)
    _add_evaluate(sub)
    experiment = sub.add_parser(
        "experiment",
        help="re-runnable studies (CSV of every run, PNG plots)",
        description="Re-runnable studies. Each caches finished runs and resumes, and has a "
        "--quick mode for a smoke test. Results go to ./linrfm-results/<study> unless --out "
        "says otherwise.",
    )
    studies = experiment.add_subparsers(dest="study", metavar="STUDY")
    studies.required = True
    for name in EXPERIMENTS:
        importlib.import_module(f".experiments.{name}", __package__).register(studies)
    return parser


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (a KeyError's without its quotes)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])
    else:
        text = str(exc)
    text = " ".join(text.split())
    return text or type(exc).__name__


def main(argv=None) -> int:
    """Entry point of the ``linrfm`` command (see the module docstring for exit codes)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    name = " ".join(x for x in (args.command, getattr(args, "study", None)) if x)
    try:
        check = getattr(args, "check", None)
        if check is not None:
            check(args)
        return int(args.func(args) or 0)
    except UsageError as exc:
        if args.debug:
            raise
        parser.exit(2, f"linrfm {name}: error: {_one_line(exc)}\n")
    except KeyboardInterrupt:
        if args.debug:
            raise
        resume = getattr(args, "checkpoint", None)
        hint = f"; run it again to resume from {resume}" if resume else ""
        parser.exit(
            130, f"linrfm {name}: interrupted; files being written were left as they were{hint}\n"
        )
    except Exception as exc:
        if args.debug:
            raise
        parser.exit(1, f"linrfm {name}: error: {_one_line(exc)}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
