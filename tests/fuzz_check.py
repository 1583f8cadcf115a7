"""The fuzz oracle: one generated case through ingest and context parsing, checked against
what its rows were made to be (``fuzz_cases``). Shared by ``test_fuzz_ingest.py`` and
``bench/fuzz_ingest.py``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fuzz_cases import LINE_CAP, Case, Row, outcome, write_case
from targeting import schema as S
from targeting.capmap.taxonomy import context_text, tool_lines
from targeting.config import load_settings
from targeting.errors import InputError
from targeting.jobs.stages import ingest

SETTINGS = load_settings(overrides={"ingest": {"max_line_bytes": LINE_CAP}}, environ={})
_NOTHING_STORED = pd.DataFrame({S.REQUEST_ID: [], S.ACCOUNT_ID: [], S.PROMPT_HASH: []})


def run_case(c: Case, folder: Path, name: str = "case") -> str:
    """Write ``c``, ingest it, parse every stored row's context; assert the properties.
    Returns "ok" or "input-error" (a damaged file refused with the documented error)."""
    path = write_case(c, folder, name)
    try:
        got = ingest([path], lambda ids: _NOTHING_STORED, SETTINGS)
    except InputError as exc:
        assert c.damage != "none", f"{path.name}: InputError on an undamaged file: {exc}"
        assert str(path) in str(exc) and "\n" not in str(exc)
        return "input-error"
    assert got.rows_read == len(got.requests) + got.duplicates + got.quarantine.num_rows + got.conflicts.num_rows
    assert got.conflicts.num_rows == 0
    for system, tools in zip(got.requests[S.SYSTEM], got.requests[S.TOOLS]):
        text = context_text(system, tools)
        assert text is None or isinstance(text, str)
        assert all(isinstance(line, str) for line in tool_lines(tools))
    if c.damage == "none":
        _check_outcome(c, got, path)
    return "ok"


def _check_outcome(c: Case, got, path: Path) -> None:
    good, bad, hashed = outcome(c)
    ids = got.requests[S.REQUEST_ID].tolist()
    assert len(ids) == len(set(ids)), "a request stored twice"
    explicit = {i for i in ids if not i.startswith("h-")}
    assert explicit == set(good), f"stored {sorted(explicit)}, expected {sorted(good)}"
    assert len(ids) - len(explicit) == hashed
    quarantined = got.quarantine.to_pylist()
    assert {q["row"]: q["field"] for q in quarantined} == bad
    assert len(quarantined) == len(bad)
    assert all(q["file"] == str(path) and q["reason"] for q in quarantined)
    assert got.duplicates == sum(1 for k, _ in enumerate(c.duplicate_of) if len(c.rows) + k + 1 not in bad)


# --- one scoring pass over many cases --------------------------------------------------------------------

def unique_cases(cases: list[Case]) -> list[Case]:
    """The undamaged cases, their request ids and prompts made unique across cases (``c{k}-``),
    so that one night can hold them all without conflicting duplicates."""
    out = []
    for k, c in enumerate(cases):
        if c.damage != "none":
            continue
        rows = []
        for r in c.rows:
            values = dict(r.values)
            if values.get("request_id"):
                values["request_id"] = f"c{k}-{values['request_id']}"
            if r.expect == "good":  # a blank prompt must stay blank
                values["prompt"] = f"c{k} {values['prompt']}"
            rows.append(Row(values, r.expect, r.raw))
        out.append(Case(c.fmt, rows, list(c.duplicate_of)))
    return out


def score_cases(cases: list[Case], ws: Path, folder: Path, model: Path, day: str) -> dict:
    """Write the undamaged cases into ``folder``, run ``targeting score`` on them into the
    workspace ``ws`` (scored before on clean traffic) for ``day``, and check: exit 0, every
    good row stored once and assigned, every account with a stored row scored. Returns counts."""
    from targeting import workspace as W
    from targeting.cli import main

    cases = unique_cases(cases)
    folder.mkdir(parents=True, exist_ok=True)
    expected_ids, expected_hashed = set(), 0
    for k, c in enumerate(cases):
        write_case(c, folder, f"case{k:05d}")
        good, _, hashed = outcome(c)
        expected_ids |= set(good)
        expected_hashed += hashed
    before = set(W.read_requests(W.open_workspace(ws), [S.REQUEST_ID]).column(0).to_pylist())
    env = {"TARGETING_EMBED__MODEL": str(model), "TARGETING_EMBED__PROGRESS": "false",
           "TARGETING_INGEST__MAX_BAD_SHARE": "1", "TARGETING_INGEST__MAX_LINE_BYTES": str(LINE_CAP)}
    code = _with_env(env, lambda: main(["--quiet", "score", str(folder), "-w", str(ws), "--as-of", day]))
    assert code == 0, f"targeting score exited {code}"
    wsp = W.open_workspace(ws)
    stored = W.read_requests(wsp, [S.REQUEST_ID, S.ACCOUNT_ID]).to_pandas()
    new = stored[~stored[S.REQUEST_ID].isin(before)]
    assert new[S.REQUEST_ID].is_unique, "a request stored twice"
    explicit = set(new[S.REQUEST_ID][~new[S.REQUEST_ID].str.startswith("h-")])
    assert explicit == expected_ids, (f"stored but not expected {sorted(explicit - expected_ids)[:5]}, "
                                      f"expected but not stored {sorted(expected_ids - explicit)[:5]}")
    assert len(new) - len(explicit) == expected_hashed, f"{len(new) - len(explicit)} rows without id, {expected_hashed}"
    assigned = set(W.read_assignments(wsp, [S.REQUEST_ID]).column(0).to_pylist())
    assert set(new[S.REQUEST_ID]) <= assigned, f"not assigned: {sorted(set(new[S.REQUEST_ID]) - assigned)[:5]}"
    scored = set(pd.read_parquet(wsp.scores_path(day))[S.ACCOUNT_ID])
    missing = set(new[S.ACCOUNT_ID]) - scored
    assert not missing, f"{len(missing)} accounts with stored rows not scored, e.g. {sorted(missing)[:3]!r}"
    return {"cases": len(cases), "stored": len(new), "accounts": int(new[S.ACCOUNT_ID].nunique())}


def _with_env(env: dict[str, str], fn):
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, env):
        return fn()


def base_workspace(root: Path) -> tuple[Path, Path]:
    """A workspace scored on one clean simulated night (the map is fitted there), and the
    static model of random word vectors it used (no real model: the scoring pass stays fast)."""
    from datetime import date

    from nightly_traffic import write_bow_model
    from targeting.jobs import score
    from targeting.simulate import SimConfig, simulate

    requests, _ = simulate(SimConfig(seed=2, n_accounts=30, days=2, start="2026-11-01", volume_scale=0.3))
    model = write_bow_model(requests, root / "bow", 32)
    landing = root / "night1.parquet"
    requests[requests["timestamp"].astype(str).str.startswith("2026-11-01")].to_parquet(landing)
    settings = load_settings(overrides={"embed": {"model": str(model), "progress": False}}, environ={})
    score(root / "ws", settings, inputs=[landing], as_of=date(2026, 11, 1))
    return root / "ws", model
