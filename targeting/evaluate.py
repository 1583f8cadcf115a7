"""Detection quality against labelled traffic: account-level and request-level metrics.

Labels are one row per request: request_id, account_id, area, role (benign | hard_negative |
attacker), kind, campaign, target_area (see ``targeting simulate``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, average_precision_score, f1_score, roc_auc_score

from targeting.config import ORDINARY_P

ATTACKER = "attacker"
HARD_NEGATIVE = "hard_negative"
FPR_TARGET = 0.01


def account_labels(labels: pd.DataFrame) -> pd.DataFrame:
    first = labels.groupby("account_id").first()
    return first[["role", "kind", "campaign", "target_area"]].rename(columns={"target_area": "true_target_area"})


def recall_at_fpr(scores: np.ndarray, positive: np.ndarray, fpr: float = FPR_TARGET) -> tuple[float, float]:
    """(recall, threshold) where at most ``fpr`` of negatives score at or above the threshold."""
    neg = np.sort(scores[~positive])
    if len(neg) == 0 or positive.sum() == 0:
        return float("nan"), float("nan")
    allowed = int(np.floor(fpr * len(neg)))
    # the threshold sits just above the (allowed+1)-th highest negative score
    threshold = neg[len(neg) - allowed - 1]
    return float((scores[positive] > threshold).mean()), float(threshold)


def _campaign_kind(campaign: str) -> str:
    return campaign.rsplit("-", 1)[0] if campaign else ""




def _flag_threshold(df: pd.DataFrame, given: float | None) -> float:
    """The run's label-free flag threshold (its manifest), else the lowest flagged score."""
    if given is not None and np.isfinite(given):
        return float(given)
    flagged = df.loc[df["flagged"].astype(bool), "risk_score"]
    return float(flagged.min()) if len(flagged) else float("inf")


def why_missed(attackers: pd.DataFrame, threshold: float, flag_threshold: float) -> dict[str, Any]:
    """Why the unflagged attackers of one campaign kind are unflagged, in counts an analyst
    can act on: how many rank above the 1%-FPR line yet below the label-free flag threshold
    (the flag's budget: more flags would catch them), how many score below both (their
    evidence is too weak), how many are in no linked group (nothing to raise them), and the
    evidence families on which most of them are ordinary among their peers (tail
    probability above ``ORDINARY_P``), most often first."""
    missed = attackers[~attackers["flagged"].astype(bool)]
    risk = missed["risk_score"].astype(float)
    campaign = missed["campaign_id"].fillna("").astype(str) if "campaign_id" in missed else pd.Series("", index=missed.index)
    p_columns = [c for c in missed.columns if c.startswith("evidence_p_")]
    lacking = {c.removeprefix("evidence_p_"): int((missed[c].astype(float) > ORDINARY_P).sum()) for c in p_columns}
    return {
        "attackers": int(len(attackers)),
        "flagged": int(attackers["flagged"].astype(bool).sum()),
        "not_flagged": int(len(missed)),
        "above_1pct_line_below_flag": int(((risk > threshold) & (risk < flag_threshold)).sum()),
        "below_both": int((risk <= threshold).sum()),
        "in_no_group": int((campaign == "").sum()),
        "median_risk_missed": float(risk.median()) if len(risk) else None,  # JSON-safe: recorded as is
        "flag_threshold": float(flag_threshold) if np.isfinite(flag_threshold) else None,
        "ordinary_on": dict(sorted(((k, v) for k, v in lacking.items() if v), key=lambda kv: -kv[1])),
    }


def _or_inf(value: float | None) -> float:
    return float("inf") if value is None else value


def _why_text(why: dict[str, Any]) -> str:
    """One cell of the evaluation table: ``why_missed`` in words."""
    if not why["not_flagged"]:
        return "all flagged"
    parts = []
    if why["above_1pct_line_below_flag"]:
        parts.append(f"{why['above_1pct_line_below_flag']} rank above the 1%-FPR line but below the flag "
                     f"threshold {_or_inf(why['flag_threshold']):.3f} (the flag's budget)")
    if why["below_both"]:
        parts.append(f"{why['below_both']} score below both (median {why['median_risk_missed']:.3f}): too little evidence")
    if why["in_no_group"]:
        parts.append(f"{why['in_no_group']} in no linked group")
    common = [f"{k} ({v})" for k, v in list(why["ordinary_on"].items())[:3]]
    if common:
        parts.append("ordinary among their peers on " + ", ".join(common))
    return f"{why['not_flagged']} of {why['attackers']} not flagged: " + "; ".join(parts)


