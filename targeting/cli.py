"""The ``targeting`` command. Thin: parses, calls the pipeline, prints.

Exit codes (``EXIT_CODES``, applied by the root command ``_Root``): 0 success, 2 bad input
or usage, 75 the workspace is busy (another run holds its lock: retry later), 1 internal
error. Errors are one line on stderr; ``--debug`` shows the traceback. Text from the logs
(account ids, prompts, reasons) and messages that echo it are printed through
``targeting.display.safe_text``: control and format characters appear escaped (``\x1b``,
``\u202e``), never raw on the terminal.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from targeting.config import RiskConfig, Settings, load_settings
from targeting.display import safe_text
from targeting.errors import (BadInputError, EmbeddingError, IndicatorBundleError, InputError, ScaleoutError,
                              TaxonomyError, UsageProblem, WorkspaceError, WorkspaceLocked)
from targeting.ingest import IngestConfig


class _SwitchesTakeNoValue:
    """``--help`` lists on/off switches (``--refit``, ``--help`` itself) without a value type:
    Typer's panels show ``<bool>`` beside them, as if they took a value."""

    def format_help(self, ctx, formatter) -> None:
        for param in self.get_params(ctx):
            if getattr(param, "is_flag", False):
                param.metavar = ""
        self.help = reflow(self.help)
        super().format_help(ctx, formatter)


def reflow(text: Optional[str]) -> Optional[str]:
    """A docstring's paragraphs as single lines, so the terminal wraps them at its own width
    (Typer keeps the source's line breaks, which break a sentence short or mid-line in a
    narrower terminal)."""
    if not text:
        return text
    paragraphs = (" ".join(line.strip() for line in block.splitlines()) for block in text.strip().split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


class _Command(_SwitchesTakeNoValue, TyperCommand):
    """A command whose help shows switches as switches."""


class _Group(_SwitchesTakeNoValue, TyperGroup):
    """A command group whose help shows switches as switches."""


class _Root(_Group):
    """The ``targeting`` group: the boundary that turns failures into exit codes and one-line
    messages (``_exit_status``), for the console script (``main``) and for Click's ``CliRunner``
    alike. With no arguments at all it prints the help and succeeds (exit 0)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = sys.argv[1:] if args is None else list(args)
        parent = super()
        code = _exit_status(lambda: parent.main(argv or ["--help"], prog_name, complete_var,
                                                standalone_mode=False, **extra))
        if standalone_mode:
            sys.exit(code)
        return code


class _Typer(typer.Typer):
    """``typer.Typer`` whose commands are ``_Command`` (see ``_SwitchesTakeNoValue``)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cls", _Group)
        super().__init__(**kwargs)

    def command(self, *args, **kwargs):
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _Typer(
    cls=_Root,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find API accounts that systematically extract an LLM's capabilities.",
)
export_app = _Typer(no_args_is_help=True, help="Write results out as CSV or Parquet.")
app.add_typer(export_app, name="export")
indicators_app = _Typer(no_args_is_help=True, help="Share a campaign's indicators with other providers (STIX 2.1).")
app.add_typer(indicators_app, name="indicators")

_state = {"debug": False}

WorkspaceOpt = typer.Option(..., "--workspace", "-w", help="Workspace folder.")
ConfigOpt = typer.Option(None, "--config", help="TOML settings file (one table per section: ingest, embed, map, "
                                                 "signals, risk, nightly, scaleout, shifts).")


EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the workspace; a scheduler retries later
BUSY_MESSAGE = "workspace is busy (another run holds it): retry later"
# What each kind of failure exits with, first match wins (a busy workspace is a WorkspaceError
# too); anything else is an internal error, exit code 1.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (WorkspaceLocked, EXIT_LOCKED),
    (UsageProblem, 2),
    (IndicatorBundleError, 2),
    (BadInputError, 2),
    (InputError, 2),
    (WorkspaceError, 2),
    (TaxonomyError, 2),
    (EmbeddingError, 2),
    (FileNotFoundError, 2),
    (ScaleoutError, 1),
)


def _settings(config: Optional[Path], overrides: dict | None = None) -> Settings:
    try:
        return load_settings(config, overrides=overrides)
    except ValueError as exc:  # a setting that cannot be: a usage problem, exit 2
        raise UsageProblem(str(exc)) from None


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("faiss", "faiss.loader", "sentence_transformers", "numba", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and results."),
) -> None:
    _state["debug"] = debug
    _setup_logging(quiet)


def group_count_line(linked_groups: int, campaigns: int) -> str:
    """The run summary's line of group counts, in the words the app and the report use
    (``targeting.summaries``): linked groups, and campaigns among them."""
    return (f"linked groups {linked_groups:,} (accounts the campaign graph tied together); "
            f"campaigns {campaigns:,} (linked groups with a flagged member)")


