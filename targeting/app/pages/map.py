"""Capability map: prompts in 2-D, clusters with their topic phrases, the accounts living in each, search."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from targeting.app import charts, data
from targeting.app import views as V
from targeting.app import widgets as ui
from targeting.app.main import page_context
from targeting.capmap import CapabilityMap
from targeting.capmap.labels import cluster_terms

CLUSTERS = "clusters_table"
MAP = "map_chart"


def _picked_on_map() -> None:
    event = st.session_state.get(MAP)
    cluster = V.picked_value(event.selection if event is not None else None, charts.PICK, "cluster_id")
    if cluster and cluster != V.NOISE:
        ui.select(ui.SELECTED_CLUSTER, cluster)


def the_map(points: pd.DataFrame, labels: pd.DataFrame, density: pd.DataFrame, areas: list[str],
            n_anchors: int) -> None:
    left, middle, right = st.columns([3, 1, 1])
    colour = left.radio("Colour by", ["area", "cluster"], horizontal=True, key="map_colour")
    crowded = middle.toggle("Density", value=True, key="map_density",
                            help="Shade the map where its prompts crowd, so clusters read as regions.")
    named = right.toggle("Names on the map", value=True, key="map_names")
    chart = charts.capability_map(points, colour_by=colour, areas=areas, selected=ui.selected(ui.SELECTED_CLUSTER),
                                  labels=labels if named else None, density=density if crowded else None)
    st.altair_chart(chart, width="stretch", key=MAP, on_select=_picked_on_map, selection_mode=charts.PICK)
    st.caption(f"{len(points):,} of the {n_anchors:,} prompts the map was fitted on (a fixed sample, for speed). "
               "Areas are named at the middle of their clusters, the largest clusters at the middle of "
               "their prompts; the grey shade is how crowded each part is. Click a point to select its cluster.")


def cluster_detail(cmap: CapabilityMap, clusters: pd.DataFrame, counts: pd.DataFrame, scores: pd.DataFrame,
                   full: bool) -> None:
    cluster = ui.synced_selectbox("Cluster", clusters["cluster_id"].tolist(), ui.SELECTED_CLUSTER, "cluster_pick",
                                  format_func=lambda c: _label(clusters, c))
    if not cluster:
        st.info("Select a cluster in the table, on the map or above.")
        return
    meta = next((c for c in cmap.clusters if c["cluster_id"] == cluster), None)
    if meta is None:
        st.warning(f"Cluster {ui.code_span(cluster)} is not on the current map.")
        return
    row = clusters.set_index("cluster_id").loc[cluster]
    c = st.columns(4)
    c[0].metric("Area", str(row["area"]).replace("_", " "))
    c[1].metric("Requests in this run", f"{int(row['requests']):,}")
    c[2].metric("Accounts", f"{int(row['accounts']):,}")
    c[3].metric("Flagged accounts", f"{int(row['flagged_accounts']):,}")
    st.markdown(f"**Topics**: {ui.escape_md(', '.join(cluster_terms(meta)))}")
    left, right = st.columns(2)
    with left:
        st.markdown("**Representative prompts**")
        ui.prompts(list(meta.get("examples", []))[:5], full)
    with right:
        st.markdown("**Accounts most concentrated here** (share of their own requests)")
        top = V.cluster_accounts(counts, cluster, scores)
        st.dataframe(top, hide_index=True, key="cluster_accounts", selection_mode=ui.PICK_ROW,
                     on_select=ui.table_select_callback("cluster_accounts", top["account_id"].tolist(),
                                                        ui.SELECTED_ACCOUNT),
                     column_config={"share": st.column_config.ProgressColumn(format="%.0f%%", min_value=0, max_value=1),
                                    "risk_score": st.column_config.NumberColumn("risk", format="%.3f")})
        account = ui.selected(ui.SELECTED_ACCOUNT)
        if account and st.button(f"Open account {account}", key="open_account_from_cluster"):
            ui.open_page("accounts")


def _label(clusters: pd.DataFrame, cluster_id: str) -> str:
    hit = clusters[clusters["cluster_id"] == cluster_id]
    if hit.empty:
        return cluster_id
    row = hit.iloc[0]
    return f"{cluster_id} · {row['area']} · {row['keywords'][:60]}"


def search_box(ctx: data.Context, scores: pd.DataFrame, full: bool) -> None:
    st.subheader("Search prompts")
    query = st.text_input("Find stored prompts close to a text", key="search_query",
                          placeholder="e.g. prove that the sum of two odd numbers is even")
    if not query.strip():
        return
    with st.spinner("Embedding the query and searching…"):
        hits, problem = data.search(ctx.key, query.strip())
    if hits is None:
        st.warning(f"Search is unavailable: {problem}.")
        return
    flagged = set(scores.loc[scores["flagged"].astype(bool), "account_id"])
    view = pd.DataFrame({
        "similarity": hits["similarity"],
        "prompt": hits["prompt"] if full else hits["prompt"].map(V.truncate),
        "requests": hits["requests"],
        "accounts": hits["accounts"].map(lambda a: len(a) if a is not None else 0),
        "flagged accounts": hits["accounts"].map(lambda a: sum(x in flagged for x in a) if a is not None else 0),
        "first accounts": hits["accounts"].map(lambda a: ", ".join(sorted(a)[:3]) if a is not None else ""),
    })
    st.dataframe(view, hide_index=True, column_config={"similarity": st.column_config.NumberColumn(format="%.3f")})
    found = sorted({a for acc in hits["accounts"] if acc is not None for a in acc},
                   key=lambda a: (a not in flagged, a))
    pick = st.selectbox("Open an account from the results", [None, *found], key="search_account",
                        format_func=lambda a: "—" if a is None else (f"{a} (flagged)" if a in flagged else a))
    if pick and st.button(f"Open {pick}", key="open_account_from_search"):
        ui.open_page("accounts", selected_account=pick)


ctx = page_context()
scores = data.current_scores(ctx)
st.title("Capability map")
cmap = data.capability_map(ctx.key.root, ctx.key.map_id)
if cmap is None:
    st.info("This workspace has no capability map yet (or its files are missing): `targeting run` fits one.")
    st.stop()
if scores is None:
    st.info("The run shown has no scores to place on the map.")
    st.stop()
full = ui.full_text_toggle()
points = data.map_points(ctx.key.root, ctx.key.map_id)
areas = [*cmap.areas, V.NOISE]
the_map(points, data.map_labels(ctx.key.root, ctx.key.map_id), data.map_density(ctx.key.root, ctx.key.map_id), areas,
        len(cmap.anchor_xy))
counts = data.cluster_counts(ctx.key)
clusters = data.cluster_table(ctx)
st.subheader(f"Clusters ({len(clusters)})")
area_pick = st.segmented_control("Area", ["all", *cmap.areas], default="all", key="cluster_area")
listed = clusters if area_pick in (None, "all") else clusters[clusters["area"] == area_pick].reset_index(drop=True)
st.dataframe(listed, hide_index=True, height=300, key=CLUSTERS, selection_mode=ui.PICK_ROW,
             on_select=ui.table_select_callback(CLUSTERS, listed["cluster_id"].tolist(), ui.SELECTED_CLUSTER),
             column_config={"keywords": st.column_config.TextColumn("topics")})
cluster_detail(cmap, clusters, counts, scores, full)
st.divider()
search_box(ctx, scores, full)
