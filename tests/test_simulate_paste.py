"""Unit tests for targeting.simulate.paste: long pasted material (documents, problem sheets,
logs, code, API responses) and how it is attached to a question."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from targeting.simulate import paste as P
from targeting.simulate import text_coding as TC
from targeting.simulate import text_reasoning as TR
from targeting.simulate import text_tools as TT
from targeting.simulate.rand import R

Q = "QUESTION-MARKER: what should I do?"
DATE = "2024-03-01"
REPO = TC.repo(R(0, "repo"), "Python")
ENTS = TT.ENTITY_NAMES[:2]


def attach(seed: int, area: str, **kw) -> str:
    args = dict(topics=TR.TOPICS, date=DATE, repo=REPO, entities=ENTS)
    args.update(kw)
    return P.attach(R(seed, "attach"), Q, area, **args)


def test_target_len_log_uniform_in_bounds():
    r = R(1, "len")
    lens = np.array([P.target_len(r) for _ in range(3000)])
    assert lens.min() >= P.MIN_CHARS and lens.max() <= P.MAX_CHARS * 0.9
    assert np.median(lens) < (P.MIN_CHARS + P.MAX_CHARS * 0.9) / 2  # a few hundred most often


def test_grow_stops_near_the_target_and_never_over_the_cap():
    assert P._grow(lambda: "abcd", 10, "-") == "abcd-abcd-abcd"
    assert P._grow(lambda: "abcd", 100, "-", cap=12) == "abcd-abcd"
    assert P._grow(lambda: "abcd", 100, "-", max_parts=2) == "abcd-abcd"
    assert P._grow(lambda: "x" * 50, 10, "-", cap=20) == "x" * 20  # one piece, cut at the cap


@pytest.mark.parametrize("seed", range(10))
def test_document_bounded(seed):
    r = R(seed, "doc")
    text = P.document(r, P.target_len(r))
    assert 0 < len(text) <= P.MAX_CHARS


@pytest.mark.parametrize("seed", range(10))
def test_sheet_numbers_its_problems(seed):
    r = R(seed, "sheet")
    text, k = P.sheet(r, P.target_len(r), TR.TOPICS)
    numbers = [int(m) for m in re.findall(r"^(\d+)\. ", text, re.M)]
    assert k >= 1 and numbers == list(range(1, k + 1))
    assert len(text) <= P.MAX_CHARS


@pytest.mark.parametrize("seed", range(10))
def test_app_log_lines_dated_and_ends_in_a_trace(seed):
    r = R(seed, "log")
    text = P.app_log(r, P.target_len(r), REPO, DATE)
    assert len(text) <= P.MAX_CHARS
    head = text.split("\nTraceback")[0].splitlines()
    assert head and all(line.startswith(DATE + "T") for line in head)
    assert "Traceback" in text or "Error" in text


@pytest.mark.parametrize("lang", ["Python", "TypeScript", "Go", "Java", "Rust"])
def test_code_is_fenced_in_the_repository_language(lang):
    r = R(1, "code", lang)
    repo = TC.repo(r, lang)
    text = P.code(r, 1500, repo)
    assert text.startswith(f"```{TC.FENCE[lang]}\n")
    assert text.count("```") % 2 == 0
    assert len(text) <= P.MAX_CHARS


@pytest.mark.parametrize("seed", range(10))
def test_api_json_is_a_json_array_of_whole_records(seed):
    r = R(seed, "json")
    text = P.api_json(r, P.target_len(r), ENTS)
    items = json.loads(text)
    assert isinstance(items, list) and 1 <= len(items) <= 30
    assert all(isinstance(i, dict) for i in items)
    assert len(text) <= P.MAX_CHARS or len(items) == 1


@pytest.mark.parametrize("area", ["agentic_coding", "reasoning", "tool_use", "other"])
def test_attach_adds_long_material(area):
    for seed in range(20):
        assert len(attach(seed, area)) >= P.MIN_CHARS * 0.5


@pytest.mark.parametrize("area", ["agentic_coding", "reasoning", "tool_use", "other"])
def test_about_half_the_time_the_question_becomes_one_about_the_material(area):
    kept = np.mean([Q in attach(seed, area) for seed in range(200)])
    assert 0.35 < kept < 0.65


def test_reasoning_ask_names_a_problem_on_the_sheet():
    asks = [re.compile(re.escape(a).replace(r"\{k\}", r"(\d+)")) for a in P._SHEET_ASK]
    checked = 0
    for seed in range(60):
        text = attach(seed, "reasoning")
        if Q in text:
            continue
        (asked,) = [m for a in asks for m in a.findall(text)][:1]
        assert asked in re.findall(r"^(\d+)\. ", text, re.M)
        checked += 1
    assert checked > 10


def test_areas_without_their_inputs_fall_back_to_a_document():
    assert attach(3, "tool_use", entities=None) == attach(3, "other")
    assert attach(3, "agentic_coding", repo=None) == attach(3, "other")


def test_material_before_or_after_the_question():
    before = after = 0
    for seed in range(100):
        text = attach(seed, "other")
        if Q not in text:
            continue
        if text.endswith(Q):
            before += 1
        elif text.startswith(Q):
            after += 1
    assert before > 10 and after > 10


def test_attach_deterministic_by_seed():
    assert attach(5, "agentic_coding") == attach(5, "agentic_coding")
    assert attach(5, "agentic_coding") != attach(6, "agentic_coding")
