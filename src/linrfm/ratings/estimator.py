"""RatingsCompleter: fit a rating table by its original ids, choose the ridge and the
iteration count on held-out observations, predict, recommend, fold in a new row."""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from .._validation import check_random_state
from ..problems import CoverageWarning, MatrixCompletion
from ..solvers.linrfm import lin_rfm_complete
from ..solvers.softimpute import lambda_max, soft_impute_complete
from . import persist
from ._params import check_params, full_kernel_only
from ._predict import RatingsPredictions
from ._tables import as_ratings
from .biases import fit_biases
from .lowrank import Prepared, kernel_plan, lowrank_lin_rfm
from .model import RatingsModel

__all__ = ["RatingsCompleter"]


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _from_model(name, doc):
    """A read-only attribute of the fitted :class:`RatingsModel` (``model_.<name>``)."""
    return property(lambda self: getattr(self.model_, name), doc=doc)


def _from_fold(k, name, doc):
    """Part ``k`` of the fitted model's ``column_kernel()`` (lin-RFM models only)."""

    def get(self):
        if not self.model_.folds_in:
            raise AttributeError(f"{name}: only lin-RFM models have a column kernel.")
        return self.model_.column_kernel()[k]

    return property(get, doc=doc)


class RatingsCompleter(RatingsPredictions, BaseEstimator):
    """Fit a rating table and predict by original ids.

    The model is ``mu + row_bias[i] + col_bias[j] + R[i, j]``, where ``R`` completes the
    residual of the biases. With ``method='linrfm'`` ``R`` is lin-RFM without replacement
    (the noisy mode): for every candidate ridge in ``lams`` the iteration runs on 90% of
    the observations (``val_fraction`` held out) and the validation RMSE is recorded after
    each iteration; the best (ridge, iteration count) is then refitted on all observations.
    On noisy ratings the validation error is lowest after very few iterations and rises
    afterwards, so stopping on validation is essential. With ``method='softimpute'`` the
    point of a SoftImpute ``lam`` path with the lowest validation RMSE is refitted.

    Parameters
    ----------
    method : {'linrfm', 'softimpute'}, default='linrfm'
    alpha : float > 0, default=0.5
        lin-RFM power (kernel ``G^(2 alpha)``).
    variant : {'auto', 'one-sided', 'two-sided'}, default='auto'
        lin-RFM variant; 'auto' is two-sided when both kernels fit in memory.
    kernel_side : {'auto', 'row', 'col'}, default='auto'
        The one-sided kernel: 'row' regresses each row (user) on the columns' (items')
        kernel, 'col' the reverse; 'auto' the cheaper (``lin_rfm_complete``).
    lams : sequence of float >= 0, default=(1, 3, 10, 30)
        Candidate lin-RFM ridges, relative to the kernel's scale ``tr(K) / width``
        (the data's mean square).
    cooccurrence : float or sequence of float in [0, 1), default=0.0
        Candidate weights of the observed pattern in the lin-RFM kernel (which items a
        user rated, as SVD++'s implicit feedback; ``lin_rfm_complete(cooccurrence=)``).
        Every (weight, ridge) pair is tried on validation. :meth:`predict_new_row` still
        regresses a new row on the plain AGOP kernel (``col_kernel_``), without the pattern.
    refit : {'full', 'warm'}, default='full'
        How the chosen lin-RFM is fitted to all observations: 'full' runs the chosen
        iteration count again from the start; 'warm' runs one iteration on all
        observations from the chosen iterate of the validation fit (``n_iter_`` is 1).
    dtype : {None, 'float64', 'float32'}, default=None
        Working precision of lin-RFM (``lin_rfm_complete``; None: float64). float32 is
        ~1.5x faster on MovieLens-100K with the same RMSE to four digits.
    max_iter : int, default=8
        Most lin-RFM iterations tried per ridge (a candidate stops early once its
        validation error has risen).
    n_lams : int, default=8
        SoftImpute path length, from ``lambda_max`` down to ``lam_ratio * lambda_max``.
    lam_ratio : float in (0, 1], default=0.25
        End of the SoftImpute path.
    biases : {'both', 'global', 'none'}, default='both'
        Remove the global mean and row/column biases ('both'), the mean only, or nothing.
    bias_reg : float >= 0, default=10.0
        Ridge on the biases, in pseudo-observations.
    clip : bool, default=True
        Clip predictions to the range of the training ratings.
    val_fraction : float in (0, 1), default=0.1
        Observations held out to choose the ridge and the iteration count.
    progress : bool, default=False
        A progress bar over the fits.
    random_state : None or int, default=0
        Seeds the validation split.
    memory_limit : float, default=2 GiB
        Bytes the lin-RFM fit's working arrays may take (as in
        :func:`linrfm.lin_rfm_complete`). The full kernel (``d x d`` or ``n x n``) is
        used when a plan of :func:`linrfm.lin_rfm_plan` fits it; otherwise, with
        ``kernel_rank='auto'`` and ``variant='auto'``, the rank-capped kernel
        (:mod:`linrfm.ratings.lowrank`). When even that does not fit, ``fit`` raises
        ``MemoryError`` naming ``memory_limit`` before any fitting.
    kernel_rank : 'auto' or int >= 1, default='auto'
        An integer keeps the column kernel at that rank, as a ``d x rank`` factor
        (:mod:`linrfm.ratings.lowrank`: memory ``O(|Omega| + (n + d) rank)``, the model
        file holds two factors; ``linrfm complete --checkpoint`` does not checkpoint it);
        'auto' uses the full kernel when it fits ``memory_limit`` and rank 64 otherwise.
    client : distributed.Client, optional
        Fit the lin-RFM residual on the workers of this Dask cluster (the one-sided
        coefficient iteration of :func:`linrfm.lin_rfm_complete`; needs ``method='linrfm'``
        and ``variant`` 'auto' or 'one-sided'). The fitted model is the same as without a
        client, and is saved without it.

    Attributes
    ----------
    model_ : RatingsModel
        The fitted state by index (biases, compact completion, observed pattern).
    chosen_ : dict
        The hyper-parameters picked on validation and their validation RMSE.
    result_ : KernelResult or FactorResult
        The residual completion refitted on all observations.
    mu_, row_bias_, col_bias_ : float, ndarray, ndarray
    row_ids_, col_ids_ : ndarray
        The fitted ids (index ``k`` stands for ``row_ids_[k]``).
    names_ : tuple of str
        Names of the row-id, column-id and value columns.
    range_ : (float, float)
        Smallest and largest training rating.
    n_iter_ : int
        Iterations of the final fit.
    fit_seconds_ : float
    """

    mu_ = _from_model("mu", "Global mean.")
    row_bias_ = _from_model("row_bias", "Row biases.")
    col_bias_ = _from_model("col_bias", "Column biases.")
    result_ = _from_model("result", "The residual completion.")
    observed_ = _from_model("observed", "Pattern of the fitted ratings.")
    range_ = _from_model("range", "Smallest and largest training rating.")
    col_kernel_ = _from_fold(
        0, "col_kernel_", "The column kernel ``(B^T B / n)^(2 alpha)`` a new row is regressed on."
    )
    col_lam_ = _from_fold(1, "col_lam_", "The absolute ridge of a new row's kernel regression.")

    def __init__(
        self,
        method="linrfm",
        alpha=0.5,
        variant="auto",
        kernel_side="auto",
        lams=(1.0, 3.0, 10.0, 30.0),
        cooccurrence=0.0,
        refit="full",
        dtype=None,
        max_iter=8,
        n_lams=8,
        lam_ratio=0.25,
        biases="both",
        bias_reg=10.0,
        clip=True,
        val_fraction=0.1,
        progress=False,
        random_state=0,
        memory_limit=2**31,
        kernel_rank="auto",
        client=None,
    ):
        self.method = method
        self.alpha = alpha
        self.variant = variant
        self.kernel_side = kernel_side
        self.lams = lams
        self.cooccurrence = cooccurrence
        self.refit = refit
        self.dtype = dtype
        self.max_iter = max_iter
        self.n_lams = n_lams
        self.lam_ratio = lam_ratio
        self.biases = biases
        self.bias_reg = bias_reg
        self.clip = clip
        self.val_fraction = val_fraction
        self.progress = progress
        self.random_state = random_state
        self.memory_limit = memory_limit
        self.kernel_rank = kernel_rank
        self.client = client

    # ------------------------------------------------------------------ fitting
    def _check_params(self):
        """The candidate ``(lams, cooccurrence weights)``, checked (:mod:`._params`)."""
        return check_params(self)

    def _split(self, r, c, resid, shape):
        """The problems on the kept and on all observations, and the held-out triples.

        The biases saw the held-out ratings too (they are cheap, well regularized and
        refitted anyway); the completion that is tuned does not.
        """
        rng = check_random_state(self.random_state)
        n_val = min(resid.size - 1, max(1, int(round(self.val_fraction * resid.size))))
        held = np.zeros(resid.size, dtype=bool)
        held[rng.choice(resid.size, size=n_val, replace=False)] = True
        with warnings.catch_warnings():
            # rows/columns with no observation left are predicted by their biases
            warnings.simplefilter("ignore", CoverageWarning)
            fit_p = MatrixCompletion(r[~held], c[~held], resid[~held], shape)
            full_p = MatrixCompletion(r, c, resid, shape)
        return fit_p, full_p, (r[held], c[held], resid[held])

    def fit(self, X, y=None, *, row=None, col=None, value=None, duplicates="error"):
        """Fit a rating table.

        Parameters
        ----------
        X : pandas.DataFrame, Ratings or (rows, cols, values) tuple
            One rating per row of a DataFrame, whose row-id, column-id and rating columns
            are named by ``row``, ``col``, ``value`` or guessed (user/item/rating,
            userId/movieId/rating, user_id/item_id/rating, row/col/value); a
            :class:`~linrfm.io.Ratings` table (:func:`linrfm.read_ratings`); or three
            sequences of one length. With ``y``, ``X`` is a DataFrame of (row id,
            column id) pairs and ``y`` their ratings (scikit-learn's ``fit(X, y)``).
        y : array_like, optional
        row, col, value : str, optional
            Column names of a DataFrame (the names of a tuple's parts in messages and
            in :meth:`recommend`'s table).
        duplicates : {'error', 'mean', 'last'}, default='error'
            Repeated (row, col) pairs of a DataFrame or tuple (see
            :func:`linrfm.read_ratings`).

        Returns
        -------
        self
        """
        ratings = as_ratings(X, y, (row, col, value), duplicates)
        lams, weights = self._check_params()
        if ratings.n_obs < 2:
            raise ValueError(
                f"fit needs at least 2 ratings (some are held out for validation); "
                f"got {ratings.n_obs}."
            )
        t0 = time.perf_counter()
        self.row_ids_, self.col_ids_ = ratings.row_ids, ratings.col_ids
        self.names_ = tuple(ratings.names)
        shape = ratings.shape
        r, c, v = ratings.rows, ratings.cols, ratings.values
        mu, bu, bi = fit_biases(r, c, v, shape, kind=self.biases, reg=self.bias_reg)
        resid = v - mu - bu[r] - bi[c]
        fit_p, full_p, val = self._split(r, c, resid, shape)
        # the kernel's form, or a MemoryError naming memory_limit, before any fitting
        self._rank = self._prepared = None
        if self.method == "linrfm" and self.client is None:
            self._rank = kernel_plan(
                full_p, self.kernel_rank, self.variant, float(self.memory_limit)
            )
            if self._rank is not None:
                full_kernel_only(self, weights, "the full kernel exceeds memory_limit")

        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            total = len(lams) * len(weights) + 1 if self.method == "linrfm" else 2
            bar = tqdm(total=total, desc=f"fit {self.method}", leave=False)
        try:
            if self.method == "linrfm":
                grid = [(w, lam) for w in weights for lam in lams]
                result, self.chosen_ = self._fit_linrfm(fit_p, full_p, val, grid, bar)
            else:
                result, self.chosen_ = self._fit_softimpute(fit_p, full_p, val, bar)
        finally:
            self._prepared = None
            if bar is not None:
                bar.close()
        self.model_ = RatingsModel(
            mu=mu,
            row_bias=bu,
            col_bias=bi,
            result=result,
            observed=sp.csr_matrix((np.ones(v.size, dtype=np.int8), (r, c)), shape=shape),
            range=(float(v.min()), float(v.max())),
            clip=self.clip,
            biases=self.biases,
            bias_reg=self.bias_reg,
            alpha=float(self.alpha),
            lam=self.chosen_["lam"] if self.method == "linrfm" else None,
        )
        self.n_iter_ = int(result.n_iter)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _linrfm(self, prob, lam, max_iter, callback=None, scores=None, cooccurrence=0.0, init=None):
        # Run for a number of iterations chosen on validation, not to a tolerance: the
        # ConvergenceWarning at max_iter is expected and silenced.
        if self._rank is not None:  # the rank-capped kernel (no checkpoints)
            if self._prepared is None or self._prepared.prob is not prob:
                self._prepared = None  # free the last problem's first
                self._prepared = Prepared(prob, self._rank, self.alpha)
            return lowrank_lin_rfm(self._prepared, lam=lam, max_iter=max_iter, callback=callback)

        def fit(**kw):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                return lin_rfm_complete(
                    prob,
                    alpha=self.alpha,
                    variant=self.variant,
                    replace=False,
                    lam_rule="fixed",
                    lam=lam,
                    tol=1e-300,
                    callback=callback,
                    memory_limit=self.memory_limit,
                    client=self.client,
                    cooccurrence=cooccurrence,
                    kernel_side=self.kernel_side,
                    init=init,
                    dtype=self.dtype,
                    **kw,
                )

        # a linrfm._checkpoints.CheckpointDir set by `linrfm complete --checkpoint`
        hooks = getattr(self, "_checkpoints", None)
        return fit(max_iter=max_iter) if hooks is None else hooks.run(fit, max_iter, scores)

    def _fit_linrfm(self, fit_p, full_p, val, grid, bar):
        """Each (cooccurrence weight, ridge) of ``grid`` on the kept observations, scored on
        the held-out ones after every iteration; the best (weight, ridge, iteration count)
        refitted on all. ``(result, chosen)``."""
        vr, vc, vy = val
        best = {"val_rmse": np.inf}
        start = {}  # refit='warm': the best iterate on the kept observations
        for w, lam in grid:
            scores = []

            def cb(it, info, scores=scores, bound=best["val_rmse"]):
                scores.append(_rmse(info["result"].predict(vr, vc), vy))
                if self.refit == "warm" and scores[-1] < min([bound, *scores[:-1]]):
                    start["result"] = info["result"]
                return scores[-1] > min(scores) * 1.002  # validation has turned upward

            self._linrfm(fit_p, lam, self.max_iter, cb, scores, w)
            k = int(np.argmin(scores))
            if scores[k] < best["val_rmse"]:
                best = {"lam": lam, "cooccurrence": w, "n_iter": k + 1, "val_rmse": scores[k]}
            if bar is not None:
                bar.update(1)
        kw = dict(cooccurrence=best["cooccurrence"])
        if start:  # (absent when a resumed checkpoint skipped the best iteration)
            kw.update(init=start["result"], max_iter=1)
        best["refit"] = "warm" if start else "full"
        result = self._linrfm(full_p, best["lam"], kw.pop("max_iter", best["n_iter"]), **kw)
        if bar is not None:
            bar.update(1)
        return result, best

    def _softimpute(self, prob, lam_max, lam_end, n_lams):
        with warnings.catch_warnings():
            # a path point that has not met tol is still a usable warm start
            warnings.simplefilter("ignore", ConvergenceWarning)
            return soft_impute_complete(
                prob,
                n_lams=n_lams,
                # all-zero residuals (lam_max = 0): the trivial answer, whatever the ratio
                lam_ratio=min(1.0, lam_end / lam_max) if lam_max > 0 else 1.0,
                tol=1e-3,
                max_iter=100,
                solver="lowrank",
                return_path=True,
            )

    def _fit_softimpute(self, fit_p, full_p, val, bar):
        """The SoftImpute path point best on the held-out observations, refitted on all
        down the same path (warm starts). ``(result, chosen)``."""
        vr, vc, vy = val
        lmax = lambda_max(fit_p)
        _, path = self._softimpute(fit_p, lmax, self.lam_ratio * lmax, self.n_lams)
        scores = [_rmse(p.predict(vr, vc), vy) for p in path]
        k = int(np.argmin(scores))
        lam = float(path[k].params.get("lam", 0.0))  # a trivial answer (zero residuals) has none
        if bar is not None:
            bar.update(1)
        result, _ = self._softimpute(full_p, lambda_max(full_p), lam, k + 1)
        if bar is not None:
            bar.update(1)
        return result, {"lam": lam, "path_index": k, "val_rmse": scores[k]}

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save the fitted model to one ``.npz`` file: arrays plus JSON metadata, no pickle.

        Ids of object type (text) are stored as text. The file is written beside ``path``
        and then moved onto it, so an interrupted save leaves a previous file intact.
        """
        self._check_fitted()
        persist.save_estimator(self, path)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save`.

        Raises
        ------
        ValueError
            (:class:`~linrfm.ratings.persist.ModelFileError`) naming the file when it is not
            a linrfm model, is damaged or truncated, or has a format this version cannot read.
        """
        return persist.load_estimator(cls, path)