def _print_result(result, title: str) -> None:
    typer.echo(f"{title}: run {result.run_id}")
    if result.rows_read:
        typer.echo(
            f"  rows read {result.rows_read:,}; stored {result.rows_stored:,}; "
            f"duplicates skipped {result.duplicates:,}; quarantined {result.quarantined:,}"
            + (f" ({result.conflicting_duplicates:,} conflicting duplicates: a request_id already seen "
               "with another account/prompt)" if result.conflicting_duplicates else "")
        )
    typer.echo(f"  capability map {result.map_id}{' (fitted this run)' if result.map_fitted else ''}")
    typer.echo(
        f"  accounts scored {result.accounts:,} (as of {result.as_of}); flagged {result.flagged:,} "
        f"(threshold {result.threshold:.3f})"
    )
    typer.echo(f"  {group_count_line(result.linked_groups, result.campaigns)}")
    if result.linked_groups:
        coherence = sorted(result.linked_group_coherence.values())
        typer.echo(
            "  linked group sizes: "
            + ", ".join(f"{band}: {n}" for band, n in result.linked_group_sizes.items() if n)
            + (f"; coherence (mean tie) median {coherence[len(coherence) // 2]:.2f}, lowest {coherence[0]:.2f}"
               if coherence else "")
        )
    typer.echo(f"  scores: {result.scores_path}")
    typer.echo("  stage times: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items()))


@app.command()
def run(
    inputs: List[str] = typer.Argument(..., help="Log files, folders or globs (Parquet, JSONL[.gz], CSV)."),
    workspace: Path = WorkspaceOpt,
    config: Optional[Path] = ConfigOpt,
    refit: bool = typer.Option(False, "--refit", help="Fit a new capability map even if one exists."),
    model: Optional[str] = typer.Option(None, "--model", help="Embedding model: 'default', a folder or a cached name."),
    max_bad_share: Optional[float] = typer.Option(
        None, help="Fail when more than this share of rows is malformed "
        f"(default: {IngestConfig.max_bad_share}, or the setting ingest.max_bad_share)."),
    fp_budget: Optional[float] = typer.Option(
        None, help="Share of benign-looking accounts allowed to be flagged "
        f"(default: {RiskConfig.fp_budget}, or the setting risk.fp_budget)."),
) -> None:
    """Ingest logs, fit the capability map if the workspace has none, score all accounts."""
    from targeting.jobs import run as run_pipeline

    overrides: dict = {}
    if model:
        overrides.setdefault("embed", {})["model"] = model
    if max_bad_share is not None:
        overrides.setdefault("ingest", {})["max_bad_share"] = max_bad_share
    if fp_budget is not None:
        overrides.setdefault("risk", {})["fp_budget"] = fp_budget
    result = run_pipeline(inputs, workspace, _settings(config, overrides), refit=refit)
    _print_result(result, "run complete")


def _day(value: Optional[str], option: str) -> Optional[date]:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageProblem(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


@app.command()
def score(
    inputs: Optional[List[str]] = typer.Argument(
        None, help="Log folders, files or globs; only files not ingested yet are read (none: re-score)."),
    workspace: Path = WorkspaceOpt,
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Last day of the window (YYYY-MM-DD); default: latest data."),
    window_days: Optional[int] = typer.Option(None, "--window-days", min=1,
                                              help="Days in the scoring window (default 7; 30 for a monthly view)."),
    date_from: Optional[str] = typer.Option(None, "--from", help="Backfill: score every night from this day ..."),
    date_to: Optional[str] = typer.Option(None, "--to", help="... to this day (inclusive), one run per night."),
    model: Optional[str] = typer.Option(None, "--model", help="Embedding model: 'default', a folder or a cached name."),
    engine: Optional[str] = typer.Option(
        None, "--engine", help="Where to embed and assign: 'local' (this process, the default) or 'ray' "
        "(Ray Data: the targeting\\[ray] extra)."),
    address: Optional[str] = typer.Option(
        None, "--address", help="--engine ray: the Ray cluster ('auto', 'ray://head:10001'); none: a local Ray."),
    actors: Optional[int] = typer.Option(
        None, "--actors", min=1, help="--engine ray: actors per pool (default: one less than the cluster's CPUs)."),
    gpus_per_actor: Optional[float] = typer.Option(
        None, "--gpus-per-actor", min=0, help="--engine ray: GPUs per embedding actor (default 0: CPU)."),
    canaries: Optional[bool] = typer.Option(
        None, "--canaries/--no-canaries", help="After scoring, inject one canary campaign of each kind into a copy of "
        "the window in memory and record its recall (`targeting canary`; default: the setting nightly.canaries)."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """The nightly job: score the accounts active in the window ending at --as-of.

    It ingests the new partitions, embeds only new prompts, assigns them to the map and
    reports drift before scoring. Re-running a night replaces that night's results. Exit
    codes: 0 done, 2 bad input, 75 another run holds the workspace (retry later), 1 internal
    error.
    """
    from datetime import timedelta

    from targeting.config import ENGINES
    from targeting.jobs import score as score_pipeline

    overrides: dict = {}
    if model:
        overrides.setdefault("embed", {})["model"] = model
    if engine is not None and engine not in ENGINES:
        raise UsageProblem(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    ray_options = {"engine": engine, "address": address, "actors": actors, "gpus_per_actor": gpus_per_actor}
    overrides["scaleout"] = {k: v for k, v in ray_options.items() if v is not None}
    settings = _settings(config, overrides)
    if settings.scaleout.engine != "ray" and any(v is not None for v in (address, actors, gpus_per_actor)):
        raise UsageProblem("--address, --actors and --gpus-per-actor are options of --engine ray")
    first, last = _day(date_from, "--from"), _day(date_to, "--to")
    if (first is None) != (last is None):
        raise UsageProblem("--from and --to go together")
    if first is not None and as_of:
        raise UsageProblem("use either --as-of or --from/--to")
    if first is not None and last < first:
        raise UsageProblem(f"--to {last} is before --from {first}")
    nights = [first + timedelta(days=i) for i in range((last - first).days + 1)] if first else [_day(as_of, "--as-of")]
    for night in nights:
        result = score_pipeline(workspace, settings, inputs=inputs or [], as_of=night, window_days=window_days)
        _print_result(result, "scoring complete")
        if result.drift is not None:
            from targeting.drift import Drift

            typer.echo(f"  drift: {Drift(**result.drift).summary()}")
    if settings.nightly.canaries if canaries is None else canaries:
        from targeting.jobs.canary import every_kind, run_canaries

        reports = run_canaries(workspace, settings, every_kind(settings.nightly.canary_accounts), record=True)
        _print_canaries(reports, detail=False)


@app.command()
def canary(
    workspace: Path = WorkspaceOpt,
    kind: Optional[List[str]] = typer.Option(
        None, "--kind", help="Campaign kind: reasoning, tool_use, agentic_coding or relay (repeat for several; "
        "default: one of each)."),
    accounts: int = typer.Option(12, "--accounts", min=2, help="Accounts in each canary campaign."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Simulator seed (default: derived from the window's last day)."),
    cover_traffic: float = typer.Option(0.0, "--cover-traffic", help="Adaptive: share of organic cover prompts."),
    paraphrase: bool = typer.Option(False, "--paraphrase", help="Adaptive: paraphrased attack templates."),
    small_accounts: bool = typer.Option(False, "--small-accounts", help="Adaptive: 10-30 requests per account."),
    slow: bool = typer.Option(False, "--slow", help="Adaptive: spread thinly over the whole window."),
    record: bool = typer.Option(False, "--record", help="Append the recall figures to the workspace's canary history "
                                                        "(the Overview shows it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON."),
    model: Optional[str] = typer.Option(None, "--model", help="Embedding model: 'default', a folder or a cached name."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Recall on real traffic: inject a labelled synthetic campaign into the latest window and score it.

    The canary (simulated by `targeting simulate`'s generator, accounts named canary-KIND-...)
    is dated inside the latest scored window, embedded with the workspace's model, assigned
    to its map and scored with the window's real requests and the same settings, all in
    memory: the workspace is only read. Prints, for each canary account, whether it was
    flagged, its rank among all accounts and its reasons. Only --record writes: the recall
    figures (no account, no prompt) to the workspace's canary history. A canary measures
    recall for campaigns like the simulator's, not for designs nobody has simulated."""
    from targeting.jobs.canary import KINDS, CanaryOptions, run_canaries

    options = [CanaryOptions(kind=k, accounts=accounts, seed=seed, cover_traffic=cover_traffic, paraphrase=paraphrase,
                             small_accounts=small_accounts, slow=slow) for k in (kind or KINDS)]
    overrides = {"embed": {"model": model}} if model else None
    reports = run_canaries(workspace, _settings(config, overrides), options, record=record)
    if as_json:
        typer.echo(json.dumps([_canary_dict(r) for r in reports], indent=2, default=str))
    else:
        _print_canaries(reports, detail=True)
    if record:
        from targeting import workspace as W

        typer.echo(f"recorded in {W.open_workspace(workspace).canary_history_path}", err=True)


def _canary_dict(report) -> dict:
    """A canary report as JSON-ready values."""
    return {
        "kind": report.kind, "adaptive": report.adaptive, "seed": report.seed, "as_of": report.as_of,
        "window_start": report.window_start, "requests": report.n_requests, "scored_accounts": report.n_scored,
        "found": report.found, "recall": report.recall, "recall_at_run_threshold": report.recall_at_run_threshold,
        "median_rank": report.median_rank, "threshold": report.threshold, "run_threshold": report.run_threshold,
        "seconds": round(report.seconds, 1), "accounts": report.accounts.to_dict(orient="records"),
    }


def _print_canaries(reports, detail: bool) -> None:
    """Each canary's line (recall, ranks) and, with ``detail``, each canary account's rank and reasons."""
    for r in reports:
        at_run = ("" if r.recall_at_run_threshold is None else
                  f"; {r.recall_at_run_threshold:.2f} at the latest run's threshold {r.run_threshold:.3f}")
        typer.echo(
            f"canary {r.kind}{f' ({r.adaptive})' if r.adaptive else ''}: {len(r.accounts)} accounts, "
            f"{r.n_requests:,} requests in {r.window_start}..{r.as_of}, scored with {r.n_scored - len(r.accounts):,} "
            f"real accounts: found {r.found}/{len(r.accounts)} (recall {r.recall:.2f}{at_run}); "
            f"median rank {r.median_rank:g}, {r.linked} linked; {r.seconds:.0f}s")
        if not detail:
            continue
        for a in r.accounts.itertuples(index=False):
            typer.echo(safe_text(
                f"  {a.account_id}: rank {a.rank:,} of {r.n_scored:,}, risk {a.risk_score:.3f}, "
                f"{'flagged' if a.flagged else 'missed'}{f', campaign {a.campaign_id}' if a.campaign_id else ''}"
                f" - {a.reasons or 'no reason'}"))


@app.command()
def fit(
    workspace: Path = WorkspaceOpt,
    days: Optional[int] = typer.Option(None, "--days", min=1, help="Days of recent prompts to sample (default 30)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Last day of the sample (default: latest data)."),
    if_drift: bool = typer.Option(False, "--if-drift", help="Only when the latest night reported drift."),
    model: Optional[str] = typer.Option(None, "--model", help="Embedding model: 'default', a folder or a cached name."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Refresh the capability map on a sample of recent prompts.

    Clusters that match the previous map's keep their ids, so history and verdicts stay
    valid; every stored request is assigned to the new map. The next `targeting score`
    uses it.
    """
    from targeting.jobs import fit as fit_pipeline

    overrides: dict = {}
    if model:
        overrides.setdefault("embed", {})["model"] = model
    result = fit_pipeline(workspace, _settings(config, overrides), days=days, as_of=_day(as_of, "--as-of"),
                          if_drift=if_drift)
    if result.skipped:
        typer.echo(f"map {result.map_id} kept: {result.skipped}")
        return
    typer.echo(f"fit complete: run {result.run_id}")
    typer.echo(f"  capability map {result.map_id}; {result.clusters_kept:,} clusters kept their previous ids")
    typer.echo(f"  requests assigned to it: {result.rows_stored:,}")
    typer.echo("  stage times: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items()))


@app.command()
def distill(
    out: Path = typer.Option(Path("models/static-minilm"), "--out", "-o", help="Folder for the static model."),
    model: str = typer.Option("default", "--model", help="Teacher: 'default' or a local model folder."),
    dims: int = typer.Option(256, "--dims", min=2, help="Dimensions kept (PCA)."),
    force: bool = typer.Option(False, "--force", help="Replace --out if it exists."),
) -> None:
    """Distil a fast static embedding model from the default model, offline (model2vec).

    Use it with the setting embed.model = OUT (TARGETING_EMBED__MODEL=OUT); a workspace fitted
    with another model needs `targeting run --refit` (or a new workspace).
    """
    from targeting.distill import distill_static

    try:
        result = distill_static(out=out, source=model, pca_dims=dims, force=force)
    except FileExistsError as exc:
        raise UsageProblem(str(exc)) from None
    typer.echo(
        f"distilled {result.source} into {result.out}: {result.vocab_size:,} word pieces x {result.dim} "
        f"dimensions in {result.seconds:.0f}s (weights sha256 {result.weights_sha256[:12]}…)"
    )
    typer.echo(f"use it: TARGETING_EMBED__MODEL={result.out} targeting run ... --refit")


def _write_frame(frame, out: Path) -> None:
    from targeting.exports import write_table

    try:
        write_table(frame, out)  # CSV cells a spreadsheet will not run; atomic, owner-only
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


@export_app.command("accounts")
def export_accounts(
    workspace: Path = WorkspaceOpt,
    out: Path = typer.Option(..., "--out", "-o", help="Output file (.csv or .parquet)."),
    all_columns: bool = typer.Option(False, "--all-columns", help="Include every signal and evidence column."),
) -> None:
    """The latest account scores, one row per account."""
    from targeting import schema as S
    from targeting import workspace as W

    ws = W.open_workspace(workspace)
    table = W.read_latest_scores(ws)
    if table is None:
        raise UsageProblem(f"workspace {ws.root} has no scores yet: run `targeting run` first")
    from targeting.verdicts import apply_verdicts, latest_verdicts

    from targeting.indicators import with_indicator_reasons

    frame = apply_verdicts(table.to_pandas(), latest_verdicts(ws))  # verdicts recorded since the run count too
    frame = with_indicator_reasons(frame, W.read_indicator_matches(ws))  # other providers' indicators it carries
    if not all_columns:
        extra = [c for c in ("severity", "verdict", "verdict_note", "verdict_by", "verdict_at", "indicator_matches")
                 if c in frame.columns]
        frame = frame[list(S.SCORE_COLUMNS) + extra]
    _write_frame(frame, out)
    typer.echo(f"wrote {len(frame):,} accounts to {out}")


@export_app.command("verdicts")
def export_verdicts(
    workspace: Path = WorkspaceOpt,
    out: Path = typer.Option(..., "--out", "-o", help="Output file (.csv or .parquet)."),
) -> None:
    """Analysts' verdicts: the whole append-only audit trail, oldest first."""
    from targeting import workspace as W
    from targeting.verdicts import read_verdicts

    frame = read_verdicts(W.open_workspace(workspace))
    _write_frame(frame, out)
    typer.echo(f"wrote {len(frame):,} verdicts to {out}")


@export_app.command("requests")
def export_requests(
    workspace: Path = WorkspaceOpt,
    out: Path = typer.Option(..., "--out", "-o", help="Output file (.csv or .parquet)."),
) -> None:
    """One row per request: request_id, account_id, area, cluster_id."""
    from targeting import workspace as W

    ws = W.open_workspace(workspace)
    table = W.read_assignments(ws, ["request_id", "account_id", "area", "cluster_id"])
    if table.num_rows == 0:
        raise UsageProblem(f"workspace {ws.root} has no assigned requests yet: run `targeting run` first")
    frame = table.to_pandas().sort_values("request_id", ignore_index=True)
    _write_frame(frame, out)
    typer.echo(f"wrote {len(frame):,} requests to {out}")


@indicators_app.command("export")
def indicators_export(
    campaign: str = typer.Argument(..., help="Campaign id from the latest scores (normally one an analyst confirmed)."),
    workspace: Path = WorkspaceOpt,
    out: Path = typer.Option(..., "--out", "-o", help="Bundle file to write (STIX 2.1 JSON)."),
    provider: str = typer.Option(..., "--provider", help="Your organisation's name, as receivers will see it."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Write a campaign's indicators as a STIX 2.1 bundle: hashed template signatures, system-prompt
    family and tool-schema set hashes, address ranges, first/last seen, area, size. No prompt text;
    accounts only as keyed hashes (the workspace's own secret key)."""
    from targeting.jobs.share import export_indicators

    result = export_indicators(workspace, campaign, out, _settings(config), provider=provider)
    typer.echo(safe_text(f"wrote the indicators of campaign {result.campaign} ({result.size} accounts) to {result.out}: "
                         + ", ".join(f"{n} {kind.replace('_', ' ')} keys" for kind, n in result.counts.items() if n)))
    if result.verdict != "confirmed":
        typer.echo(safe_text(f"note: campaign {result.campaign} is not confirmed by an analyst (standing verdict: "
                             f"{result.verdict}); the bundle says so"))


@indicators_app.command("import")
def indicators_import(
    file: Path = typer.Argument(..., help="A STIX 2.1 bundle another provider shared."),
    workspace: Path = WorkspaceOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Match a received bundle against the latest scores: the accounts carrying its indicators get
    the reason "matches an indicator shared by ..." (export accounts, explain)."""
    from targeting.jobs.share import import_indicators

    result = import_indicators(workspace, file, _settings(config))
    for provider, name, matched in result.campaigns:
        typer.echo(safe_text(f"{provider}, campaign {name}: {matched} accounts here carry its indicators"))
    for row in result.matches.itertuples(index=False):
        typer.echo(safe_text(f"  {row.account_id}: {row.reason}"))
    for note in result.notes:
        typer.echo(safe_text(f"note: {note}"))
    typer.echo(f"kept as bundle {result.bundle} in the workspace")


@app.command()
def explain(
    account: str = typer.Argument(..., help="Account id from the latest scores."),
    workspace: Path = WorkspaceOpt,
    examples: int = typer.Option(3, "--examples", min=1, help="Example prompts per reason."),
    full: bool = typer.Option(False, "--full", help="Print whole prompts (default: first 160 characters)."),
) -> None:
    """The evidence behind an account's score: each reason with example prompts.

    The id is normalised as ingest stores ids (``targeting.ids``); what is printed is escaped
    (``safe_text``), so an id or prompt holding an escape sequence cannot drive the terminal."""
    from targeting import workspace as W
    from targeting.evidence import account_evidence
    from targeting.ids import normalise_id

    account = normalise_id(account)
    ws = W.open_workspace(workspace)
    try:
        items = account_evidence(ws, account, examples=examples)
    except KeyError as exc:
        raise UsageProblem(str(exc).strip("'\"")) from None
    from targeting.indicators import with_indicator_reasons

    table = with_indicator_reasons(W.read_latest_scores(ws).to_pandas(), W.read_indicator_matches(ws))
    row = table.set_index("account_id").loc[account]
    typer.echo(safe_text(f"{account}: risk {row['risk_score']:.3f}, flagged {bool(row['flagged'])}, "
                         f"severity {row['severity']}"))
    typer.echo(safe_text(f"reasons: {row['reasons']}"))
    for item in items:
        typer.echo("\n" + safe_text(f"[{item.kind}] {item.summary}"))
        for text in item.examples:
            shown = text if full else (text[:160] + ("…" if len(text) > 160 else ""))
            typer.echo("  - " + safe_text(shown.replace("\n", " ⏎ ")))


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for requests + labels."),
    seed: int = typer.Option(0, "--seed"),
    accounts: int = typer.Option(1000, "--accounts", min=20),
    days: int = typer.Option(14, "--days", min=1),
    volume: float = typer.Option(1.0, "--volume", min=0.05, help="Multiplies every account's request count."),
    fmt: str = typer.Option("parquet", "--format", help="parquet, jsonl or csv."),
    no_metadata: bool = typer.Option(False, "--no-metadata", help="Drop ip and account_created_at."),
    cover_traffic: float = typer.Option(0.0, help="Share of organic cover prompts in attacker accounts."),
    paraphrase: bool = typer.Option(False, help="Paraphrased attack templates."),
    small_accounts: bool = typer.Option(False, help="Campaigns over many 10-30 request accounts."),
    slow: bool = typer.Option(False, help="Campaigns spread thinly over all days."),
) -> None:
    """Generate labelled synthetic traffic: organic users, hard negatives, attack campaigns."""
    from targeting.simulate import SimConfig, simulate as simulate_traffic, write_traffic

    if fmt not in ("parquet", "jsonl", "csv"):
        raise UsageProblem(f"--format {fmt!r}: use parquet, jsonl or csv")
    cfg = SimConfig(
        seed=seed, n_accounts=accounts, days=days, include_metadata=not no_metadata, volume_scale=volume,
        cover_traffic=cover_traffic, paraphrase=paraphrase, small_accounts=small_accounts, slow=slow,
    )
    requests, labels = simulate_traffic(cfg)
    write_traffic(out, requests, labels, fmt=fmt)
    roles = labels.drop_duplicates("account_id")["role"].value_counts().to_dict()
    typer.echo(f"wrote {len(requests):,} requests from {labels['account_id'].nunique():,} accounts to {out} ({roles})")


@app.command()
def evaluate(
    labels: Path = typer.Option(..., "--labels", help="Labels file written by `targeting simulate`."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    save: bool = typer.Option(False, "--save", help="Also record the metrics in the workspace (`targeting report` cites them)."),
) -> None:
    """Detection quality of the latest scores against labelled traffic."""
    import pandas as pd

    from targeting import workspace as W
    from targeting.evaluate import evaluate as evaluate_scores, format_report

    if not labels.exists():
        raise UsageProblem(f"labels file {labels} not found")
    ws = W.open_workspace(workspace)
    table = W.read_latest_scores(ws)
    if table is None:
        raise UsageProblem(f"workspace {ws.root} has no scores yet: run `targeting run` first")
    label_frame = pd.read_parquet(labels) if labels.suffix != ".csv" else pd.read_csv(labels)
    assignments = W.read_assignments(ws, ["request_id", "area"]).to_pandas()
    metrics = evaluate_scores(table.to_pandas(), label_frame, assignments, flag_threshold=_flag_threshold(ws))
    typer.echo(json.dumps(metrics, indent=2) if as_json else format_report(metrics))
    if save:
        record_evaluation(ws, table, metrics, labels.name)
        typer.echo(f"recorded in {ws.evaluation_path}", err=True)


def _flag_threshold(ws) -> float | None:
    """The label-free flag threshold of the run that wrote the latest scores (its manifest)."""
    from targeting.summaries import latest_run

    info = latest_run(ws)
    return info.threshold if info is not None else None


def record_evaluation(ws, table, metrics: dict, labels_name: str) -> None:
    """Record an evaluation of the latest scores (``table``) in the workspace, where
    ``targeting report`` cites it: the metrics, the labels file's name, the scores' run and
    night, and when it was recorded."""
    from targeting import workspace as W

    first = table.slice(0, 1).to_pylist()[0]
    W.write_json(ws.evaluation_path, {
        "metrics": metrics, "labels": labels_name, "run_id": first.get("run_id"), "as_of": first.get("as_of"),
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })


def demo_evaluation(workspace: Path, labels: Path) -> dict:
    """The demo's evaluation step: the latest scores against the simulated labels, printed
    and recorded in the workspace (as ``evaluate --save`` does), so the report cites it."""
    import pandas as pd

    from targeting import workspace as W
    from targeting.evaluate import evaluate as evaluate_scores, format_report

    ws = W.open_workspace(workspace)
    table = W.read_latest_scores(ws)
    metrics = evaluate_scores(table.to_pandas(), pd.read_parquet(labels),
                              W.read_assignments(ws, ["request_id", "area"]).to_pandas(), flag_threshold=_flag_threshold(ws))
    typer.echo(format_report(metrics))
    record_evaluation(ws, table, metrics, labels.name)
    typer.echo(f"  (recorded in {ws.evaluation_path}: `targeting report` cites it)")
    return metrics


@app.command()
def demo(
    workspace: Path = typer.Option(Path("demo-workspace"), "--workspace", "-w", help="Where the demo workspace goes."),
    accounts: int = typer.Option(200, "--accounts", min=50, help="Accounts to simulate."),
    seed: int = typer.Option(7, "--seed"),
    fresh: bool = typer.Option(True, "--fresh/--keep", help="Start from an empty workspace."),
    no_app: bool = typer.Option(False, "--no-app", help="Do not start the analyst app at the end; print how to."),
) -> None:
    """Generate labelled traffic, run the whole pipeline, print the evaluation, then start the analyst app.

    The demo writes only into a workspace it created (a new or empty folder, which it marks);
    with --fresh it empties that one first, under the workspace lock. Any other folder, a real
    workspace included, is refused (exit 2)."""
    from targeting import workspace as W
    from targeting.jobs import run as run_pipeline
    from targeting.simulate import SimConfig, simulate as simulate_traffic, write_traffic

    workspace = W.prepare_demo_workspace(workspace, fresh=fresh).root
    traffic = workspace.parent / f"{workspace.name}-traffic"
    typer.echo(f"1/3 simulating {accounts} accounts of labelled traffic (seed {seed}) -> {traffic}")
    requests, labels = simulate_traffic(SimConfig(seed=seed, n_accounts=accounts))
    write_traffic(traffic, requests, labels)
    typer.echo(f"2/3 running the pipeline on {len(requests):,} requests -> {workspace}")
    result = run_pipeline([traffic / "requests.parquet"], workspace, _settings(None))
    _print_result(result, "run complete")
    typer.echo("3/3 evaluation against the labels")
    demo_evaluation(workspace, traffic / "labels.parquet")
    ws = W.open_workspace(workspace)
    top = W.read_latest_scores(ws).to_pandas().sort_values("risk_score", ascending=False).iloc[0]["account_id"]
    cmd, q = _command(), shlex.quote
    typer.echo(
        f"\nresults: {result.scores_path}\n"
        f"export:  {cmd} export accounts --workspace {q(str(workspace))} --out accounts.csv\n"
        f"explain: {cmd} explain {q(safe_text(top))} --workspace {q(str(workspace))}\n"
        f"app:     {cmd} app --workspace {q(str(workspace))}"
    )
    if not no_app:
        typer.echo("\nstarting the analyst app on 127.0.0.1 (Ctrl-C to stop); its address follows")
        _serve_app(workspace, None)


def _command() -> str:
    """How to call this command so that a pasted line works: ``targeting`` when it is on the
    PATH, else the script beside this Python (a virtual environment not activated), else
    ``python -m targeting.cli``."""
    if shutil.which("targeting"):
        return "targeting"
    beside = Path(sys.executable).parent / "targeting"
    if beside.exists():
        return shlex.quote(str(beside))
    return f"{shlex.quote(sys.executable)} -m targeting.cli"


def _serve_app(workspace: Path, port: Optional[int]) -> None:
    """Become the Streamlit server for the workspace (does not return)."""
    import os

    from targeting import workspace as W
    from targeting.app.serve import serve

    ws = W.open_workspace(workspace)
    serve(ws.root, port, os.environ)


@app.command("app")
def app_command(
    workspace: Path = WorkspaceOpt,
    port: Optional[int] = typer.Option(
        None, "--port", min=1, max=65535,
        help="Port; default: Streamlit's settings (STREAMLIT_SERVER_PORT, .streamlit/config.toml, else 8501).",
    ),
) -> None:
    """Start the analyst app (Streamlit) on a workspace, bound to 127.0.0.1."""
    _serve_app(workspace, port)


@app.command()
def report(
    workspace: Path = WorkspaceOpt,
    out: Path = typer.Option(..., "--out", "-o", help="Report file: .html (self-contained) or .md (charts in NAME_files/)."),
    start: Optional[str] = typer.Option(None, "--from", help="First scored night of the period (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--to", help="Last scored night of the period (YYYY-MM-DD); default: latest."),
    include_examples: bool = typer.Option(
        False, "--include-examples", help="Quote example prompts unredacted (default: e-mails, URLs, keys, numbers masked)."
    ),
) -> None:
    """The policy summary: targeted areas, actors, volume, trend, campaigns with evidence, caveats."""
    from targeting import workspace as W
    from targeting.report import format_for, write_report

    days = []
    for flag, value in (("--from", start), ("--to", end)):
        try:
            days.append(date.fromisoformat(value) if value else None)
        except ValueError:
            raise UsageProblem(f"{flag} {value!r} is not a date (YYYY-MM-DD)") from None
    try:
        format_for(out)
        ws = W.open_workspace(workspace)
        written = write_report(ws, out, days[0], days[1], include_examples=include_examples)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    typer.echo(f"wrote {written[0]}" + (f" and {len(written) - 1} chart files in {written[1].parent}" if len(written) > 1 else ""))


@app.command()
def case(
    target: str = typer.Argument(..., help="An account id, or a campaign id, of the latest scores."),
    workspace: Path = WorkspaceOpt,
    out: Path = typer.Option(..., "--out", "-o", help="Case file (.html, self-contained); its JSON is written beside it."),
    unredacted: bool = typer.Option(
        False, "--unredacted", help="Quote prompts unredacted (default: e-mails, URLs, keys, numbers masked)."
    ),
) -> None:
    """One account's or campaign's case file (HTML + JSON): score, evidence, timeline, map, links, verdicts."""
    from targeting import workspace as W
    from targeting.report.case import write_case

    ws = W.open_workspace(workspace)
    try:
        written = write_case(ws, target, out, unredacted=unredacted)
    except KeyError as exc:
        raise BadInputError(exc.args[0]) from None
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    typer.echo(f"wrote {safe_text(str(written[0]))} and {safe_text(str(written[1]))}")


def _exit_code(exc: BaseException) -> int:
    """The exit code of a failure: its row of ``EXIT_CODES``, else 1 (an internal error)."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the command line (``sys.argv`` when ``argv`` is None) and
    returns its exit code (see ``_Root``)."""
    return typer.main.get_command(app).main(argv, standalone_mode=False)


def _exit_status(invoke) -> int:
    """Run ``invoke`` (the command line, not standalone) and return its exit code: 0 when it
    returns; a failure prints one line on stderr (``--debug``: the traceback too)."""
    try:
        invoke()
        return 0
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - the boundary that turns errors into exit codes
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # the CLI parser's usage errors
            exc.show()
            return int(exc.exit_code) or 2
        code = _exit_code(exc)
        if _state["debug"]:
            import traceback

            traceback.print_exc()
        typer.echo(_error_line(exc, code), err=True)
        return code


def _error_line(exc: BaseException, code: int) -> str:
    """The one line a failure prints: a busy workspace says so; otherwise ``error:`` (bad input)
    or ``internal error:`` and the first line of the message, escaped (``safe_text``: an id or
    path echoed in it cannot send control characters to the terminal)."""
    if code == EXIT_LOCKED:
        return BUSY_MESSAGE
    prefix = "error" if code == 2 else "internal error"
    text = str(exc)
    message = text.split("\n", 1)[0] if text else type(exc).__name__
    return f"{prefix}: {safe_text(message)}"


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
