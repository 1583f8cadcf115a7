"""Campaigns: coordinated groups, their members, target area, volume, union coverage, what they
share (templates, system prompts, wrappers) with examples, and when each member was active.
Figures come from ``targeting.summaries`` and ``targeting.evidence``, as in the report."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from targeting import summaries as Sm
from targeting.peers import campaign_sample
from targeting.app import charts, data
from targeting.app import views as V
from targeting.app import widgets as ui
from targeting.app.main import page_context

TABLE = "campaigns_table"


def detail(ctx: data.Context, scores: pd.DataFrame, summary: pd.Series, full: bool) -> None:
    campaign = str(summary["campaign_id"])
    c = st.columns(5)
    c[0].metric("Target area", str(summary["target_area"]).replace("_", " "))
    c[1].metric("Accounts", f"{int(summary['n_accounts']):,}", f"{int(summary['flagged_members'])} flagged",
                delta_color="off", delta_arrow="off")
    c[2].metric("Requests", f"{int(summary['n_requests']):,}")
    share, clusters = V.coverage_figures(summary["coverage"], summary["covered_clusters"], summary["area_clusters"])
    c[3].metric("Union coverage", share, clusters, delta_color="off", delta_arrow="off")
    c[4].metric("Max severity", str(summary["max_severity"]))
    ui.case_file_buttons(ctx, "campaign", campaign, case_bytes)
    members = V.campaign_members(scores, campaign)
    t_shared, t_members, t_map, t_timeline, t_verdict = st.tabs(
        ["What they share", "Members", "On the map", "Timeline", "Verdict"])
    with t_members:
        st.caption("Click a member to open it on the Accounts page.")
        st.dataframe(members, hide_index=True, key="members_table", selection_mode=ui.PICK_ROW,
                     on_select=ui.table_select_callback("members_table", members["account_id"].tolist(),
                                                        ui.SELECTED_ACCOUNT),
                     column_config={"risk_score": st.column_config.NumberColumn("risk", format="%.3f")})
        account = ui.selected(ui.SELECTED_ACCOUNT)
        if account in set(members["account_id"]) and st.button(f"Open account {account}", key="open_member"):
            ui.open_page("accounts")
    with t_map:
        areas = list(data.capability_areas(ctx.key))
        shown, volume = campaign_sample(members)  # the riskiest: a large campaign's picture stays quick
        title = (f"The campaign's {len(members)} accounts" if len(shown) == len(members)
                 else f"The {len(shown)} riskiest of the campaign's {len(members)} accounts")
        ui.beside_typical(ctx, scores, tuple(shown), f"{title} (median {volume:,.0f} requests)",
                          str(summary["target_area"]), volume, areas)
    with t_timeline:
        timeline = V.member_timeline(data.daily_counts(ctx.key), members["account_id"])
        if timeline.empty:
            st.info("No requests of the members in the run's window.")
        else:
            st.altair_chart(charts.member_timeline(timeline), width="stretch")
    with t_verdict:
        ui.verdict_form(ctx, "campaign", campaign, V.target_risk(scores, "campaign", campaign), key="campaign_verdict")
        st.caption("Dismissing a campaign dismisses its members' flags until their scores rise.")
    with t_shared:  # last: reads the members' prompts (cached per campaign)
        with st.spinner("Reading the members' prompts…"):
            items = ui.guarded(lambda: data.campaign_evidence(ctx.key, campaign), "The members' prompts")
        if items is not None:
            ui.evidence_items(items, full)



def case_bytes(target_id: str, unredacted: bool) -> tuple[bytes, bytes]:
    """The case file (``report.case``), built only when its download button is clicked."""
    from targeting.report.case import case_bytes as build

    return build(ctx.ws, target_id, unredacted=unredacted)


ctx = page_context()
scores = ui.scored_page(ctx, "Campaigns", "The run shown scored no accounts.")
summaries = Sm.campaign_summaries(scores)
if summaries.empty:
    st.info("No coordinated group of accounts was found in this run.")
    st.stop()
show_all = st.toggle("Include linked groups with no flagged member (apps, cohorts)", key="campaigns_all")
listed = summaries if show_all else summaries[summaries["flagged_members"] > 0].reset_index(drop=True)
if listed.empty:
    st.info(f"No linked group has a flagged member in this run, so there is no campaign ({len(summaries)} "
            "linked groups without one: switch them on above).")
    st.stop()
st.caption(V.campaigns_caption(int((summaries["flagged_members"] > 0).sum()), len(summaries), show_all)
           + " Click one to see what ties its accounts together.")
st.dataframe(listed, hide_index=True, key=TABLE, selection_mode=ui.PICK_ROW, height=V.table_height(len(listed), 8),
             on_select=ui.table_select_callback(TABLE, listed["campaign_id"].tolist(), ui.SELECTED_CAMPAIGN),
             column_config={"coverage": st.column_config.ProgressColumn(format="%.2f", min_value=0, max_value=1),
                            "mean_risk": st.column_config.NumberColumn(format="%.3f"),
                            "max_risk": st.column_config.NumberColumn(format="%.3f"),
                            "target_share": st.column_config.NumberColumn(format="%.2f")})
st.divider()
head, toggle = st.columns([3, 1])
head.subheader("Campaign detail")
full = ui.full_text_toggle(toggle)
campaign = ui.synced_selectbox("Campaign", summaries["campaign_id"].tolist(), ui.SELECTED_CAMPAIGN, "campaign_pick")
if campaign and campaign in set(summaries["campaign_id"]):
    detail(ctx, scores, summaries[summaries["campaign_id"] == campaign].iloc[0], full)
elif campaign:
    st.warning(f"Campaign {ui.code_span(campaign)} is not in the run shown (campaign ids follow their members).")
else:
    st.info("Select a campaign in the table or above.")
