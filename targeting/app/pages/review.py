"""Review: record verdicts on accounts and campaigns; the queue, the standing verdicts, the trail."""

from __future__ import annotations

import streamlit as st

from targeting.app import data
from targeting.app import views as V
from targeting.app import widgets as ui
from targeting.app.main import page_context
from targeting.verdicts import REFLAG_MARGIN, latest_of

ctx = page_context()
scores = ui.scored_page(ctx, "Review", "The run shown scored no accounts, so there is nothing to review.")
st.caption(
    "Verdicts are stored in the workspace (`verdicts.sqlite`, append-only) with the time and the analyst, "
    "survive nightly runs and are shown in every table. A dismissed account is not flagged again for the same "
    f"evidence: only when its risk score rises above {REFLAG_MARGIN:.1f}× the score it had when dismissed."
)

kind = st.radio("Target", ["account", "campaign"], horizontal=True, key="review_kind")
if kind == "account":
    queue = V.review_queue(scores)
    ranked = [*queue["account_id"], *scores.sort_values("risk_score", ascending=False)["account_id"]]
    target = ui.synced_selectbox("Account", list(dict.fromkeys(ranked)), ui.SELECTED_ACCOUNT, "review_account",
                                 placeholder="Choose an account (the review queue comes first)")
else:
    camps = scores.loc[scores["campaign_id"].fillna("") != ""].groupby("campaign_id")["risk_score"].max()
    target = ui.synced_selectbox("Campaign", camps.sort_values(ascending=False).index.tolist(), ui.SELECTED_CAMPAIGN,
                                 "review_campaign", placeholder="Choose a campaign")
if target:
    ui.verdict_form(ctx, kind, target, V.target_risk(scores, kind, target), key="review_verdict")

st.subheader("Review queue")
queue = V.review_queue(scores)
if queue.empty:
    st.success("Nothing waits for review: no flagged account without a verdict, none marked needs review.")
else:
    st.caption(f"{len(queue):,} accounts: flagged without a verdict, or marked needs review. Click one to judge it.")
    st.dataframe(queue, hide_index=True, key="queue_table", selection_mode=ui.PICK_ROW,
                 height=V.table_height(len(queue), 8),
                 on_select=ui.table_select_callback("queue_table", queue["account_id"].tolist(), ui.SELECTED_ACCOUNT),
                 column_config={"risk_score": st.column_config.NumberColumn("risk", format="%.3f")})

trail = data.verdict_trail(ctx.ws)
st.subheader("Standing verdicts")
standing = V.review_table(latest_of(trail), scores)
if standing.empty:
    st.info("No verdict has been recorded in this workspace yet.")
else:
    st.dataframe(standing, hide_index=True, key="verdicts_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("risk_score", "risk_now", "reflag_above")})
st.subheader("Audit trail")
st.caption(f"{len(trail):,} verdict{'' if len(trail) == 1 else 's'} recorded, oldest first. "
           "Nothing is ever changed or deleted.")
if len(trail):
    st.dataframe(trail, hide_index=True, key="trail_table", height=240)
    st.download_button("Download the audit trail (CSV)", data=V.to_csv_bytes(trail), file_name="verdicts.csv",
                       mime="text/csv", on_click="ignore", key="dl_verdicts", icon=":material/download:")
