"""Checks of command-line arguments, done before any work starts.

Each argparse ``type`` here names what it expected and what it got; argparse prefixes the
option as the user typed it (``argument --n-step: expected an integer >= 1; got '0'``) and
exits with status 2. Checks that involve several options, the file system or an optional
dependency raise :class:`UsageError`, which ``linrfm`` reports the same way (status 2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from pathlib import Path

__all__ = [
    "UsageError",
    "integer",
    "real",
    "separator",
    "byte_size",
    "check_output_file",
    "check_output_dir",
    "check_input_file",
    "prepare_study_out",
    "STUDY_ROOT",
]

#: the folder, in the current directory, where studies write unless --out says otherwise
STUDY_ROOT = "linrfm-results"
# a file in a study's folder saying that it holds --quick (smoke-test) results
QUICK_MARKER = ".linrfm-quick"
# output formats of predictions: extension -> separator (None: parquet)
OUTPUT_FORMATS = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".parquet": None, ".pq": None}


class UsageError(ValueError):
    """The command line asks for something that cannot be done (exit status 2)."""


def integer(low: int | None = None, high: int | None = None):
    """An argparse type: an integer within ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if (
            value is None
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            bounds = [
                f">= {low}" if low is not None else "",
                f"<= {high}" if high is not None else "",
            ]
            want = " and ".join(b for b in bounds if b)
            raise argparse.ArgumentTypeError(
                f"expected an integer{' ' + want if want else ''}; got {text!r}"
            )
        return value

    parse.bounds = (low, high)  # for the tests' fuzzing
    return parse


def real(low: float | None = None, high: float | None = None, *, low_open: bool = False):
    """An argparse type: a finite number within ``[low, high]`` (``(low, high]`` with
    ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            bounds = []
            if low is not None:
                bounds.append(f"{'>' if low_open else '>='} {low:g}")
            if high is not None:
                bounds.append(f"<= {high:g}")
            want = " and ".join(bounds)
            raise argparse.ArgumentTypeError(
                f"expected a finite number{' ' + want if want else ''}; got {text!r}"
            )
        return value

    parse.bounds = (low, high)
    parse.low_open = low_open
    return parse


def separator(text: str) -> str:
    """An argparse type: a field separator; ``\\t`` typed as two characters is a tab."""
    sep = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(text, text)
    if not sep or "\n" in sep or '"' in sep:
        raise argparse.ArgumentTypeError(
            f"expected a field separator such as , or \\t; got {text!r}"
        )
    return sep


def byte_size(text: str) -> int:
    """An argparse type: a number of bytes >= 1, such as ``4GiB``, ``500M``, ``2e9`` (k, M,
    G, T are powers of 1000; KiB, MiB, GiB, TiB of 1024; a trailing B is optional)."""
    m = re.fullmatch(r"([0-9.e+-]+)\s*(?:([kmgt])(i)?)?b?", text.strip().lower())
    try:
        number = float(m[1]) if m else math.nan
    except ValueError:
        number = math.nan
    if m and m[2]:
        number *= (1024 if m[3] else 1000) ** ("kmgt".index(m[2]) + 1)
    if not (1 <= number <= 2**62):  # NaN too
        raise argparse.ArgumentTypeError(
            f"expected a number of bytes >= 1 such as 4GiB, 500M or 2e9; got {text!r}"
        )
    return int(number)


byte_size.bounds = (1, 2**62)


def check_input_file(path, option: str) -> Path:
    """``path`` names an existing, readable file."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{option} {path}: no such file.")
    if not p.is_file():
        raise UsageError(f"{option} {path}: not a file (a folder?).")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{option} {path}: not readable (permission denied).")
    return p


def _writable_folder(folder: Path, option: str, path) -> None:
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: the folder {str(folder)!r} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot write in {str(folder)!r} (permission denied).")


