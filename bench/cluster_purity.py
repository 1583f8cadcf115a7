"""Benchmark: how well a workspace's map clusters separate the true capability areas.

    .venv/bin/python bench/cluster_purity.py --workspace WS --request-labels LABELS.parquet

``LABELS`` holds ``request_id`` and ``area`` (a labelled set's ``request_labels.parquet``, or
the ``truth/request_labels.parquet`` that ``bench/detection.py`` writes for the simulator).
Prints, over the requests of the workspace's latest assignments that have a label:

- cluster purity: the share of requests whose cluster's most common true area is their own
  (weighted by requests; 1.0 when no cluster mixes areas);
- the same per area, the number of clusters and the largest cluster's share;
- the latest ``run`` manifest's fit-map seconds and its load average, when recorded.

Read-only: nothing is written to the workspace.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from targeting import workspace as W


def cluster_purity(assigned: pd.DataFrame, labels: pd.DataFrame) -> dict:
    """Purity figures of ``assigned`` (request_id, cluster_id) against ``labels`` (request_id, area)."""
    both = assigned.merge(labels[["request_id", "area"]], on="request_id", how="inner")
    if both.empty:
        raise SystemExit("no assigned request has a label: is this the labels file of this traffic?")
    counts = both.groupby(["cluster_id", "area"]).size().rename("n").reset_index()
    majority = counts.sort_values("n", ascending=False).drop_duplicates("cluster_id").set_index("cluster_id")["area"]
    both["hit"] = both["cluster_id"].map(majority) == both["area"]
    sizes = both["cluster_id"].value_counts()
    return {
        "requests": int(len(both)),
        "clusters": int(both["cluster_id"].nunique()),
        "purity": round(float(both["hit"].mean()), 4),
        "purity_by_area": {a: round(float(g["hit"].mean()), 4) for a, g in both.groupby("area")},
        "largest_cluster_share": round(float(sizes.iloc[0] / len(both)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--request-labels", required=True)
    args = parser.parse_args()
    ws = W.open_workspace(args.workspace)
    assigned = W.read_assignments(ws, ["request_id", "cluster_id"]).to_pandas()
    figures = cluster_purity(assigned, pd.read_parquet(args.request_labels))
    manifests = W.run_ids(ws, "run")
    if manifests:
        manifest = W.read_manifest(ws, manifests[-1])
        figures["fit_map_s"] = manifest.get("timings", {}).get("fit map")
        figures["load_average"] = manifest.get("load_average")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
