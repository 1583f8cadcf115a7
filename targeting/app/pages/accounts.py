"""Accounts: the ranked table with filters and downloads, then one account in detail."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from targeting import schema as S
from targeting.app import charts, data
from targeting.app import views as V
from targeting.app import widgets as ui
from targeting.app.main import page_context

TABLE = "accounts_table"


def _range_slider(label: str, upper: float, key: str, step: float) -> tuple[float, float]:
    """A range slider whose remembered value is clipped to this run's range."""
    if key in st.session_state:
        lo, hi = st.session_state[key]
        st.session_state[key] = (min(max(lo, 0.0), upper), min(max(hi, 0.0), upper))
        return st.slider(label, 0.0, upper, step=step, key=key)
    return st.slider(label, 0.0, upper, (0.0, upper), step=step, key=key)


def filters(scores: pd.DataFrame) -> V.AccountFilter:
    opts = V.filter_options(scores)
    with st.expander("Filters", expanded=True):
        c1, c2, c3, c4 = st.columns(4)
        areas = c1.multiselect("Area", opts["areas"], key="f_area", format_func=lambda a: a.replace("_", " "))
        severities = c2.multiselect("Severity", opts["severities"], key="f_severity")
        campaign = c3.selectbox("Campaign", [V.ANY, V.IN_CAMPAIGN, V.NO_CAMPAIGN, *opts["campaigns"]], key="f_campaign")
        verdicts = c4.multiselect("Verdict", opts["verdicts"], key="f_verdict")
        c5, c6, c7, c8 = st.columns(4)
        with c5:
            risk = _range_slider("Risk score", opts["risk"][1], "f_risk", 0.01)
        with c6:
            coverage = _range_slider("Coverage", opts["coverage"][1], "f_coverage", 0.05)
        text = c7.text_input("Account id contains", key="f_text")
        flagged_only = c8.checkbox("Flagged only", key="f_flagged")
    full_range = (0.0, opts["coverage"][1])
    return V.AccountFilter(
        areas=tuple(areas), severities=tuple(severities), verdicts=tuple(verdicts), campaign=campaign,
        risk=tuple(risk), coverage=None if tuple(coverage) == full_range else tuple(coverage),
        text=text, flagged_only=flagged_only,
    )


def table(ctx: data.Context, scores: pd.DataFrame, chosen: V.AccountFilter) -> None:
    shown = V.filter_accounts(scores, chosen)
    n_flagged = int(shown["flagged"].sum()) if len(shown) else 0
    st.caption(f"{len(shown):,} of {len(scores):,} accounts shown, {n_flagged:,} flagged. "
               "Click a row (any cell) to open the account below.")
    view = V.account_table(shown)
    st.dataframe(
        view, key=TABLE, hide_index=True, height=380, selection_mode=ui.PICK_ROW,
        on_select=ui.table_select_callback(TABLE, view["account_id"].tolist(), ui.SELECTED_ACCOUNT),
        column_config={
            "risk_score": st.column_config.ProgressColumn("risk", format="%.3f", min_value=0.0, max_value=1.0),
            "coverage": st.column_config.NumberColumn(format="%.2f"),
            "diversity": st.column_config.NumberColumn(format="%.2f"),
            "regularity": st.column_config.NumberColumn(format="%.2f"),
            "novelty": st.column_config.NumberColumn(format="%.2f"),
            "template_share": st.column_config.NumberColumn("templates", format="%.2f"),
            "cot_share": st.column_config.NumberColumn("CoT", format="%.2f"),
            "reasons": st.column_config.TextColumn(width="large"),
        },
    )
    export = V.export_frame(shown, S.SCORE_COLUMNS)
    buttons = st.container(horizontal=True)  # each button as wide as its label
    stem = f"accounts-{ctx.run.as_of}"
    buttons.download_button("Download CSV", data=lambda: V.to_csv_bytes(export), file_name=f"{stem}.csv",
                            mime="text/csv", on_click="ignore", key="dl_csv", icon=":material/download:")
    buttons.download_button("Download Parquet", data=lambda: V.to_parquet_bytes(export), file_name=f"{stem}.parquet",
                            mime="application/octet-stream", on_click="ignore", key="dl_parquet",
                            icon=":material/download:")


def _header(row: pd.Series, scores: pd.DataFrame, campaign: str) -> None:
    """The account's figures, verdict, campaign and reasons above the tabs."""
    c = st.columns(4)
    c[0].metric("Risk score", f"{row['risk_score']:.3f}")
    flag = "yes" if row["flagged"] else ("dismissed" if row.get("suppressed") else "no")
    c[1].metric("Flagged", flag, str(row.get("severity", "")) if row["flagged"] else None,
                delta_color="off", delta_arrow="off")
    c[2].metric("Requests", f"{int(row['n_requests']):,}")
    c[3].metric("Verdict", (row.get("verdict") or "none").replace("_", " "))
    if row.get("verdict"):
        st.caption(f"Verdict by {row['verdict_by']} on {pd.Timestamp(row['verdict_at']):%Y-%m-%d %H:%M} UTC"
                   + (" (on its campaign)" if row.get("verdict_target") == "campaign" else "")
                   + (f": {ui.escape_md(row['verdict_note'])}" if row.get("verdict_note") else ""))
    members = int((scores["campaign_id"] == campaign).sum()) if campaign else 0
    st.markdown(f"**Campaign**: {ui.code_span(campaign)} ({members} accounts)" if campaign else "**Campaign**: none")
    st.markdown("**Reasons**")
    for reason in V.split_reasons(row["reasons"]):
        st.markdown(f"- {ui.escape_md(reason)}")


