"""Regression pins: every public solver's result on small seeded problems.

``tests/pinned/reference.npz`` was written by ``tests/pinned/generate.py`` on the code
before the solver refactor (commit 673d38b); this test runs the same cases
(``tests/pinned/cases.py``) on the current code and asks for the same answers. Cases look
their functions up by the new name first and fall back to the old one (see
``pinned.cases.fn``), so the test keeps working across the renames.

Tolerances: ``rtol=1e-10, atol=1e-10`` (entries are O(1): the planted matrices have mean
squared entry 1) unless a case states a looser one and its reason (``Case.reason``), e.g.
the torch backend or a randomized SVD. ``n_iter`` and ``converged`` are compared exactly
(every case is deterministic: the generator run twice gives byte-identical output).
To regenerate after an intended change of behaviour, run ``python tests/pinned/generate.py``.
"""

from pathlib import Path

import numpy as np
import pytest

from pinned.cases import CASES

REFERENCE = Path(__file__).parent / "pinned" / "reference.npz"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as ref:
        return {k: ref[k] for k in ref.files}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_pinned(case, reference):
    if case.rtol > 1e-10 or case.atol > 1e-10:
        assert case.reason, f"{case.name}: a looser tolerance needs a stated reason"
    if case.name == "lrc_torch_cpu":
        pytest.importorskip("torch")
    key = f"{case.name}/X"
    assert key in reference, f"{case.name} is not in {REFERENCE.name}; regenerate it"
    got = case.run()
    expected = reference[key]
    assert got["X"].shape == expected.shape
    np.testing.assert_allclose(
        got["X"], expected, rtol=case.rtol, atol=case.atol, err_msg=f"{case.name} {case.reason}"
    )
    if case.check_iter:
        assert int(got["n_iter"]) == int(reference[f"{case.name}/n_iter"]), case.name
        assert int(got["converged"]) == int(reference[f"{case.name}/converged"]), case.name


def test_reference_covers_every_case(reference):
    names = {k.rsplit("/", 1)[0] for k in reference}
    assert names == {c.name for c in CASES}