def check_output_file(path, option: str, formats=OUTPUT_FORMATS) -> str:
    """``path`` can be written as one of ``formats`` (by extension; None: any name);
    returns the extension.

    Refuses a folder, a missing or read-only folder, an unknown extension and a parquet
    file when neither pyarrow nor fastparquet is installed.
    """
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name.")
    _writable_folder(p.parent if str(p.parent) else Path("."), option, path)
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{option} {path}: the existing file is read-only.")
    ext = p.suffix.lower()
    if formats is None:  # any name
        return ext
    if ext not in formats:
        raise UsageError(
            f"{option} {path}: unknown extension {ext or '(none)'!r}; use one of "
            f"{', '.join(sorted(formats))}."
        )
    if formats[ext] is None:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            try:
                import fastparquet  # noqa: F401
            except ImportError:
                raise UsageError(
                    f"{option} {path}: writing parquet needs pyarrow (pip install "
                    "'linrfm[io]'); or write .csv or .tsv."
                ) from None
    return ext


def check_output_dir(path, option: str) -> Path:
    """``path`` is a folder that exists or can be created, and can be written in."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{option} {path}: is a file, not a folder.")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot create the folder ({exc.strerror}).") from None
    _writable_folder(p, option, path)
    return p


def prepare_study_out(out, default: str, csv_name, *, quick: bool, force: bool) -> str:
    """The output folder of a study, checked and created before any trial runs.

    ``out`` None means ``./linrfm-results/<default>`` (``<default>-quick`` for a quick
    run), outside the repository's committed results. A folder that holds a --quick run is
    marked; a quick run refuses a folder whose CSV holds other results (a full study, such
    as the committed ones), and a full run refuses a folder of quick results, unless
    ``force``. ``csv_name`` may be a list: the study's CSV and those of its older versions.
    """
    option = "--out"
    if out is None:
        out = os.path.join(STUDY_ROOT, default + ("-quick" if quick else ""))
    p = check_output_dir(out, option)
    marker = p / QUICK_MARKER
    names = [csv_name] if isinstance(csv_name, str) else list(csv_name)
    held_in = [c for c in names if (p / c).is_file() and (p / c).stat().st_size > 0]
    has_rows, csv_name = bool(held_in), (held_in or names)[0]
    if has_rows and not force and marker.exists() != quick:
        held, run = ("--quick", "a full") if not quick else ("full", "a --quick")
        raise UsageError(
            f"{option} {out}: holds {held} results in {csv_name}; {run} run would mix its "
            "rows into them. Give another --out, or --force to write there anyway."
        )
    if quick and not marker.exists():
        from ._atomic import atomic_write_text

        atomic_write_text(marker, json.dumps({"quick": True}) + "\n")
    return str(out)


def add_study(subparsers, name: str, cmd, *, quick: str, **texts):
    """The sub-command of the study ``name``, run by ``cmd``, with the options every study
    takes: --out (see :func:`prepare_study_out`), --quick (``quick`` says what its grid
    is), --force, --no-plot, --no-progress and :func:`add_common`'s. ``texts`` are
    argparse's ``help`` and ``description``. Returns the parser, for the study's own."""
    p = subparsers.add_parser(name, **texts)
    p.add_argument(
        "--out",
        default=None,
        help=f"output directory (default ./{STUDY_ROOT}/{name}, or {name}-quick with --quick)",
    )
    p.add_argument("--quick", action="store_true", help=quick)
    p.add_argument(
        "--force",
        action="store_true",
        help="write into --out even if it holds results of the other kind (quick or full)",
    )
    p.add_argument("--no-plot", action="store_true", help="skip the plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p)
    p.set_defaults(func=cmd)
    return p


def add_common(parser) -> None:
    """``--json`` and ``--debug``, on every command."""
    parser.add_argument(
        "--json", action="store_true", help="machine-readable output (JSON) on standard output"
    )
    parser.add_argument(
        "--debug", action="store_true", help="on an error, show the full Python traceback"
    )


def add_int(parser, flag: str, default: int, what: str, low: int = 1) -> None:
    """An integer option ``flag`` (at least ``low``) whose help states its default."""
    parser.add_argument(
        flag, type=integer(low), default=default, help=f"{what} (default {default})"
    )


def options(args, *names) -> dict:
    """The options ``names`` of the parsed command line, as keyword arguments."""
    return {name: getattr(args, name) for name in names}


def _plain(x):
    """``x`` with NumPy scalars as Python numbers and NaN/inf as None (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def print_json(obj) -> None:
    """Print ``obj`` as strict JSON (NaN and inf as null) on standard output."""
    print(json.dumps(_plain(obj), indent=1, allow_nan=False))
