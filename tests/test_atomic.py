"""Files written whole or not at all (linrfm._atomic)."""

import os

import pytest

from linrfm._atomic import append_line, atomic_write, atomic_write_text


def _leftovers(folder):
    return [p for p in os.listdir(folder) if p.endswith(".tmp")]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, error):
    path = tmp_path / "f.csv"
    path.write_text("old\n")

    def write(fh):
        fh.write(b"new, half")
        raise error

    with pytest.raises(type(error)):
        atomic_write(path, write)
    assert path.read_text() == "old\n" and not _leftovers(tmp_path)


def test_a_finished_write_replaces_the_file(tmp_path):
    path = tmp_path / "s.md"
    path.write_text("old")
    atomic_write_text(path, "new ü\n")
    assert path.read_text(encoding="utf-8") == "new ü\n" and not _leftovers(tmp_path)


def test_append_line_wants_whole_lines(tmp_path):
    path = tmp_path / "a.csv"
    append_line(path, "a,b\n")
    append_line(path, "1,2\n")
    assert path.read_text() == "a,b\n1,2\n"
    with pytest.raises(ValueError, match="whole line"):
        append_line(path, "3,")
    assert path.read_text() == "a,b\n1,2\n"


def test_no_module_writes_files_but_through_the_atomic_writer():
    """Every writer in the package goes through linrfm._atomic: no bare open(..., 'w'),
    savefig(path) or to_csv(path) is left."""
    import re

    import linrfm

    root = os.path.dirname(linrfm.__file__)
    bad = []
    pattern = re.compile(
        r"open\([^)]*['\"][wa]b?['\"]|\.savefig\((path|p)\b|\.to_(csv|parquet)\(args"
    )
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py") and name != "_atomic.py":
                text = open(os.path.join(folder, name), encoding="utf-8").read()
                bad += [f"{name}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not bad, bad
