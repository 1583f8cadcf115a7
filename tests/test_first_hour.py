"""A new user's first hour (issue 15) on one small real workspace: the run summary, the app and
the report count linked groups and campaigns the same way, and the demo's evaluation is the
one the report cites.

The workspace is the app tests' (``app_workspace``: the real pipeline on generated traffic,
a hash encoder for the model), copied, and its latest night re-scored at a 5% budget so that
some linked groups have no flagged member.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from app_workspace import NIGHTS, WINDOW_DAYS, HashingEncoder, shared
from targeting import cli
from targeting import summaries as Sm
from targeting import workspace as W
from targeting.config import load_settings
from targeting.jobs import RunResult, score
from targeting.report import build_report
from targeting.report.render import Charts, render_markdown

pytestmark = pytest.mark.slow  # the pipeline builds the workspace once per session

NO_CHARTS = Charts(trend=None, severity=None, areas={})


@pytest.fixture(scope="module")
def rescored(tmp_path_factory) -> tuple[Path, RunResult, Path]:
    """A copy of the shared workspace, its latest night re-scored; the run's result; the labels."""
    source = shared(tmp_path_factory)
    root = tmp_path_factory.mktemp("first-hour") / "workspace"
    shutil.copytree(source, root)
    settings = load_settings(environ={}, overrides={"risk": {"fp_budget": 0.05}})
    result = score(root, settings, as_of=NIGHTS[-1], window_days=WINDOW_DAYS, encoder=HashingEncoder())
    return root, result, source.parent / "traffic" / "labels.parquet"


def report_text(root: Path) -> str:
    text, _ = render_markdown(build_report(W.open_workspace(root)), "assets", charts=NO_CHARTS)
    return text


def test_the_run_summary_the_summaries_and_the_report_count_the_same_groups(rescored, capsys):
    root, result, _ = rescored
    cli._print_result(result, "scoring complete")
    printed = capsys.readouterr().out
    found = re.search(r"linked groups (\d+) \(.*\); campaigns (\d+) \(linked groups with a flagged member\)", printed)
    assert found, printed
    linked, campaigns = int(found[1]), int(found[2])
    assert (linked, campaigns) == (result.linked_groups, result.campaigns)
    assert 0 < campaigns <= linked  # (that they can differ: test_summaries' group counts)

    head = Sm.headline(Sm.latest_scores(W.open_workspace(root)))
    assert (head["n_linked_groups"], head["n_campaigns"]) == (linked, campaigns)

    text = report_text(root)
    assert f"{linked} linked group{'' if linked == 1 else 's'} of accounts" in text
    assert f"{campaigns} of them {'is a campaign' if campaigns == 1 else 'are campaigns'}" in text
    assert f"{campaigns} coordinated campaign" in text
    manifest = Sm.run_manifest(W.open_workspace(root), result.run_id)
    assert (manifest["counts"]["linked_groups"], manifest["counts"]["campaigns"]) == (linked, campaigns)


def test_the_demos_evaluation_is_recorded_and_the_report_cites_it(rescored, capsys):
    root, result, labels = rescored
    ws = W.open_workspace(root)
    assert W.read_evaluation(ws) is None
    assert "No labelled evaluation is recorded" in report_text(root)
    metrics = cli.demo_evaluation(root, labels)  # the demo's step 3/3
    assert "recorded in" in capsys.readouterr().out
    recorded = W.read_evaluation(ws)
    assert recorded is not None and recorded["metrics"] == metrics
    assert (recorded["labels"], recorded["run_id"], recorded["as_of"]) == ("labels.parquet", result.run_id, result.as_of)
    text = report_text(root)
    assert "No labelled evaluation is recorded" not in text
    assert "Recorded for this workspace against labels.parquet" in text
