"""Re-runnable studies behind ``linrfm experiment``.

Each study is a module with ``register(subparsers)`` adding its sub-command, listed in
:data:`linrfm.cli.EXPERIMENTS`. Studies write a CSV of every run (finished runs are cached
and skipped on a re-run, so a long study resumes) and PNG plots (``pip install
linrfm[plot]``), and accept ``--quick`` for a smoke test.
"""
