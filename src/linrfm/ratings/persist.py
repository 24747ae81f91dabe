"""Saving and loading a fitted ratings model: one ``.npz`` file, arrays plus JSON metadata.

No pickle. The metadata carries the format version and a SHA-256 checksum of the metadata
and every array, so a damaged file is refused with an error naming it instead of giving
wrong predictions. A save writes a temporary file in the target's folder and moves it into
place (:func:`linrfm._atomic.atomic_write`), so an interrupted save leaves any previous
file intact.

Format 3 (this version) holds the completion's compact form only (the column kernel that
folds in a new row is recomputed from it), its large arrays (kernel, coefficients,
factors) in float32: a relative rounding of at most ``2^-24`` per number, which moves a
prediction by ~1e-7 of the size of its terms (tests/test_ratings_memory.py holds them to
1e-5 stars). They are read back as float64. Formats 2 (all float64) and 1 (without
checksum, with the column kernel) are still read.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib

import numpy as np
import scipy.sparse as sp

from .._atomic import atomic_write
from ..results import FactorResult, KernelResult
from .model import RatingsModel

__all__ = ["FORMAT_VERSION", "ModelFileError", "load_estimator", "save_estimator"]

FORMAT_VERSION = 3
READABLE = (1, 2, 3)
# the arrays stored in float32 (format 3); every other array keeps its dtype
_FLOAT32 = ("coef_data", "kernel", "U", "V")
# what every model file holds besides its result's own arrays
_META_KEYS = ("params", "names", "mu", "range", "chosen", "n_iter", "result")
_ARRAY_KEYS = ("row_ids", "col_ids", "row_bias", "col_bias", "observed_indptr", "observed_indices")


class ModelFileError(ValueError):
    """A file that is not a readable linrfm model (foreign, damaged, truncated, too new)."""


def _checksum(meta: dict, arrays: dict) -> str:
    """SHA-256 of the metadata (less its checksum) and of every array's name, dtype,
    shape and bytes, in name order."""
    h = hashlib.sha256()
    body = {k: v for k, v in meta.items() if k != "checksum"}
    h.update(json.dumps(body, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def write_model_file(path, meta: dict, arrays: dict):
    """Write ``meta`` (JSON-able; the format version and checksum are added) and
    ``arrays`` to ``path`` atomically."""
    meta = {"format_version": FORMAT_VERSION, "library": "linrfm", **meta}
    arrays = {k: v.astype(np.float32) if k in _FLOAT32 else v for k, v in arrays.items()}
    meta["checksum"] = _checksum(meta, arrays)
    payload = {"meta": np.array(json.dumps(meta)), **arrays}
    # a file handle, so numpy does not append '.npz' to the name the user chose
    atomic_write(path, lambda fh: np.savez_compressed(fh, **payload))


def _read_raw(path):
    """``(meta, arrays)`` of a model file; ModelFileError naming it if it cannot be read."""
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ModelFileError(f"{path} is not a linrfm model file (a single array).")
        with f:
            if "meta" not in f.files:
                raise ModelFileError(f"{path} is not a linrfm model file (no metadata).")
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in f.files if k != "meta"}
    except ModelFileError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise ModelFileError(
            f"{path} is not a linrfm model file, or it is damaged or truncated: {exc}"
        ) from exc
    if not isinstance(meta, dict) or meta.get("library") != "linrfm":
        raise ModelFileError(f"{path} is not a linrfm model file (foreign metadata).")
    version = meta.get("format_version")
    if version not in READABLE:
        raise ModelFileError(
            f"{path}: unsupported model format {version!r} (this linrfm reads versions "
            f"{', '.join(map(str, READABLE))}); refit the model with this version."
        )
    if version >= 2 and meta.get("checksum") != _checksum(meta, arrays):
        raise ModelFileError(
            f"{path} is damaged: its checksum does not match its contents; refit and save "
            "the model again."
        )
    return meta, arrays


def model_arrays(model: RatingsModel):
    """``(meta, arrays)`` describing ``model`` (its ``result`` and biases)."""
    obs = model.observed
    arrays = {
        "row_bias": model.row_bias,
        "col_bias": model.col_bias,
        "observed_indptr": obs.indptr,
        "observed_indices": obs.indices,
    }
    res = model.result
    if isinstance(res, KernelResult):
        info = {
            "kind": "kernel",
            "side": res.side,
            "lam": res.lam,
            "replace": bool(res.replace),
            "shape": list(res.shape),
            "coef_shape": list(res.coef.shape),
        }
        arrays.update(
            coef_data=res.coef.data,
            coef_indices=res.coef.indices,
            coef_indptr=res.coef.indptr,
            kernel=res.kernel,
        )
    else:
        info = {"kind": "factors", "method": res.method, "shape": list(res.shape)}
        arrays.update(U=res.U, V=res.V)
    meta = {"mu": model.mu, "range": list(model.range), "result": info}
    return meta, arrays


def _result(info, arr):
    arr = {k: v.astype(np.float64) if k in _FLOAT32 else v for k, v in arr.items()}
    if info["kind"] == "kernel":
        coef = sp.csr_matrix(
            (arr["coef_data"], arr["coef_indices"], arr["coef_indptr"]),
            shape=tuple(info["coef_shape"]),
        )
        return KernelResult(
            shape=tuple(info["shape"]),
            method="lin-rfm",
            side=info["side"],
            coef=coef,
            kernel=arr["kernel"],
            lam=info["lam"],
            replace=info["replace"],
        )
    method = info.get("method", "softimpute")  # format 2 stored SoftImpute's factors only
    return FactorResult(shape=tuple(info["shape"]), method=method, U=arr["U"], V=arr["V"])


def read_model_file(path):
    """``(meta, arrays, model)`` of a file written by :func:`write_model_file` with
    :func:`model_arrays` (or by format 1); ModelFileError naming the file otherwise."""
    meta, arr = _read_raw(path)
    try:
        missing = [k for k in _META_KEYS if k not in meta] + [
            k for k in _ARRAY_KEYS if k not in arr
        ]
        if missing:
            raise KeyError(", ".join(missing))
        params = meta["params"]
        result = _result(meta["result"], arr)
        n, d = result.shape
        ind = arr["observed_indices"]
        observed = sp.csr_matrix(
            (np.ones(ind.size, dtype=np.int8), ind, arr["observed_indptr"]), shape=(n, d)
        )
        model = RatingsModel(
            mu=float(meta["mu"]),
            row_bias=arr["row_bias"],
            col_bias=arr["col_bias"],
            result=result,
            observed=observed,
            range=tuple(meta["range"]),
            clip=params["clip"],
            biases=params["biases"],
            bias_reg=params["bias_reg"],
            alpha=params["alpha"],
            lam=meta["chosen"]["lam"] if params["method"] == "linrfm" else None,
            # format 1 kept the column kernel: use it as it was
            _fold=(
                (arr["col_kernel"], float(arr["col_lam"]), False) if "col_kernel" in arr else None
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path}: incomplete or inconsistent linrfm model file: {exc}"
        ) from exc
    return meta, arr, model


def _ids_out(ids):
    ids = np.asarray(ids)
    return ids.astype(str) if ids.dtype.kind == "O" else ids


def save_estimator(est, path):
    """Write a fitted RatingsCompleter ``est`` to ``path`` (ids of object type as text)."""
    params = est.get_params()
    params.pop("client", None)  # a connection, not part of the model
    params["lams"] = [float(x) for x in np.atleast_1d(params["lams"])]
    meta, arrays = model_arrays(est.model_)
    meta.update(params=params, names=list(est.names_), chosen=est.chosen_, n_iter=est.n_iter_)
    arrays.update(row_ids=_ids_out(est.row_ids_), col_ids=_ids_out(est.col_ids_))
    write_model_file(path, meta, arrays)


def load_estimator(cls, path):
    """The fitted estimator of class ``cls`` saved in ``path`` by :func:`save_estimator`."""
    meta, arr, state = read_model_file(path)
    est = cls(**meta["params"])
    est.names_ = tuple(meta["names"])
    est.chosen_ = meta["chosen"]
    est.n_iter_ = meta["n_iter"]
    est.row_ids_, est.col_ids_ = arr["row_ids"], arr["col_ids"]
    est.model_ = state
    return est
