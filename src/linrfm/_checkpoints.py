"""Checkpoints of a long fit in a folder, from which an interrupted fit resumes.

A fit may run several solves one after the other (the ratings fit: one per ridge, then the
final one); each is a *stage*, numbered in the order the fit runs them. Every ``every``
iterations the stage's :class:`linrfm.iteration.Checkpoint` (and the validation scores the
fit has gathered in it) is written to ``stage-<k>.ckpt``, atomically; a finished stage is
marked done. Resuming, a done stage rebuilds its result from its last state without
iterating, and an unfinished one continues from its checkpoint, so the resumed fit equals
an uninterrupted one.

A checkpoint is written only once the iteration after it has begun: the last state of a
stage (which may have been stopped by its callback) is written with the stage marked done,
so a stage never continues past the point where the uninterrupted fit stopped it.

The files are pickles (a method's state holds arrays, schedules and backend tensors) with
a SHA-256 checksum: read only checkpoint folders you wrote yourself.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

from ._atomic import atomic_write, atomic_write_text

__all__ = ["CheckpointDir", "CheckpointError", "fingerprint"]

_MAGIC = b"linrfm-checkpoint-1\n"


class CheckpointError(ValueError):
    """A checkpoint folder that belongs to another fit, or a damaged checkpoint file."""


def fingerprint(*parts) -> str:
    """SHA-256 of ``parts`` (arrays by their bytes, anything else by its ``repr``)."""
    h = hashlib.sha256()
    for p in parts:
        data = p.tobytes() if hasattr(p, "tobytes") else repr(p).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class CheckpointDir:
    """The checkpoints of one fit, identified by ``key``, in ``folder``.

    Parameters
    ----------
    folder : path-like
        Created if missing. A folder holding the checkpoints of a fit with another ``key``
        is refused (CheckpointError).
    key : str
        What identifies the fit (e.g. :func:`fingerprint` of its data and settings).
    every : int
        Write a stage's state every ``every`` iterations (and when it finishes).
    """

    def __init__(self, folder, key: str, every: int = 1):
        self.folder = Path(folder)
        self.every = int(every)
        self.stage = 0
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "fit.json"
        if meta.exists():
            try:
                stored = json.loads(meta.read_text()).get("key")
            except (ValueError, AttributeError, OSError):
                stored = None
            if stored != key:
                raise CheckpointError(
                    f"{self.folder} holds checkpoints of another fit (other data or "
                    "settings); give an empty folder, or remove it."
                )
        else:
            atomic_write_text(meta, json.dumps({"key": key}) + "\n")
        #: stages found finished or in progress when this fit started
        self.found = sorted(p.name for p in self.folder.glob("stage-*.ckpt"))

    def _load(self, path: Path):
        if not path.exists():
            return None
        data = path.read_bytes()
        head, digest, body = data[: len(_MAGIC)], data[len(_MAGIC) : len(_MAGIC) + 32], None
        if head == _MAGIC and hashlib.sha256(data[len(_MAGIC) + 32 :]).digest() == digest:
            body = data[len(_MAGIC) + 32 :]
        if body is None:
            raise CheckpointError(
                f"{path} is damaged or not a linrfm checkpoint; remove it to restart that stage."
            )
        return pickle.loads(body)

    def _save(self, path: Path, record: dict) -> None:
        body = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        payload = _MAGIC + hashlib.sha256(body).digest() + body
        atomic_write(path, lambda fh: fh.write(payload))

    def run(self, fit, max_iter: int, scores: list | None = None):
        """Run the next stage: ``fit(max_iter=..., checkpoint=..., resume=...)`` returns its
        result; ``scores`` (a list the stage's callback appends to) is saved with each
        checkpoint and restored on resume."""
        path = self.folder / f"stage-{self.stage}.ckpt"
        self.stage += 1
        saved = self._load(path)
        resume = None
        if saved is not None:
            resume = saved["checkpoint"]
            if scores is not None:
                scores[:] = saved["scores"]
            if saved["done"]:
                max_iter = resume.n_iter  # rebuild the result; iterate no further
        pending = {}

        def on_checkpoint(c):
            prev = pending.get("record")
            if prev is not None and prev["checkpoint"].n_iter % self.every == 0:
                self._save(path, prev)  # the iteration after it has begun: not the last
            pending["record"] = {"checkpoint": c, "scores": list(scores or []), "done": False}

        result = fit(max_iter=max_iter, checkpoint=on_checkpoint, resume=resume)
        if "record" in pending:
            self._save(path, {**pending["record"], "done": True})
        return result