def evaluate(scores: pd.DataFrame, labels: pd.DataFrame, assignments: pd.DataFrame | None = None,
             flag_threshold: float | None = None) -> dict[str, Any]:
    acc = account_labels(labels)
    df = scores.set_index("account_id").join(acc, how="inner")
    if df.empty:
        raise ValueError("no scored account appears in the labels file")
    positive = (df["role"] == ATTACKER).to_numpy()
    risk = df["risk_score"].to_numpy(dtype=float)
    recall, threshold = recall_at_fpr(risk, positive)
    out: dict[str, Any] = {
        "accounts": int(len(df)),
        "attackers": int(positive.sum()),
        "auroc": float(roc_auc_score(positive, risk)) if 0 < positive.sum() < len(df) else float("nan"),
        "auprc": float(average_precision_score(positive, risk)) if positive.any() else float("nan"),
        "recall_at_1pct_fpr": recall,
        "threshold_at_1pct_fpr": threshold,
        "flag_recall": float(df.loc[positive, "flagged"].mean()) if positive.any() else float("nan"),
        "flag_fpr": float(df.loc[~positive, "flagged"].mean()) if (~positive).any() else float("nan"),
    }
    kinds = df.loc[positive, "campaign"].map(_campaign_kind)
    out["recall_by_campaign_kind"] = {
        k: float((df.loc[positive][kinds == k]["risk_score"] > threshold).mean()) for k in sorted(kinds.unique())
    }
    out["flag_recall_by_campaign_kind"] = {
        k: float(df.loc[positive][kinds == k]["flagged"].mean()) for k in sorted(kinds.unique())
    }
    flag_line = _flag_threshold(df, flag_threshold)
    out["why_missed_by_campaign_kind"] = {
        k: why_missed(df.loc[positive][kinds == k], threshold, flag_line) for k in sorted(kinds.unique())
    }
    negatives = df[~positive]
    out["fpr_by_kind"] = {
        k: {
            "accounts": int(len(g)),
            "at_1pct_threshold": float((g["risk_score"] > threshold).mean()),
            "flagged": float(g["flagged"].mean()),
        }
        for k, g in negatives.groupby("kind")
    }
    attackers = df[positive]
    if len(attackers):
        out["dominant_area_accuracy"] = float((attackers["dominant_area"] == attackers["true_target_area"]).mean())
        linked = attackers["campaign_id"].replace("", np.nan)
        pred = linked.fillna(pd.Series(attackers.index, index=attackers.index)).astype(str)
        out["campaign_ari"] = float(adjusted_rand_score(attackers["campaign"].astype(str), pred))
    if assignments is not None and not assignments.empty:
        joined = assignments[["request_id", "area"]].merge(
            labels[["request_id", "area"]], on="request_id", suffixes=("_pred", "_true")
        )
        out["request_area_macro_f1"] = float(f1_score(joined["area_true"], joined["area_pred"], average="macro"))
        out["request_area_accuracy"] = float((joined["area_true"] == joined["area_pred"]).mean())
    return out


def format_report(metrics: dict[str, Any]) -> str:
    """The evaluation as a Markdown table an analyst can paste into a ticket."""
    lines = ["| metric | value |", "|---|---|"]
    for key in (
        "accounts", "attackers", "auroc", "auprc", "recall_at_1pct_fpr", "flag_recall", "flag_fpr",
        "dominant_area_accuracy", "campaign_ari", "request_area_macro_f1", "request_area_accuracy",
    ):
        if key in metrics:
            value = metrics[key]
            lines.append(f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |")
    for kind, value in metrics.get("recall_by_campaign_kind", {}).items():
        flag = metrics.get("flag_recall_by_campaign_kind", {}).get(kind, float("nan"))
        lines.append(f"| recall at 1% FPR, {kind} campaigns (flagged) | {value:.3f} ({flag:.3f}) |")
    for kind, why in metrics.get("why_missed_by_campaign_kind", {}).items():
        lines.append(f"| why not flagged, {kind} campaigns | {_why_text(why)} |")
    for kind, value in metrics.get("fpr_by_kind", {}).items():
        lines.append(
            f"| false-positive rate, {kind} ({value['accounts']} accounts): at 1% threshold / flagged | "
            f"{value['at_1pct_threshold']:.3f} / {value['flagged']:.3f} |"
        )
    return "\n".join(lines)
