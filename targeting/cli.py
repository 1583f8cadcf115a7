"""The ``targeting`` command. Thin: parses, calls the pipeline, prints.

Exit codes: 0 success, 2 bad input or usage, 1 internal error. Errors are one line on
stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import List, Optional

import typer

from targeting.config import Settings, load_settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find API accounts that systematically extract an LLM's capabilities.",
)
export_app = typer.Typer(no_args_is_help=True, help="Write results out as CSV or Parquet.")
app.add_typer(export_app, name="export")

_state = {"debug": False}

WorkspaceOpt = typer.Option(..., "--workspace", "-w", help="Workspace folder.")
ConfigOpt = typer.Option(None, "--config", help="TOML settings file ([ingest], [embed], [map], [signals], [risk]).")


class UsageProblem(ValueError):
    """A problem with what the user asked for: exit code 2."""


def _settings(config: Optional[Path], overrides: dict | None = None) -> Settings:
    return load_settings(config, overrides=overrides)


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


def _print_result(result, title: str) -> None:
    typer.echo(f"{title}: run {result.run_id}")
    if result.rows_read:
        typer.echo(
            f"  rows read {result.rows_read:,}; stored {result.rows_stored:,}; "
            f"duplicates skipped {result.duplicates:,}; quarantined {result.quarantined:,}"
        )
    typer.echo(f"  capability map {result.map_id}{' (fitted this run)' if result.map_fitted else ''}")
    typer.echo(
        f"  accounts scored {result.accounts:,} (as of {result.as_of}); flagged {result.flagged:,} "
        f"(threshold {result.threshold:.3f}); campaigns {result.campaigns:,}"
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
    max_bad_share: Optional[float] = typer.Option(None, help="Fail when more than this share of rows is malformed."),
    fp_budget: Optional[float] = typer.Option(None, help="Share of benign-looking accounts allowed to be flagged."),
) -> None:
    """Ingest logs, fit the capability map if the workspace has none, score all accounts."""
    from targeting.pipeline import run as run_pipeline

    overrides: dict = {}
    if model:
        overrides.setdefault("embed", {})["model"] = model
    if max_bad_share is not None:
        overrides.setdefault("ingest", {})["max_bad_share"] = max_bad_share
    if fp_budget is not None:
        overrides.setdefault("risk", {})["fp_budget"] = fp_budget
    result = run_pipeline(inputs, workspace, _settings(config, overrides), refit=refit)
    _print_result(result, "run complete")


@app.command()
def score(
    workspace: Path = WorkspaceOpt,
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Last day of the window (YYYY-MM-DD); default: latest data."),
    window_days: int = typer.Option(7, "--window-days", min=1, help="Days in the scoring window."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """The nightly job: score the accounts active in the window ending at --as-of."""
    from targeting.pipeline import score as score_pipeline

    day = None
    if as_of:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise UsageProblem(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    result = score_pipeline(workspace, _settings(config), as_of=day, window_days=window_days)
    _print_result(result, "scoring complete")


def _write_frame(frame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(out, index=False)
    else:
        raise UsageProblem(f"--out {out}: use a .csv or .parquet file name")


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
    frame = table.to_pandas()
    if not all_columns:
        extra = [c for c in ("severity",) if c in frame.columns]
        frame = frame[list(S.SCORE_COLUMNS) + extra]
    _write_frame(frame, out)
    typer.echo(f"wrote {len(frame):,} accounts to {out}")


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


@app.command()
def explain(
    account: str = typer.Argument(..., help="Account id from the latest scores."),
    workspace: Path = WorkspaceOpt,
    examples: int = typer.Option(3, "--examples", min=1, help="Example prompts per reason."),
    full: bool = typer.Option(False, "--full", help="Print whole prompts (default: first 160 characters)."),
) -> None:
    """The evidence behind an account's score: each reason with example prompts."""
    from targeting import workspace as W
    from targeting.evidence import account_evidence

    ws = W.open_workspace(workspace)
    try:
        items = account_evidence(ws, account, examples=examples)
    except KeyError as exc:
        raise UsageProblem(str(exc).strip("'\"")) from None
    table = W.read_latest_scores(ws).to_pandas().set_index("account_id")
    row = table.loc[account]
    typer.echo(f"{account}: risk {row['risk_score']:.3f}, flagged {bool(row['flagged'])}, severity {row['severity']}")
    typer.echo(f"reasons: {row['reasons']}")
    for item in items:
        typer.echo(f"\n[{item.kind}] {item.summary}")
        for text in item.examples:
            shown = text if full else (text[:160] + ("…" if len(text) > 160 else ""))
            typer.echo("  - " + shown.replace("\n", " ⏎ "))


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for requests + labels."),
    seed: int = typer.Option(0, "--seed"),
    accounts: int = typer.Option(1000, "--accounts", min=20),
    days: int = typer.Option(14, "--days", min=1),
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
        seed=seed, n_accounts=accounts, days=days, include_metadata=not no_metadata,
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
    metrics = evaluate_scores(table.to_pandas(), label_frame, assignments)
    typer.echo(json.dumps(metrics, indent=2) if as_json else format_report(metrics))


