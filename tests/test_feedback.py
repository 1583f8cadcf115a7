"""Verdicts that teach: look-alikes of confirmed accounts rise, of dismissed ones fall, bounded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from targeting.config import FeedbackConfig, load_settings
from targeting.feedback import apply_feedback
from targeting.verdicts import COLUMNS, apply_verdicts

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
THRESHOLD = 0.6
FAMILIES = ("focus", "freshness", "templates", "evenness")


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """n ordinary accounts spread over a random profile, at risk 0.2-0.5, none flagged."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "account_id": [f"u{i:03d}" for i in range(n)],
        "campaign_id": "",
        "risk_score": rng.uniform(0.2, 0.5, n),
        "flagged": False,
        "severity": "none",
        "reasons": "own reasons",
        "allowlisted": False,
        "share_reasoning": rng.uniform(0, 1, n),
    })
    for family in FAMILIES:
        frame[f"evidence_{family}"] = rng.uniform(0, 5, n)
    return frame


def _like(frame: pd.DataFrame, rows: list[int], of: int, jitter: float = 0.01) -> None:
    """Give ``rows`` (nearly) the profile of account ``of``."""
    cols = [c for c in frame if c.startswith("evidence_") or c.startswith("share_")]
    for k, r in enumerate(rows):
        frame.loc[r, cols] = frame.loc[of, cols].to_numpy(dtype=float) + jitter * (k + 1)


def _graph(n: int, edges: list[tuple[int, int, float]] = ()) -> sparse.csr_matrix:
    if not edges:
        return sparse.csr_matrix((n, n))
    a, b, w = zip(*edges)
    g = sparse.csr_matrix((w, (a, b)), shape=(n, n))
    return g.maximum(g.T).tocsr()


def _verdicts(*rows: tuple[str, str] | tuple[str, str, str]) -> pd.DataFrame:
    """Standing verdicts from (id, verdict[, kind]) tuples, by ana, a minute apart."""
    frame = pd.DataFrame([
        {"target_kind": r[2] if len(r) > 2 else "account", "target_id": r[0], "verdict": r[1], "note": "checked",
         "analyst": "ana", "risk_score": 0.4, "run_id": "run", "at": T0 + timedelta(minutes=m)}
        for m, r in enumerate(rows)
    ], columns=list(COLUMNS))
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def _run(frame, graph, verdicts, **config) -> pd.DataFrame:
    return apply_feedback(frame, graph, frame["account_id"].to_numpy(), verdicts, THRESHOLD, FeedbackConfig(**config))


def test_fewer_verdicts_than_the_minimum_change_nothing():
    frame = _table()
    graph = _graph(len(frame), [(0, 1, 0.9)])
    _like(frame, [1, 2, 3], of=0)
    four = _verdicts(("u000", "confirmed"), ("u010", "confirmed"), ("u020", "dismissed"), ("u030", "confirmed"),
                     ("u040", "needs_review"), ("u050", "needs_review"))  # needs review teaches nothing
    out = _run(frame, graph, four, min_verdicts=5)
    assert out is frame
    five = pd.concat([four, _verdicts(("u045", "dismissed"))], ignore_index=True)
    assert _run(frame, graph, five, min_verdicts=5)["risk_score"].gt(frame["risk_score"]).any()
    assert _run(frame, graph, five, min_verdicts=5, enabled=False) is frame


def test_no_verdicts_leave_the_scores_bit_identical_with_feedback_enabled():
    frame = _table()
    reference = frame.copy()
    out = _run(frame, _graph(len(frame), [(0, 1, 0.9)]), _verdicts(), min_verdicts=1)
    pd.testing.assert_frame_equal(out, reference, check_exact=True)


def test_a_confirmed_account_raises_a_graph_look_alike_with_a_reason_naming_the_verdict():
    frame = _table()
    graph = _graph(len(frame), [(0, 7, 0.62)])  # u007 shares u000's templates; its profile is its own
    out = _run(frame, graph, _verdicts(("u000", "confirmed")), min_verdicts=1).set_index("account_id")
    before = frame.set_index("account_id")
    assert out.loc["u007", "risk_score"] > before.loc["u007", "risk_score"]
    assert out.loc["u007", "risk_score_label_free"] == before.loc["u007", "risk_score"]
    assert out.loc["u007", "feedback_delta"] == pytest.approx(0.62)
    note = out.loc["u007", "feedback"]
    assert note.startswith("[raised by verdicts (+0.62 log-odds): resembles u000 confirmed by ana on 2026-11-20")
    assert "account-graph tie 0.62 (shared templates" in note
    assert out.loc["u007", "reasons"] == note + "own reasons"
    # the verdict's account itself is left to apply_verdicts
    assert out.loc["u000", "risk_score"] == before.loc["u000", "risk_score"]


