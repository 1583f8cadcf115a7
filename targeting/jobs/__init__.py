"""The jobs (``run``, ``score``, ``fit``: ``jobs.py``), built from the stages each is made of
(``stages.py``), with what they report (``manifest.py``)."""

from targeting.jobs.jobs import fit, run, score
from targeting.jobs.manifest import RunResult

__all__ = ["RunResult", "fit", "run", "score"]
