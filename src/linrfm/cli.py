"""The ``linrfm`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser", "EXPERIMENTS"]

# Modules of linrfm.experiments whose ``register(subparsers)`` adds a ``linrfm experiment``
# study; each study lives in its own module so the command line grows without one big file.
EXPERIMENTS: list[str] = ["sparse"]


def _cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(
        n=args.n,
        d=args.d,
        rank=args.rank,
        n_obs=args.n_obs,
        alphas=args.alpha,
        variant=args.variant,
        seed=args.seed,
        out=sys.stdout,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``linrfm`` command."""
    parser = argparse.ArgumentParser(
        prog="linrfm",
        description="Recover low-rank matrices and sparse vectors with linear Recursive "
        "Feature Machines (lin-RFM) and the methods it is measured against.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="complete the paper's canonical synthetic matrix and print a table",
        description="Run lin-RFM on the paper's canonical setting (500x500, rank 5, "
        "10,000 observed entries: about 2x the degrees of freedom) and print, per alpha, "
        "the relative error and MSE on the unobserved entries, iterations and seconds. "
        "The planted truth is used only to report, never inside the solver.",
    )
    demo.add_argument("--n", type=int, default=500, help="rows (default 500)")
    demo.add_argument("--d", type=int, default=500, help="columns (default 500)")
    demo.add_argument("--rank", type=int, default=5, help="planted rank (default 5)")
    demo.add_argument("--n-obs", type=int, default=10_000, help="observed entries")
    demo.add_argument(
        "--alpha", type=float, nargs="+", default=[0.5, 1.0], help="powers (default 0.5 1)"
    )
    demo.add_argument(
        "--variant",
        default="auto",
        choices=["auto", "one-sided", "two-sided"],
        help="lin-RFM variant (default auto)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=_cmd_demo)

    experiment = sub.add_parser(
        "experiment",
        help="re-runnable studies (CSV of every run, PNG plots)",
        description="Re-runnable studies. Each caches finished runs and resumes, and has a "
        "--quick mode for a smoke test.",
    )
    studies = experiment.add_subparsers(dest="study", metavar="STUDY")
    studies.required = True
    for name in EXPERIMENTS:
        importlib.import_module(f".experiments.{name}", __package__).register(studies)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``linrfm`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError) as exc:
        parser.exit(2, f"linrfm {args.command}: error: {exc}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