def test_a_dismissed_look_alike_lowers_its_kind():
    frame = _table()
    kind = [11, 12, 13, 14]  # an agent product's accounts: one profile, no shared wording
    _like(frame, kind, of=10)
    frame.loc[[10] + kind, "risk_score"] = 0.7
    frame.loc[[10] + kind, ["flagged", "severity"]] = [True, "low"]
    out = _run(frame, _graph(len(frame)), _verdicts(("u010", "dismissed")), min_verdicts=1)
    assert (out.loc[kind, "risk_score"] < 0.7).all()
    assert not out.loc[kind, "flagged"].any() and (out.loc[kind, "severity"] == "none").all()
    assert out.loc[kind, "feedback"].str.contains("resembles u010 dismissed by ana on 2026-11-20: near evidence").all()
    others = ~frame.index.isin([10] + kind) & (out["feedback_delta"] == 0)
    assert others.sum() > 40
    assert np.array_equal(out.loc[others, "risk_score"].to_numpy(), frame.loc[others, "risk_score"].to_numpy())


def test_one_mistaken_verdict_moves_at_most_k_accounts_by_at_most_the_cap():
    n = 300
    frame = _table(n)
    crowd = list(range(1, 201))  # 200 ordinary accounts that look like u000 and are tied to it
    _like(frame, crowd, of=0, jitter=0.0001)
    graph = _graph(n, [(0, j, 1.0) for j in crowd])
    config = dict(min_verdicts=1, neighbours=10, cap=0.8, step=3.0)
    out = _run(frame, graph, _verdicts(("u000", "confirmed")), **config)
    moved = out["feedback_delta"] != 0
    assert moved.sum() == 10
    logit = lambda r: np.log(r / (1 - r))  # noqa: E731
    change = logit(out["risk_score"]) - logit(frame["risk_score"])
    assert change.max() == pytest.approx(0.8) and change.min() >= 0
    assert not out.loc[~moved, "risk_score"].ne(frame.loc[~moved, "risk_score"]).any()


def test_many_verdicts_still_move_an_account_by_at_most_the_cap_and_the_flag_follows_the_threshold():
    frame = _table()
    verdict_rows = list(range(20, 30))
    frame.loc[5, ["risk_score", "allowlisted"]] = [0.5, False]
    frame.loc[6, ["risk_score", "allowlisted"]] = [0.5, True]
    edges = [(v, 5, 1.0) for v in verdict_rows] + [(v, 6, 1.0) for v in verdict_rows]
    verdicts = _verdicts(*[(f"u{v:03d}", "confirmed") for v in verdict_rows])
    out = _run(frame, _graph(len(frame), edges), verdicts, min_verdicts=5, cap=1.5)
    assert out.loc[5, "feedback_delta"] == 1.5
    assert out.loc[5, "risk_score"] == pytest.approx(1 / (1 + np.exp(-1.5)))  # logit(0.5) = 0
    assert out.loc[5, "flagged"] and out.loc[5, "severity"] != "none"  # above the label-free threshold
    assert not out.loc[6, "flagged"]  # allowlisted accounts are never flagged
    assert "and 8 more verdicts" in out.loc[5, "feedback"]


def test_a_campaign_verdict_teaches_through_its_members_and_leaves_them_to_apply_verdicts():
    frame = _table()
    frame.loc[[0, 1, 2], "campaign_id"] = "k1"
    graph = _graph(len(frame), [(2, 9, 0.8)])  # u009 shares wording with one member of k1
    out = _run(frame, graph, _verdicts(("k1", "confirmed", "campaign")), min_verdicts=1)
    assert out.loc[9, "feedback_delta"] == pytest.approx(0.8)
    assert "resembles campaign k1 confirmed by ana" in out.loc[9, "feedback"]
    assert (out.loc[[0, 1, 2], "feedback_delta"] == 0).all()
    # verdicts are joined on afterwards as before: the raised account is flagged by the model
    joined = apply_verdicts(out, _verdicts(("k1", "confirmed", "campaign")))
    assert joined.loc[9, "flagged_by_model"] == joined.loc[9, "flagged"]


