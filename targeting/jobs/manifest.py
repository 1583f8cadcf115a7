"""What a job reports: its result (counts, timings, peak memory) and the one manifest it commits."""

from __future__ import annotations

import logging
import platform
import resource
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from targeting.config import Settings
from targeting.embed import Encoder

log = logging.getLogger("targeting")

VERSIONED = ("targeting", "numpy", "pandas", "pyarrow", "duckdb", "faiss-cpu", "scikit-learn",
             "sentence-transformers", "torch", "tokenizers", "onnxruntime", "umap-learn")  # the libraries a manifest names


@dataclass
class RunResult:
    run_id: str
    rows_read: int = 0
    rows_stored: int = 0
    duplicates: int = 0  # exact duplicates skipped: request id already stored or read, same account and prompt
    quarantined: int = 0  # malformed rows and conflicting duplicates, written to the run's quarantine file
    conflicting_duplicates: int = 0  # skipped and quarantined: request id already seen with another account/prompt
    accounts: int = 0
    flagged: int = 0
    campaigns: int = 0  # linked groups with at least one flagged member (summaries.group_counts)
    linked_groups: int = 0  # every group the campaign graph found, flagged or not (summaries.group_counts)
    linked_group_sizes: dict[str, int] = field(default_factory=dict)  # linked groups by size band (communities.size_distribution)
    linked_group_coherence: dict[str, float] = field(default_factory=dict)  # linked group id -> coherence (mean tie)
    map_id: str = ""
    map_fitted: bool = False
    as_of: str = ""
    scores_path: str = ""
    threshold: float = float("nan")
    timings: dict[str, float] = field(default_factory=dict)
    prompts_embedded: int = 0
    drift: dict[str, Any] | None = None  # the nightly job's drift figure (targeting.drift)
    clusters_kept: int = 0  # targeting fit: refitted clusters that kept an old id
    skipped: str = ""  # why a job did nothing (targeting fit --if-drift without drift)
    peak_mib: dict[str, int] = field(default_factory=dict)  # process peak memory at the end of each stage


class Timer:
    """``with stage("embed"):`` times a stage into ``result.timings`` and records the process's
    peak memory at its end in ``result.peak_mib``."""

    def __init__(self, result: RunResult) -> None:
        self.result = result

    def __call__(self, stage: str) -> "_Stage":
        return _Stage(self.result, stage)


class _Stage:
    def __init__(self, result: RunResult, stage: str) -> None:
        self.result, self.stage = result, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()
        log.info("stage %s ...", self.stage)

    def __exit__(self, *exc: Any) -> None:
        took = time.perf_counter() - self.start
        self.result.timings[self.stage] = round(took, 3)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        self.result.peak_mib[self.stage] = round(peak)
        log.info("stage %s done in %.1fs (peak memory so far %.0f MiB)", self.stage, took, peak)


def versions() -> dict[str, str]:
    """Python's version and those of the installed libraries in ``VERSIONED``."""
    out = {"python": platform.python_version()}
    for pkg in VERSIONED:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def manifest(result: RunResult, settings: Settings, encoder: Encoder | None, files: list, kind: str,
             **extra: Any) -> dict[str, Any]:
    """The manifest every job commits (``runs/RUN.json``): counts, map, settings and their hash,
    model, timings, library versions and peak memory, plus the job's own ``extra`` fields."""
    return {
        "kind": kind,
        "status": "committed",
        "files": files,
        "counts": {
            "rows_read": result.rows_read,
            "rows_stored": result.rows_stored,
            "duplicates": result.duplicates,
            "conflicting_duplicates": result.conflicting_duplicates,
            "quarantined": result.quarantined,
            "accounts": result.accounts,
            "flagged": result.flagged,
            "campaigns": result.campaigns,
            "linked_groups": result.linked_groups,
        },
        "linked_group_sizes": result.linked_group_sizes,
        "linked_group_coherence": result.linked_group_coherence,
        "map_id": result.map_id,
        "map_fitted": result.map_fitted,
        "as_of": result.as_of,
        "threshold": result.threshold,
        "config": settings.to_dict(),
        "config_hash": settings.digest(),
        "model": None if encoder is None else {
            "id": encoder.model_id, "key": encoder.model_key, "weights_sha256": encoder.weights_sha256
        },
        "timings": result.timings,
        **extra,
        "versions": versions(),
        "peak_mib": result.peak_mib,
    }