@app.command()
def demo(
    workspace: Path = typer.Option(Path("demo-workspace"), "--workspace", "-w", help="Where the demo workspace goes."),
    accounts: int = typer.Option(400, "--accounts", min=50, help="Accounts to simulate."),
    seed: int = typer.Option(7, "--seed"),
    fresh: bool = typer.Option(True, "--fresh/--keep", help="Start from an empty workspace."),
) -> None:
    """Generate labelled traffic, run the whole pipeline, print the evaluation and where results are."""
    import pandas as pd

    from targeting import workspace as W
    from targeting.evaluate import evaluate as evaluate_scores, format_report
    from targeting.pipeline import run as run_pipeline
    from targeting.simulate import SimConfig, simulate as simulate_traffic, write_traffic

    workspace = workspace.resolve()
    if fresh and workspace.exists():
        if not (workspace / "state.json").exists() and any(workspace.iterdir()):
            raise UsageProblem(f"{workspace} exists and is not a targeting workspace; choose another --workspace")
        shutil.rmtree(workspace)
    traffic = workspace.parent / f"{workspace.name}-traffic"
    typer.echo(f"1/3 simulating {accounts} accounts of labelled traffic (seed {seed}) -> {traffic}")
    requests, labels = simulate_traffic(SimConfig(seed=seed, n_accounts=accounts))
    write_traffic(traffic, requests, labels)
    typer.echo(f"2/3 running the pipeline on {len(requests):,} requests -> {workspace}")
    result = run_pipeline([traffic / "requests.parquet"], workspace, _settings(None))
    _print_result(result, "run complete")
    typer.echo("3/3 evaluation against the labels")
    ws = W.open_workspace(workspace)
    metrics = evaluate_scores(
        W.read_latest_scores(ws).to_pandas(), pd.read_parquet(traffic / "labels.parquet"),
        W.read_assignments(ws, ["request_id", "area"]).to_pandas(),
    )
    typer.echo(format_report(metrics))
    top = W.read_latest_scores(ws).to_pandas().sort_values("risk_score", ascending=False).iloc[0]["account_id"]
    typer.echo(
        f"\nresults: {result.scores_path}\n"
        f"export:  targeting export accounts --workspace {workspace} --out accounts.csv\n"
        f"explain: targeting explain {top} --workspace {workspace}"
    )


def _exit_code(exc: BaseException) -> int:
    from targeting.capmap.taxonomy import TaxonomyError
    from targeting.embed import EmbeddingError
    from targeting.ingest import InputError
    from targeting.pipeline import BadInputError
    from targeting.workspace import WorkspaceError

    bad_input = (UsageProblem, BadInputError, InputError, WorkspaceError, TaxonomyError, EmbeddingError,
                 FileNotFoundError)
    return 2 if isinstance(exc, bad_input) else 1


def main(argv: list[str] | None = None) -> int:
    """Console entry point: maps failures to exit codes and one-line messages."""
    try:
        app(args=argv, standalone_mode=False)
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
        prefix = "error" if code == 2 else "internal error"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        typer.echo(f"{prefix}: {message}", err=True)
        return code


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