def test_confirmed_and_dismissed_look_alikes_offset():
    frame = _table()
    graph = _graph(len(frame), [(0, 8, 0.7), (1, 8, 0.7)])
    out = _run(frame, graph, _verdicts(("u000", "confirmed"), ("u001", "dismissed")), min_verdicts=2)
    assert out.loc[8, "feedback_delta"] == 0
    assert out.loc[8, "risk_score"] == frame.loc[8, "risk_score"]


def test_feedback_settings_load_and_refuse_nonsense():
    settings = load_settings(environ={"TARGETING_FEEDBACK__ENABLED": "false", "TARGETING_FEEDBACK__MIN_VERDICTS": "9"})
    assert settings.feedback.enabled is False and settings.feedback.min_verdicts == 9
    assert load_settings(environ={}).feedback.enabled is True
    with pytest.raises(ValueError):
        FeedbackConfig(neighbours=0)
    with pytest.raises(ValueError):
        FeedbackConfig(min_resemblance=0.0)


# --- the scoring job ---------------------------------------------------------------------------------
def _scored(root, settings, as_of, window_days) -> pd.DataFrame:
    from targeting import workspace as W
    from targeting.jobs import score

    score(root, settings, as_of=as_of, window_days=window_days)
    return W.read_latest_scores(W.open_workspace(root)).to_pandas().set_index("account_id").sort_index()


@pytest.mark.slow
def test_the_scoring_job_moves_look_alikes_and_nothing_else(tmp_path_factory, tmp_path):
    import shutil

    from app_workspace import FP_BUDGET, WINDOW_DAYS, shared

    from targeting import workspace as W
    from targeting.verdicts import record_verdict

    root = tmp_path / "ws"
    shutil.copytree(shared(tmp_path_factory), root)
    ws = W.open_workspace(root)
    as_of = pd.Timestamp(W.read_latest_scores(ws).to_pandas()["as_of"].iloc[0]).date()
    on = load_settings(environ={}, overrides={"risk": {"fp_budget": FP_BUDGET}})
    off = load_settings(environ={"TARGETING_FEEDBACK__ENABLED": "false"}, overrides={"risk": {"fp_budget": FP_BUDGET}})
    plain = _scored(root, on, as_of, WINDOW_DAYS)
    # without verdicts, feedback enabled leaves every score bit for bit
    unlearned = _scored(root, off, as_of, WINDOW_DAYS)
    assert np.array_equal(plain["risk_score"].to_numpy(), unlearned["risk_score"].to_numpy())
    assert plain["flagged"].equals(unlearned["flagged"]) and "feedback_delta" not in plain
    ranked = plain.sort_values("risk_score", ascending=False).index
    confirmed, dismissed = list(ranked[:3]), list(ranked[-2:])
    for account in confirmed + dismissed:
        record_verdict(ws, target_kind="account", target_id=account, note="checked", analyst="ana",
                       verdict="confirmed" if account in confirmed else "dismissed")
    taught = _scored(root, on, as_of, WINDOW_DAYS)
    moved = taught["feedback_delta"] != 0
    assert 0 < moved.sum() <= 5 * on.feedback.neighbours
    assert taught.loc[moved, "feedback_delta"].abs().max() <= on.feedback.cap
    assert not moved[confirmed + dismissed].any()
    assert np.array_equal(taught.loc[~moved, "risk_score"].to_numpy(), plain.loc[~moved, "risk_score"].to_numpy())
    names = "|".join(confirmed + dismissed)
    assert taught.loc[moved, "reasons"].str.match(rf"^\[(raised|lowered) by verdicts .*resembles ({names}) ").all()
    # feedback off with the same verdicts: the label-free scores
    again = _scored(root, off, as_of, WINDOW_DAYS)
    assert np.array_equal(again["risk_score"].to_numpy(), plain["risk_score"].to_numpy())


def test_profile_distances_to_a_large_campaign_are_taken_in_blocks_and_equal_the_direct_ones():
    from targeting.feedback import SOURCE_BLOCK, distances

    rng = np.random.default_rng(1)
    z = rng.normal(size=(900, 6))
    rows = rng.choice(900, SOURCE_BLOCK * 2 + 7, replace=False)
    direct = np.sqrt(((z[:, None, :] - z[None, rows, :]) ** 2).sum(axis=2)).min(axis=1)
    np.testing.assert_allclose(distances(z, rows), direct, rtol=1e-12, atol=1e-12)
    assert (distances(z, rows)[rows] == 0).all()
