"""A night's per-account activity: partial aggregates that merge by sum, min and max.

``partial_activity`` summarises any slice of a night's assigned requests as one row per
(account, day, area, cluster): requests, first and last timestamp. Partials of disjoint
slices merge (``merge_activity``: sum, min, max) into the partial of their union, in any
order, so the Ray engine (``targeting.engines.ray_data``) computes them in its workers, one per
batch, and merges them on the driver without moving a request row; the local engine
computes one partial over the whole night. ``account_activity`` turns a partial into the
night's per-account summary that the nightly job writes with each night
(``nights/as_of=DAY.accounts.parquet``, one row per account with new requests): requests,
first and last seen, days and clusters touched, requests per area.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd
import pyarrow as pa

from targeting import schema as S

KEYS = (S.ACCOUNT_ID, S.DATE, S.AREA, S.CLUSTER_ID)
REQUESTS = "requests"
FIRST_SEEN = "first_seen"
LAST_SEEN = "last_seen"
DAYS = "days"  # distinct UTC days with new requests
CLUSTERS = "clusters"  # distinct clusters of the map touched


def requests_column(area: str) -> str:
    """Name of the column holding an account's new requests in ``area``."""
    return f"requests_{area}"


def _empty_partial() -> pd.DataFrame:
    return pd.DataFrame({
        S.ACCOUNT_ID: pd.Series(dtype=object), S.DATE: pd.Series(dtype=object), S.AREA: pd.Series(dtype=object),
        S.CLUSTER_ID: pd.Series(dtype=object), REQUESTS: pd.Series(dtype="int64"),
        FIRST_SEEN: pd.Series(dtype="datetime64[us, UTC]"), LAST_SEEN: pd.Series(dtype="datetime64[us, UTC]"),
    })


def partial_activity(assigned: pd.DataFrame) -> pd.DataFrame:
    """One row per (account, day, area, cluster) of ``assigned`` (rows of the assignment
    table): requests, first and last timestamp."""
    if assigned.empty:
        return _empty_partial()
    frame = pd.DataFrame({k: assigned[k].to_numpy(dtype=object) for k in KEYS})
    frame["ts"] = pd.to_datetime(assigned[S.TIMESTAMP], utc=True).to_numpy()
    out = frame.groupby(list(KEYS), sort=True).agg(
        **{REQUESTS: ("ts", "size"), FIRST_SEEN: ("ts", "min"), LAST_SEEN: ("ts", "max")}
    )
    return _typed(out.reset_index())


def merge_activity(partials: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The partial of the union of the slices whose partials are given (sum, min, max)."""
    parts = [p for p in partials if len(p)]
    if not parts:
        return _empty_partial()
    if len(parts) == 1:
        return _typed(parts[0].sort_values(list(KEYS), ignore_index=True))
    frame = pd.concat(parts, ignore_index=True)
    out = frame.groupby(list(KEYS), sort=True).agg(
        **{REQUESTS: (REQUESTS, "sum"), FIRST_SEEN: (FIRST_SEEN, "min"), LAST_SEEN: (LAST_SEEN, "max")}
    )
    return _typed(out.reset_index())


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Keys as Python objects, counts int64, timestamps UTC microseconds: one layout whatever
    path (pandas or Arrow) a partial took."""
    out = frame[[*KEYS, REQUESTS, FIRST_SEEN, LAST_SEEN]].copy()
    for k in KEYS:
        out[k] = out[k].to_numpy(dtype=object)
    out[REQUESTS] = out[REQUESTS].astype("int64")
    for c in (FIRST_SEEN, LAST_SEEN):
        out[c] = pd.to_datetime(out[c], utc=True).astype("datetime64[us, UTC]")
    return out.reset_index(drop=True)


def partial_to_arrow(partial: pd.DataFrame) -> pa.Table:
    """A partial as an Arrow table (what a Ray worker returns)."""
    return pa.Table.from_pandas(_typed(partial), preserve_index=False)


def account_activity(partial: pd.DataFrame, areas: Sequence[str]) -> pd.DataFrame:
    """One row per account of a (merged) partial: requests, first and last seen, days and
    clusters touched, requests per area (one column per area of the map, in its order)."""
    columns = [S.ACCOUNT_ID, REQUESTS, FIRST_SEEN, LAST_SEEN, DAYS, CLUSTERS, *map(requests_column, areas)]
    if partial.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c == S.ACCOUNT_ID else "int64") for c in columns}).astype(
            {FIRST_SEEN: "datetime64[us, UTC]", LAST_SEEN: "datetime64[us, UTC]"})
    by_account = partial.groupby(S.ACCOUNT_ID, sort=True)
    out = by_account.agg(**{
        REQUESTS: (REQUESTS, "sum"), FIRST_SEEN: (FIRST_SEEN, "min"), LAST_SEEN: (LAST_SEEN, "max"),
        DAYS: (S.DATE, "nunique"), CLUSTERS: (S.CLUSTER_ID, "nunique"),
    })
    per_area = partial.pivot_table(index=S.ACCOUNT_ID, columns=S.AREA, values=REQUESTS, aggfunc="sum", fill_value=0)
    per_area = per_area.reindex(index=out.index, columns=list(areas), fill_value=0).astype("int64")
    out = out.join(per_area.rename(columns=requests_column))
    out = out.astype({REQUESTS: "int64", DAYS: "int64", CLUSTERS: "int64"})
    return out.reset_index()[columns]


def activity_table(activity: pd.DataFrame, as_of: str, run_id: str) -> pa.Table:
    """The stored form: ``activity`` with the night and the run that wrote it."""
    frame = activity.copy()
    frame.insert(0, "as_of", as_of)
    frame["run_id"] = run_id
    return pa.Table.from_pandas(frame, preserve_index=False)
