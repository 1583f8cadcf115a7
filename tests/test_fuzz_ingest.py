"""Property-based fuzzing of the whole loading path (issue 12): every accepted format, every
column hostile (control and format characters, lone surrogates, invalid UTF-8, ``tools`` and
``system`` JSON of any depth and size), broken lines, records over the cap, broken
compression; through ingest, context parsing and one scoring pass. No crash: a damaged file
is an ``InputError`` naming it; every good row is stored once; every bad row is quarantined
with its file, row and field.

CI runs a small sample: 150 cases through ingest and context parsing (``FUZZ_EXAMPLES``;
about 15 s), and 30 cases through one scoring pass (marker ``slow``: a workspace is scored
first, about 50 s). ``bench/fuzz_ingest.py`` runs 10,000 and more.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_cases import DAY, case  # noqa: E402
from fuzz_check import base_workspace, run_case  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(c=case())
def test_every_case_loads_without_a_crash_and_each_row_lands_once(c):
    with tempfile.TemporaryDirectory() as folder:
        assert run_case(c, Path(folder)) in ("ok", "input-error")


@pytest.fixture(scope="module")
def scored_night(tmp_path_factory):
    """A workspace scored on one clean simulated night (the map is fitted there), and a static
    model of random word vectors (no real model: the scoring pass stays fast)."""
    return base_workspace(tmp_path_factory.mktemp("fuzz-score"))


@pytest.mark.slow  # runs the whole pipeline (with a static model of random vectors)
@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases=st.lists(case(), min_size=30, max_size=30))
def test_one_scoring_pass_over_fuzzed_files_scores_every_stored_row(scored_night, cases):
    from fuzz_check import score_cases

    ws, model = scored_night
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(ws, Path(tmp) / "ws"))
        counts = score_cases(cases, copy, Path(tmp) / "landing", model, DAY)
    assert counts["cases"] >= 1