def _on_the_map(ctx: data.Context, scores: pd.DataFrame, row: pd.Series, account: str, areas: list[str]) -> None:
    st.altair_chart(charts.area_shares(V.area_shares(row, areas), areas), width="stretch")
    area = str(row.get("content_area") or row["dominant_area"])
    ui.beside_typical(ctx, scores, (account,), f"This account ({int(row['n_requests']):,} requests)", area,
                      float(row["n_requests"]), areas)


def _coverage_and_timing(row: pd.Series, reqs: pd.DataFrame) -> None:
    # coverage counts the clusters of what the requests are about (older scores: the dominant area)
    area = str(row.get("content_area") or row["dominant_area"])
    cov = V.coverage_over_time(reqs, area, int(row["area_clusters"]) if pd.notna(row.get("area_clusters")) else None)
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Coverage of {area.replace('_', ' ')} over time**")
        st.altair_chart(charts.coverage_over_time(cov, area), width="stretch")
        st.altair_chart(charts.daily_requests(cov), width="stretch")
    with right:
        st.markdown("**Timing**")
        st.altair_chart(charts.hours(V.hour_profile(reqs)), width="stretch")
        figures = {k: row.get(k) for k in ("hour_coverage", "interarrival_cv", "active_days", "span_hours")
                   if k in row.index}
        st.caption(", ".join(f"{k.replace('_', ' ')} {v:.2f}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                             for k, v in figures.items()))


def _similar(ctx: data.Context, scores: pd.DataFrame, account: str) -> None:
    ids, matrix = data.profiles(ctx.key)
    similar = V.with_scores(V.similar_accounts(ids, matrix, account), scores,
                            ["risk_score", "flagged", "dominant_area", "campaign_id", "verdict"])
    st.caption("Accounts whose requests fall in the most similar mix of clusters. Click one to open it.")
    st.dataframe(similar, hide_index=True, key="similar_table", selection_mode=ui.PICK_ROW,
                 on_select=ui.table_select_callback("similar_table", similar["account_id"].tolist(),
                                                    ui.SELECTED_ACCOUNT),
                 column_config={"similarity": st.column_config.NumberColumn(format="%.2f"),
                                "risk_score": st.column_config.NumberColumn("risk", format="%.3f")})


def _campaign(scores: pd.DataFrame, campaign: str) -> None:
    if not campaign:
        st.info("This account is not linked to a campaign.")
        return
    members = V.campaign_members(scores, campaign)
    st.markdown(f"Campaign {ui.code_span(campaign)}: {len(members)} accounts, "
                f"{int(members['n_requests'].sum()):,} requests.")
    st.dataframe(members, hide_index=True, height=min(400, 40 + 35 * len(members)))
    if st.button("Open this campaign", key="open_campaign"):
        ui.open_page("campaigns", selected_campaign=campaign)


def _verdict(ctx: data.Context, row: pd.Series, account: str) -> None:
    ui.verdict_form(ctx, "account", account, float(row["risk_score"]), key="account_verdict")
    trail = data.verdict_trail(ctx.ws)
    mine = trail[(trail["target_kind"] == "account") & (trail["target_id"] == account)]
    if len(mine):
        st.markdown("**Verdict history**")
        st.dataframe(mine.iloc[::-1], hide_index=True)


def detail(ctx: data.Context, scores: pd.DataFrame, account: str, full: bool) -> None:
    """One account: its figures and reasons, then the tabs an analyst checks them in."""
    info = scores.set_index("account_id")
    if account not in info.index:
        st.warning(f"Account {ui.code_span(account)} is not in the run shown (it was not active in its window).")
        return
    row = info.loc[account]
    campaign = str(row.get("campaign_id") or "")
    _header(row, scores, campaign)
    ui.case_file_buttons(ctx, "account", account, case_bytes)
    t_evidence, t_map, t_time, t_similar, t_campaign, t_verdict = st.tabs(
        ["Evidence", "On the map", "Coverage & timing", "Similar accounts", "Campaign", "Verdict"])
    areas = [c.removeprefix("share_") for c in row.index if c.startswith("share_")]  # the taxonomy's areas
    reqs = ui.guarded(lambda: data.account_requests(ctx.key, account), "The account's requests")
    if reqs is None:
        return
    with t_map:
        _on_the_map(ctx, scores, row, account, areas)
    with t_time:
        _coverage_and_timing(row, reqs)
    with t_similar:
        _similar(ctx, scores, account)
    with t_campaign:
        _campaign(scores, campaign)
    with t_verdict:
        _verdict(ctx, row, account)
    with t_evidence:  # last: the slowest part (prompts read and reasons re-derived), cached per account
        with st.spinner("Reading the evidence prompts…"):
            items = ui.guarded(lambda: data.account_evidence(ctx.key, account), "The evidence prompts")
        if items is not None:
            ui.evidence_items(items, full)



def case_bytes(target_id: str, unredacted: bool) -> tuple[bytes, bytes]:
    """The case file (``report.case``), built only when its download button is clicked."""
    from targeting.report.case import case_bytes as build

    return build(ctx.ws, target_id, unredacted=unredacted)


ctx = page_context()
scores = ui.scored_page(ctx, "Accounts", "The run shown scored no accounts.")
chosen = filters(scores)
table(ctx, scores, chosen)
st.divider()
head, toggle = st.columns([3, 1])
head.subheader("Account detail")
full = ui.full_text_toggle(toggle)
ranked = scores.sort_values(["risk_score", "account_id"], ascending=[False, True])["account_id"].tolist()
account = ui.synced_selectbox("Account", ranked, ui.SELECTED_ACCOUNT, "account_pick",
                              placeholder="Choose an account, or click a row above")
if account:
    detail(ctx, scores, account, full)
else:
    st.info("Select an account in the table, or pick one above, to see its evidence.")
