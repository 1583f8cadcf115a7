"""A night's per-account activity: partials of any split merge into the partial of the whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting import activity as A
from targeting import schema as S

AREAS = ("reasoning", "tool_use", "agentic_coding", "other")


def _assigned(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 2 * 86_400, n), unit="s")
    return pd.DataFrame({
        S.REQUEST_ID: [f"r{i}" for i in range(n)],
        S.ACCOUNT_ID: rng.choice([f"acct-{i}" for i in range(12)], n),
        S.TIMESTAMP: ts,
        S.PROMPT_HASH: [f"h{i}" for i in rng.integers(0, 50, n)],
        S.AREA: rng.choice(AREAS[:3], n),  # one area never used: its column is all zeros
        S.CLUSTER_ID: rng.choice([f"c{i}" for i in range(7)], n),
        "distance": rng.random(n).astype(np.float32),
        S.DATE: ts.date,
    })


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partials_of_any_split_merge_into_the_partial_of_the_whole(seed):
    frame = _assigned(500, seed)
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, len(frame)), 6, replace=False))
    shuffled = frame.sample(frac=1, random_state=seed)
    pieces = [shuffled.iloc[a:b] for a, b in zip([0, *cuts], [*cuts, len(frame)])]
    merged = A.merge_activity([A.partial_activity(p) for p in pieces])
    pd.testing.assert_frame_equal(merged, A.partial_activity(frame))
    # folding one partial at a time, as the Ray driver does, gives the same
    folded = A.merge_activity([])
    for piece in pieces:
        folded = A.merge_activity([folded, A.partial_activity(piece)])
    pd.testing.assert_frame_equal(folded, merged)


def test_account_activity_counts_each_account_directly():
    frame = _assigned(400, 7)
    got = A.account_activity(A.partial_activity(frame), AREAS).set_index(S.ACCOUNT_ID)
    by = frame.groupby(S.ACCOUNT_ID)
    assert (got[A.REQUESTS] == by.size()).all()
    assert (got[A.FIRST_SEEN] == by[S.TIMESTAMP].min()).all() and (got[A.LAST_SEEN] == by[S.TIMESTAMP].max()).all()
    assert (got[A.DAYS] == by[S.DATE].nunique()).all() and (got[A.CLUSTERS] == by[S.CLUSTER_ID].nunique()).all()
    for area in AREAS:
        want = frame[frame[S.AREA] == area].groupby(S.ACCOUNT_ID).size().reindex(got.index, fill_value=0)
        assert (got[A.requests_column(area)] == want).all()
    assert (got[A.requests_column("other")] == 0).all()


def test_an_empty_night_has_an_empty_activity_with_every_column():
    empty = A.account_activity(A.merge_activity([]), AREAS)
    assert empty.empty and list(empty.columns)[-len(AREAS):] == [A.requests_column(a) for a in AREAS]
    assert A.partial_activity(_assigned(0, 0)).empty
