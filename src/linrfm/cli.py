"""The ``linrfm`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser", "EXPERIMENTS"]


def _ratings_methods() -> list[str]:
    """The ``--method`` choices of ``complete`` and ``evaluate``: from the method table."""
    from .methods import METHODS

    return [s.ratings for s in METHODS.values() if s.ratings]


# Modules of linrfm.experiments whose ``register(subparsers)`` adds a ``linrfm experiment``
# study; each study lives in its own module so the command line grows without one big file.
EXPERIMENTS: list[str] = ["sparse", "phase", "flat"]


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


def _load_table(args):
    """The ratings named on the command line: a file or a built-in data set."""
    from .io import read_ratings

    if args.dataset:
        from .datasets import load_movielens100k

        return load_movielens100k()
    if not args.input:
        raise ValueError("give a ratings file, or --dataset ml-100k")
    missing = [f"--{k}" for k in ("row", "col", "value") if getattr(args, k) is None]
    if missing:
        raise ValueError(f"{', '.join(missing)} required: the column names of the input file")
    return read_ratings(
        args.input, args.row, args.col, args.value, sep=args.sep, duplicates=args.duplicates
    )


def _report_reading(table, args):
    rep = table.report
    if not args.json:
        msg = (
            f"read {rep.get('read', table.n_obs):,} ratings: {table.shape[0]:,} rows x "
            f"{table.shape[1]:,} columns"
        )
        if rep.get("duplicates_merged"):
            msg += f"; {rep['duplicates_merged']:,} duplicate pair(s) merged ({args.duplicates})"
        print(msg, file=sys.stderr)


def _cmd_complete(args) -> int:
    import json

    from .io import _read_table
    from .ratings import RatingsCompleter

    if not args.pairs and not args.save_model:
        raise ValueError("nothing to do: give --pairs FILE (and --out FILE), or --save-model")
    if args.json and args.pairs and not args.out:
        raise ValueError("--json prints a summary; give --out FILE for the predictions")
    if args.model_in:
        model = RatingsCompleter.load(args.model_in)
    else:
        table = _load_table(args)
        _report_reading(table, args)
        model = RatingsCompleter(
            method=args.method, random_state=args.seed, progress=not args.json
        ).fit(table)
        if not args.json:
            print(
                f"fitted {args.method} in {model.fit_seconds_:.1f} s; chosen on validation: "
                f"{model.chosen_}",
                file=sys.stderr,
            )
    if args.save_model:
        model.save(args.save_model)
    if not args.pairs:
        return 0
    row, col = model.names_[0], model.names_[1]
    pairs = _read_table(args.pairs, sep=args.sep)
    missing = [c for c in (row, col) if c not in pairs.columns]
    if missing:
        raise ValueError(f"the pairs file lacks column(s) {missing}; it has {list(pairs.columns)}")
    pred = model.predict(pairs[row].to_numpy(), pairs[col].to_numpy(), unknown=args.unknown)
    out = pairs[[row, col]].copy()
    out["prediction"] = pred
    if args.out:
        suffix = str(args.out).lower().rsplit(".", 1)[-1]
        if suffix in ("parquet", "pq"):
            out.to_parquet(args.out, index=False)
        else:
            out.to_csv(args.out, index=False, sep="\t" if suffix == "tsv" else ",")
    if args.json:
        print(json.dumps({"n_pairs": int(len(out)), "out": args.out, "chosen": model.chosen_}))
    elif not args.out:
        out.to_csv(sys.stdout, index=False)
    else:
        print(f"wrote {len(out):,} predictions to {args.out}", file=sys.stderr)
    return 0


def _cmd_evaluate(args) -> int:
    import json

    from .evaluation import cross_validate

    table = _load_table(args)
    _report_reading(table, args)
    res = cross_validate(
        table,
        methods=args.methods,
        folds=args.folds,
        seed=args.seed,
        progress=not args.json and not args.no_progress,
    )
    if args.json:
        print(json.dumps(res, indent=1))
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
    p.add_argument("--sep", help="field separator of text files (default: by extension)")
    p.add_argument(
        "--duplicates",
        default="error",
        choices=["error", "mean", "last"],
        help="repeated (row, col) pairs: refuse (default), average, or keep last",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


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

    comp = sub.add_parser(
        "complete",
        help="fit a ratings table and predict requested pairs",
        description="Fit a table of (row id, column id, value) triples and write predictions "
        "for the pairs in --pairs (a file with the same id columns), in its order, with a "
        "'prediction' column. Defaults suit real, noisy data: biases removed, noise-aware "
        "lin-RFM, ridge and iterations chosen on a validation split of the observed "
        "entries, predictions clipped to the observed range.",
        epilog="example: linrfm complete ratings.csv --row user --col item --value rating "
        "--pairs to_predict.csv --out predictions.csv",
    )
    _add_table_args(comp)
    comp.add_argument(
        "--pairs", metavar="FILE", help="file of (row id, column id) pairs to predict"
    )
    comp.add_argument(
        "--out",
        metavar="FILE",
        help="output file, .csv, .tsv or .parquet (default: CSV on standard output)",
    )
    comp.add_argument(
        "--method", default="linrfm", choices=_ratings_methods(), help="default linrfm"
    )
    comp.add_argument(
        "--unknown",
        default="error",
        choices=["error", "bias"],
        help="ids never seen in the ratings: fail (default) or predict from the biases alone",
    )
    comp.add_argument(
        "--save-model", metavar="FILE", help="save the fitted model to this .npz file"
    )
    comp.add_argument(
        "--model", dest="model_in", metavar="FILE", help="load a saved model instead of fitting"
    )
    comp.set_defaults(func=_cmd_complete)

    ev = sub.add_parser(
        "evaluate",
        help="k-fold cross-validation of methods on a ratings table",
        description="Seeded k-fold cross-validation on the observed ratings; every method "
        "on the same folds. Prints method, RMSE, MAE and fit seconds.",
        epilog="example: linrfm evaluate --dataset ml-100k --folds 5",
    )
    _add_table_args(ev)
    ev.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    ev.add_argument(
        "--methods",
        nargs="+",
        default=_ratings_methods(),
        choices=_ratings_methods(),
        help="methods to compare (default: all)",
    )
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.set_defaults(func=_cmd_evaluate)

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
    except (ValueError, TypeError, KeyError, FileNotFoundError, ImportError) as exc:
        parser.exit(2, f"linrfm {args.command}: error: {exc}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
