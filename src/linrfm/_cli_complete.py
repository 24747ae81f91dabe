"""``linrfm complete``: fit a ratings table (or load a model), then predict pairs or list
each row's top-N columns, for fitted rows or for new ones folded in (``--fold-in``).

Everything the command needs is checked before the fit starts: the options and model
settings (:mod:`linrfm._cli_fit`), the input, pairs, fold-in and model files (they exist
and are read, their columns and ids are known), the output paths (writable, a known format,
its optional dependency installed) and the checkpoint folder. Outputs are written whole or
not at all (:mod:`linrfm._atomic`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ._atomic import atomic_write
from ._cli_args import (
    OUTPUT_FORMATS,
    UsageError,
    check_input_file,
    check_output_file,
    integer,
    print_json,
)
from ._cli_fit import add_fit_args, check_fit_args, fit_params
from ._cli_foldin import check_pair_columns, predict_pairs, read_new_rows, top_n

__all__ = ["cmd_complete"]


@dataclass
class _Plan:
    """What the checks found: the table (or fitted model) and the pairs to predict."""

    table: object = None
    model: object = None
    pairs: object = None
    out_ext: str = ""
    checkpoints: object = None
    client: object = None
    new: object = None  # the rows of --fold-in (a _cli_foldin.NewRows)


def _check_options(args) -> None:
    if not args.pairs and args.top_n is None and not args.save_model:
        raise UsageError(
            "nothing to do: give --pairs FILE or --top-n K (and --out FILE), or --save-model FILE"
        )
    if args.pairs and args.top_n is not None:
        raise UsageError("give --pairs FILE or --top-n K, not both: they write different tables.")
    if args.out and not args.pairs and args.top_n is None:
        raise UsageError("--out needs --pairs FILE (the pairs to predict) or --top-n K.")
    if args.fold_in and not args.pairs and args.top_n is None:
        raise UsageError("--fold-in needs --pairs FILE or --top-n K: what to predict for them.")
    if args.fold_in and not args.model_in and args.method != "linrfm":
        raise UsageError(f"--fold-in needs a lin-RFM model (--method linrfm); not {args.method}.")
    if args.model_in and (args.input or args.dataset):
        raise UsageError("--model loads a fitted model: give no ratings file or --dataset with it.")
    if args.checkpoint and args.model_in:
        raise UsageError("--checkpoint is for a fit; --model loads a fitted one.")
    if args.checkpoint and args.method != "linrfm":
        raise UsageError(f"--checkpoint needs --method linrfm; {args.method} does not checkpoint.")
    if args.scheduler and (args.method != "linrfm" or args.model_in):
        raise UsageError("--scheduler runs a lin-RFM fit on a Dask cluster: give --method linrfm "
                         "and a ratings file, not --model.")  # fmt: skip
    check_fit_args(args)


def _connect(address, timeout=10):
    """A ``dask.distributed.Client`` of the scheduler at ``address`` (a usage error naming
    --scheduler when dask is missing or nothing answers there within ``timeout`` s)."""
    from .distributed import require_dask

    try:
        require_dask()
    except ImportError as err:
        raise UsageError(f"--scheduler: {err}") from None
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise UsageError(
            f"--scheduler {address}: no Dask scheduler answered there within {timeout} s "
            f"({type(err).__name__}: {err})."
        ) from None


def _known_ids(plan):
    if plan.model is not None:
        return plan.model.row_ids_, plan.model.col_ids_, plan.model.names_
    return plan.table.row_ids, plan.table.col_ids, plan.table.names


def _check_pairs(args, plan) -> None:
    from .io import _lookup, _read_table, check_columns

    rows, cols, names = _known_ids(plan)
    if plan.new is not None:  # the rows folded in are known too
        rows = np.concatenate([rows.astype(object), plan.new.table.row_ids.astype(object)])
    pairs = _read_table(args.pairs, sep=args.sep)
    check_columns(pairs, names[:2], args.pairs, option="--sep")
    if args.unknown == "error":
        for known, name, what in ((rows, names[0], "row"), (cols, names[1], "column")):
            try:
                _lookup(known, pairs[name].to_numpy(), what, name, "error")
            except KeyError as exc:
                raise UsageError(
                    f"--pairs {args.pairs}: {exc} (or --unknown bias on the command line)"
                ) from None
    if plan.new is not None:
        check_pair_columns(plan.new, pairs, names, cols, args.pairs)
    plan.pairs = pairs


def _checkpoint_dir(args, table):
    from ._checkpoints import CheckpointDir, fingerprint

    key = fingerprint(
        table.rows,
        table.cols,
        table.values,
        table.row_ids.astype(str),
        table.col_ids.astype(str),
        args.method,
        args.seed,
        sorted(fit_params(args).items()),
    )
    return CheckpointDir(args.checkpoint, key, every=args.checkpoint_every)


def _prepare(args, load_table) -> _Plan:
    """Every check of the command line and of the files it names; no fitting."""
    from .ratings import RatingsCompleter

    _check_options(args)
    plan = _Plan()
    if args.out:
        plan.out_ext = check_output_file(args.out, "--out")
    if args.save_model:
        check_output_file(args.save_model, "--save-model", formats=None)
    if args.pairs:
        check_input_file(args.pairs, "--pairs")
    if args.model_in:
        check_input_file(args.model_in, "--model")
        plan.model = RatingsCompleter.load(args.model_in)
        if args.fold_in and not plan.model.model_.folds_in:
            raise UsageError(f"--fold-in needs a lin-RFM model; {args.model_in} is not one.")
    else:
        plan.table = load_table(args)
    if args.fold_in:
        rows, cols, names = _known_ids(plan)
        plan.new = read_new_rows(args.fold_in, names, rows, cols, args.sep, args.duplicates)
    if args.pairs:
        _check_pairs(args, plan)
    if args.checkpoint:
        plan.checkpoints = _checkpoint_dir(args, plan.table)
    if args.scheduler:
        plan.client = _connect(args.scheduler)
    return plan


def _fit(args, plan):
    from .ratings import RatingsCompleter

    model = RatingsCompleter(
        method=args.method,
        random_state=args.seed,
        progress=not args.json,
        client=plan.client,
        **fit_params(args),
    )
    model._checkpoints = plan.checkpoints
    if plan.checkpoints is not None and plan.checkpoints.found and not args.json:
        print(f"resuming from the checkpoints in {args.checkpoint}", file=sys.stderr)
    try:
        model.fit(plan.table)
    finally:
        if plan.client is not None:
            plan.client.close()
            model.set_params(client=None)
    if not args.json:
        print(
            f"fitted {args.method} in {model.fit_seconds_:.1f} s; chosen on validation: "
            f"{model.chosen_}",
            file=sys.stderr,
        )
    return model


def _write_table(frame, path, ext) -> None:
    sep = OUTPUT_FORMATS[ext]
    if sep is None:
        atomic_write(path, lambda fh: frame.to_parquet(fh, index=False))
    else:
        atomic_write(path, lambda fh: frame.to_csv(fh, index=False, sep=sep), mode="w", newline="")


def cmd_complete(args, load_table, validating, report_reading) -> int:
    """Run ``linrfm complete``: ``load_table(args)`` reads the ratings, ``validating()``
    marks errors as usage errors, ``report_reading(table, args)`` tells what was read."""
    with validating():
        plan = _prepare(args, load_table)
    model = plan.model
    if model is None:
        report_reading(plan.table, args)
        model = _fit(args, plan)
    if args.save_model:
        model.save(args.save_model)
    params = {k: v for k, v in model.get_params().items() if k not in ("client", "progress")}
    summary = {"chosen": model.chosen_, "params": params, "saved_model": args.save_model}
    if plan.new is not None:
        summary.update(fold_in=args.fold_in, n_new_rows=len(plan.new.table.row_ids))
    if args.pairs:
        row, col = model.names_[0], model.names_[1]
        out = plan.pairs[[row, col]].copy()
        rows, cols = out[row].to_numpy(), out[col].to_numpy()
        out["prediction"] = predict_pairs(model, rows, cols, args.unknown, plan.new)
        summary.update(n_pairs=int(len(out)))
        _emit(out, "predictions", args, plan, summary)
    elif args.top_n is not None:
        if plan.new is None:
            out = model.recommend(model.row_ids_, k=args.top_n)
        else:
            out = top_n(model, plan.new, args.top_n)
        summary.update(top_n=args.top_n, n_recommendations=int(len(out)))
        _emit(out, "recommendations", args, plan, summary)
    if args.json:
        print_json(summary)
    return 0


def _emit(frame, what, args, plan, summary) -> None:
    """``frame`` written to --out, or into the JSON ``summary`` under ``what`` (--json),
    or as CSV on standard output."""
    summary["out"] = args.out
    if args.out:
        _write_table(frame, args.out, plan.out_ext)
        if not args.json:
            print(f"wrote {len(frame):,} {what} to {args.out}", file=sys.stderr)
    elif args.json:
        summary[what] = frame.to_dict("records")
    else:
        frame.to_csv(sys.stdout, index=False)


def add_parser(sub, methods, add_table_args) -> None:
    """Add ``linrfm complete`` to the subcommands ``sub``."""
    comp = sub.add_parser(
        "complete",
        help="fit a ratings table; predict pairs or list each row's top-N columns",
        description="Fit a table of (row id, column id, value) triples and write predictions "
        "for the pairs in --pairs (a file with the same id columns), in its order, with a "
        "'prediction' column; or, with --top-n K, each row's K best-scored columns it has "
        "not rated (columns: row id, column id, score, rank). --fold-in FILE adds new rows "
        "(their ratings, same columns) without refitting: --top-n then lists theirs, and "
        "--pairs may name them. Defaults suit real, noisy data: biases removed, noise-aware "
        "lin-RFM, ridge and iterations chosen on a validation split of the observed "
        "entries, predictions clipped to the observed range; the model settings below "
        "change them. Every option and file is checked before the fit starts; outputs are "
        "written whole or not at all.",
        epilog="example: linrfm complete ratings.csv --row user --col item --value rating "
        "--pairs to_predict.csv --out predictions.csv. New users, from a saved model: "
        "linrfm complete --model m.npz --fold-in new_users.csv --top-n 10 --json",
    )
    add_table_args(comp)
    comp.add_argument(
        "--pairs", metavar="FILE", help="file of (row id, column id) pairs to predict"
    )
    comp.add_argument(
        "--top-n",
        type=integer(1),
        metavar="K",
        help="write each row's K best-scored columns it has not rated, instead of --pairs "
        "(every fitted row; with --fold-in, the new rows)",
    )
    comp.add_argument(
        "--fold-in",
        metavar="FILE",
        help="ratings of new rows (same columns as the ratings; lin-RFM models), folded in "
        "without refitting, for --top-n or --pairs",
    )
    comp.add_argument(
        "--out",
        metavar="FILE",
        help="output file, .csv, .tsv (.txt: tab-separated) or .parquet (default: CSV on "
        "standard output, or JSON with --json)",
    )
    comp.add_argument("--method", default="linrfm", choices=methods, help="default linrfm")
    comp.add_argument(
        "--unknown",
        default="error",
        choices=["error", "bias"],
        help="ids never seen in the ratings: fail (default) or predict from the biases alone",
    )
    comp.add_argument("--save-model", metavar="FILE", help="save the fitted model to this file")
    comp.add_argument(
        "--model", dest="model_in", metavar="FILE", help="load a saved model instead of fitting"
    )
    comp.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="save the fit's state in DIR as it runs, and resume from DIR's checkpoints: a "
        "resumed fit equals an uninterrupted one (--method linrfm)",
    )
    comp.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="fit on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://host:8786; "
        'the one-sided lin-RFM, --method linrfm; pip install "linrfm[dask]")',
    )
    comp.add_argument(
        "--checkpoint-every",
        type=integer(1),
        default=1,
        metavar="K",
        help="with --checkpoint: save every K iterations (default 1)",
    )
    add_fit_args(comp)
    comp.set_defaults(func=None)
