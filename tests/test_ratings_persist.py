"""The ratings model file (atomic save, checksum, clear errors, format 1) and the
compact-form column kernel."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

pd = pytest.importorskip("pandas")

from linrfm.io import read_ratings  # noqa: E402
from linrfm.ratings import FORMAT_VERSION, RatingsCompleter, persist  # noqa: E402
from linrfm.ratings.model import completion_gram  # noqa: E402
from linrfm.results import FactorResult, KernelResult  # noqa: E402

NEW_ROW = ([0, 7, 14], [3.0, 4.0, 2.0])
# The file stores the kernel and coefficients in float32 (format 3): a relative rounding
# of 2^-24 per number moves a prediction (ratings ~3, terms of that size) by ~1e-7.
ATOL = 1e-5


def _table(seed=0, n=25, d=18):
    rng = np.random.default_rng(seed)
    Y = 3 + rng.standard_normal((n, 2)) @ rng.standard_normal((2, d))
    rows, cols = np.nonzero(rng.random((n, d)) < 0.5)
    vals = Y[rows, cols] + 0.3 * rng.standard_normal(rows.size)
    df = pd.DataFrame({"user": [f"u{i}" for i in rows], "item": cols * 7, "r": vals})
    return read_ratings(df, "user", "item", "r")


@pytest.fixture(scope="module")
def fitted():
    return RatingsCompleter().fit(_table())


def _all_pairs(model):
    n, d = len(model.row_ids_), len(model.col_ids_)
    return np.repeat(np.arange(n), d), np.tile(np.arange(d), n)


def _assert_same_model(a, b):
    rows, cols = _all_pairs(a)
    pa, pb = a.predict_index(rows, cols), b.predict_index(rows, cols)
    np.testing.assert_allclose(pa, pb, rtol=0, atol=ATOL)
    na, nb = a.predict_new_row(*NEW_ROW), b.predict_new_row(*NEW_ROW)
    np.testing.assert_allclose(na, nb, rtol=0, atol=ATOL)
    assert a.chosen_ == b.chosen_ and a.n_iter_ == b.n_iter_ and a.names_ == b.names_
    np.testing.assert_array_equal(a.row_ids_, b.row_ids_)
    np.testing.assert_array_equal(a.col_ids_, b.col_ids_)
    assert (a.observed_ != b.observed_).nnz == 0


def test_round_trip_within_float32_and_the_file_carries_version_and_checksum(fitted, tmp_path):
    path = tmp_path / "m.npz"
    fitted.save(path)
    _assert_same_model(fitted, RatingsCompleter.load(path))
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
    assert meta["format_version"] == FORMAT_VERSION == 3
    assert meta["checksum"].startswith("sha256:")
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left


def test_interrupted_save_leaves_the_previous_file_intact(fitted, tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    fitted.save(path)
    before = path.read_bytes()

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half a model")
        raise OSError("No space left on device")

    monkeypatch.setattr(persist.np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="No space left"):
        RatingsCompleter().fit(_table(1)).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    _assert_same_model(fitted, RatingsCompleter.load(path))


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.0])
def test_truncated_file_gives_an_error_naming_it(fitted, tmp_path, keep):
    path = tmp_path / "model.npz"
    fitted.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(keep * len(data))])
    with pytest.raises(persist.ModelFileError, match="damaged or truncated") as info:
        RatingsCompleter.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def _rewrite(path, edit):
    """Rewrite a model file as a valid zip, with ``edit(meta, arrays)`` applied."""
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
        arrays = {k: f[k] for k in f.files if k != "meta"}
    edit(meta, arrays)
    with open(path, "wb") as fh:
        np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)


def test_changed_contents_fail_the_checksum(fitted, tmp_path):
    path = tmp_path / "m.npz"
    fitted.save(path)
    _rewrite(path, lambda meta, arrays: arrays["row_bias"].__setitem__(0, 1.0))
    with pytest.raises(ValueError, match="checksum does not match") as info:
        RatingsCompleter.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m, a: m.update(format_version=99), "unsupported model format 99.*refit"),
        (lambda m, a: m.update(library="other"), "not a linrfm model file"),
    ],
)
def test_foreign_or_newer_metadata_is_refused(fitted, tmp_path, edit, match):
    path = tmp_path / "m.npz"
    fitted.save(path)
    _rewrite(path, edit)
    with pytest.raises(ValueError, match=match):
        RatingsCompleter.load(path)


def test_other_files_are_refused_by_name(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3))
    with pytest.raises(ValueError, match="a.npy is not a linrfm model file"):
        RatingsCompleter.load(tmp_path / "a.npy")
    with pytest.raises(ValueError, match="nothing.npz is not a linrfm model file"):
        RatingsCompleter.load(tmp_path / "nothing.npz")


def test_a_format_1_file_still_loads(fitted, tmp_path):
    # format 1: no checksum, the column kernel and its ridge stored with the model
    path = tmp_path / "v1.npz"
    fitted.save(path)

    def to_v1(meta, arrays):
        meta["format_version"] = 1
        del meta["checksum"]
        arrays["col_kernel"] = fitted.col_kernel_
        arrays["col_lam"] = np.array(fitted.col_lam_)

    _rewrite(path, to_v1)
    _assert_same_model(fitted, RatingsCompleter.load(path))


@pytest.mark.parametrize("kernel_rank, cls", [("auto", KernelResult), (4, FactorResult)])
def test_loaded_models_never_build_the_dense_completion(
    fitted, tmp_path, monkeypatch, kernel_rank, cls
):
    path = tmp_path / "m.npz"
    model = fitted if kernel_rank == "auto" else RatingsCompleter(kernel_rank=4).fit(_table())
    model.save(path)

    def refuse(self):
        raise AssertionError("to_dense called")

    monkeypatch.setattr(cls, "to_dense", refuse)
    model = RatingsCompleter.load(path)
    model.predict(["u1", "u2"], [0, 7])
    model.recommend("u3", k=4)
    model.predict_new_row(*NEW_ROW)


@pytest.mark.parametrize("side", ["row", "col"])
@pytest.mark.parametrize("replace", [False, True])
def test_completion_gram_equals_the_dense_gram(side, replace):
    rng = np.random.default_rng(3)
    n, d = 9, 6
    lines, width = (n, d) if side == "row" else (d, n)
    coef = sp.random(lines, width, density=0.4, random_state=4, format="csr")
    W = rng.standard_normal((width, width))
    res = KernelResult(shape=(n, d), side=side, coef=coef, kernel=W @ W.T, lam=0.7, replace=replace)
    B = res.to_dense()
    np.testing.assert_allclose(completion_gram(res, chunk=4), B.T @ B, rtol=1e-12, atol=1e-12)


def test_a_format_2_file_float64_predicts_exactly_as_before(fitted, tmp_path):
    # format 2 (main before issue 19) kept every array in float64: such a file gives the
    # fitted model's predictions exactly, as it did
    path = tmp_path / "v2.npz"
    fitted.save(path)
    res = fitted.result_

    def to_v2(meta, arrays):
        meta["format_version"] = 2
        arrays.update(coef_data=res.coef.data, kernel=res.kernel)
        meta["checksum"] = persist._checksum(meta, arrays)

    _rewrite(path, to_v2)
    loaded = RatingsCompleter.load(path)
    rows, cols = _all_pairs(fitted)
    assert loaded.result_.kernel.dtype == np.float64
    np.testing.assert_array_equal(
        loaded.predict_index(rows, cols), fitted.predict_index(rows, cols)
    )
    np.testing.assert_array_equal(
        loaded.predict_new_row(*NEW_ROW), fitted.predict_new_row(*NEW_ROW)
    )
