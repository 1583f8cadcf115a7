"""Overview: the run's headline counts, every capability area (zeros included), flagged
accounts by area and severity, the trend over scored nights and what changed since the
previous one. Every figure comes from ``targeting.summaries``, the functions the policy
report uses, so the two agree."""

from __future__ import annotations

import streamlit as st

from targeting import summaries as Sm
from targeting.app import charts, data
from targeting.app import views as V
from targeting.app import widgets as ui
from targeting.app.main import page_context

CHANGES = "changes_table"


def _open_change() -> None:
    shown = st.session_state.get("_changes_shown", [])
    row = ui.picked_table_row(CHANGES)
    if row is not None and row < len(shown):
        kind, target = shown[row]
        ui.select(ui.SELECTED_ACCOUNT if kind == "account" else ui.SELECTED_CAMPAIGN, target)
        st.session_state["_open_after_change"] = kind


def report_bytes(fmt: str, include_examples: bool) -> bytes:
    """The policy report, rendered only when its download button is clicked."""
    from targeting.report import render_report

    out = render_report(ctx.ws, fmt, include_examples=include_examples)
    return out.encode("utf-8") if isinstance(out, str) else out


ctx = page_context()
scores = data.current_scores(ctx)
st.title("Overview")
st.caption(f"Run {ctx.run.run_id}, scores as of {ctx.run.as_of}"
           + (f" (window of {ctx.run.window_days} days)" if ctx.run.window_days else "")
           + ". Verdicts recorded since the run are applied.")
if scores is None or scores.empty:
    st.info("The run shown scored no accounts.")
    st.stop()

head = Sm.headline(scores)
c = st.columns(5)
c[0].metric("Requests", f"{head['n_requests']:,}")
c[1].metric("Accounts", f"{head['n_accounts']:,}")
c[2].metric("Flagged accounts", f"{head['n_flagged']:,}")
c[3].metric("Campaigns", f"{head['n_campaigns']:,}", help=V.campaigns_help(head["n_campaigns"], head["n_linked_groups"]))
c[4].metric("Flagged share of requests", f"{100 * head['flagged_request_share']:.1f}%")

st.subheader("Capability areas")
counts = Sm.area_severity_counts(scores, data.capability_areas(ctx.key))
st.dataframe(V.area_table(counts), hide_index=True, width="stretch", key="area_table")
st.caption("Every area of the taxonomy, zeros included. An account counts, with all its requests, in its actor's "
           "area: a campaign member in its campaign's, a flagged account in the area it targets, any other account "
           "where most of its requests are. The policy report shows the same numbers.")
for area, row in counts[counts["flagged_accounts"] == 0].iterrows():
    st.caption(Sm.area_status(str(area), row))

st.subheader("Flagged accounts by area and severity")
if head["n_flagged"] == 0:
    st.info("No account is flagged in this run.")
else:
    st.altair_chart(charts.severity_by_area(counts[counts["flagged_accounts"] > 0]), width="stretch")

st.subheader("Trend over the scored nights")
hist = data.history(ctx.key)
trend = Sm.nightly_trend(hist)
nights = sorted(hist["as_of"].astype(str).unique()) if len(hist) else []
if len(nights) < 2:
    st.info("Only one night has been scored so far: the trend starts with the next nightly run.")
else:
    measure = st.segmented_control("Measure", ["flagged_accounts", "flagged_requests", "campaigns"],
                                   default="flagged_accounts", key="trend_measure",
                                   format_func=lambda m: m.replace("_", " ")) or "flagged_accounts"
    areas = sorted(trend["area"].unique())
    st.altair_chart(charts.nightly_trend(trend, areas, measure), width="stretch")

st.subheader("What changed since the previous night")
current_night = str(ctx.run.as_of)
earlier = [n for n in nights if n < current_night]
if not earlier:
    st.info("No earlier scored night to compare with.")
else:
    previous = Sm.night(hist, earlier[-1])
    changed = Sm.changes(scores, previous)
    st.markdown(f"Compared with {earlier[-1]}: {Sm.biggest_change(scores, previous, changed)}")
    if changed.empty:
        st.caption("No account or campaign changed status.")
    else:
        st.session_state["_changes_shown"] = list(zip(changed["target_kind"], changed["target_id"]))
        st.dataframe(changed, hide_index=True, key=CHANGES, selection_mode=ui.PICK_ROW, on_select=_open_change,
                     column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("risk_before", "risk_now")})
        st.caption("Click a row to open the account or campaign.")
        opened = st.session_state.pop("_open_after_change", None)
        if opened == "account":
            ui.open_page("accounts")
        elif opened == "campaign":
            ui.open_page("campaigns")

st.subheader("Shift alerts")
shifts = data.shift_alerts(ctx.key)
tonight = shifts[shifts["as_of"].astype(str) == current_night]
if tonight.empty:
    st.info(f"No shift alert on {current_night}: no account or campaign moved a large share of its traffic "
            "to another area overnight" + (f" ({len(shifts)} on earlier nights, below)." if len(shifts) else "."))
for alert in tonight.itertuples():
    st.warning(f"**{alert.target_kind.capitalize()} {ui.code_span(alert.target_id)}** {ui.escape_md(alert.reason)}",
               icon=":material/swap_horiz:")
if len(shifts):
    st.dataframe(shifts, hide_index=True, key="shifts_table",
                 column_config={c: st.column_config.NumberColumn(format="%.2f")
                                for c in ("move_history", "move_previous", "volume_ratio")})
    st.caption("Every night's alerts, newest first: the share of the night's traffic in other areas than the "
               "account's (or campaign's) own history and previous night, and the reason in words.")

canaries = data.canary_history(ctx.ws)
if canaries is not None and len(canaries):
    st.subheader("Canary recall")
    recall = Sm.canary_recall(canaries)
    st.dataframe(recall, hide_index=True, key="canary_table",
                 column_config={c: st.column_config.NumberColumn(format="%.2f")
                                for c in ("recall", "previous", "change", "mean_recall")})
    if canaries["recorded_at"].nunique() > 1:
        st.altair_chart(charts.canary_trend(canaries), width="stretch")
    st.caption("Share of each injected canary campaign's accounts flagged when scored with the real window "
               "(`targeting canary --record`, `targeting score --canaries`): recall for campaigns like the "
               "simulator's, not for designs nobody has simulated.")

st.subheader("Policy report")
st.caption("The report of every scored night (`targeting report`), built when you click: example prompts "
           "redacted (e-mail addresses, URLs, keys, long numbers) unless you ask for them.")
unredacted = st.checkbox("Quote example prompts unredacted", key="report_examples")
buttons = st.container(horizontal=True)  # each button as wide as its label (a column cut it off)
buttons.download_button("Report (HTML)", data=lambda: report_bytes("html", unredacted), mime="text/html",
                        file_name=f"report-{ctx.run.as_of}.html", on_click="ignore", key="dl_report_html",
                        icon=":material/description:")
buttons.download_button("Report (Markdown, zip)", data=lambda: report_bytes("md", unredacted), mime="application/zip",
                        file_name=f"report-{ctx.run.as_of}.zip", on_click="ignore", key="dl_report_md",
                        icon=":material/folder_zip:")

flagged = scores[scores["flagged"].astype(bool)]
if len(flagged):
    st.subheader("Highest-risk flagged accounts")
    top = V.account_table(flagged.sort_values("risk_score", ascending=False).head(10))
    st.dataframe(top[[c for c in ("account_id", "risk_score", "severity", "dominant_area", "campaign_id", "verdict",
                                  "reasons") if c in top]], hide_index=True)
