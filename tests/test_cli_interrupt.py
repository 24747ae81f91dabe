"""Ctrl-C while `linrfm complete` writes its outputs leaves the previous files intact.

The subprocess runs the real command with a slow writer patched in: it starts writing the
file, says READY on standard output, and sleeps; the test then sends SIGINT. Before the
atomic writer, the interrupted write had already truncated the previous --out file to its
header line.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import pandas as pd
    from linrfm.cli import main

    what, folder = sys.argv[1], sys.argv[2]

    def stall(fh):
        fh.flush()
        print("READY", flush=True)
        time.sleep(60)

    if what == "out":
        original = pd.DataFrame.to_csv

        def slow_to_csv(self, buf=None, *args, **kwargs):
            if buf is None or buf is sys.stdout:
                return original(self, buf, *args, **kwargs)
            fh = open(buf, "w") if isinstance(buf, (str, os.PathLike)) else buf
            fh.write(",".join(map(str, self.columns)) + "\\n")
            stall(fh)

        pd.DataFrame.to_csv = slow_to_csv
    else:
        def slow_savez(fh, **arrays):
            fh = open(fh, "wb") if isinstance(fh, (str, os.PathLike)) else fh
            fh.write(b"PK\\x03\\x04 partial")
            stall(fh)

        np.savez_compressed = slow_savez
    j = lambda name: os.path.join(folder, name)
    argv = ["complete", j("r.csv"), "--row", "u", "--col", "i", "--value", "v"]
    if what == "out":
        argv += ["--pairs", j("p.csv"), "--out", j("pred.csv")]
    else:
        argv += ["--save-model", j("model.npz")]
    sys.exit(main(argv))
    """
)


def _data(folder):
    rng = np.random.default_rng(0)
    n, d = 20, 12
    rows, cols = np.nonzero(rng.random((n, d)) < 0.6)
    Y = 3 + rng.standard_normal((n, 2)) @ rng.standard_normal((2, d))
    pd.DataFrame({"u": rows, "i": cols, "v": Y[rows, cols]}).to_csv(folder / "r.csv", index=False)
    pd.DataFrame({"u": [0, 1], "i": [2, 3]}).to_csv(folder / "p.csv", index=False)


def _interrupt(what, folder):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, what, str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.time() + 120
    line = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.strip() == "READY" or not line:
            break
    assert line.strip() == "READY", proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("what, name", [("out", "pred.csv"), ("model", "model.npz")])
def test_sigint_while_writing_keeps_the_previous_file(tmp_path, what, name):
    _data(tmp_path)
    old = b"user,item,prediction\n1,2,3.5\n" if what == "out" else b"an older model file"
    (tmp_path / name).write_bytes(old)
    code, err = _interrupt(what, tmp_path)
    assert (tmp_path / name).read_bytes() == old
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no leftovers
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
