"""Unit tests for targeting.ingest.values: canonical JSON, control characters, UTF-8 repair,
text of numbers, tools canonicalisation, quarantine raw rows."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

from targeting.ingest.base import RAW_PROMPT_CHARS, RAW_TEXT_CHARS
from targeting.ingest.values import (
    as_text, canon_json, canonical_tools, clean_text, extras_json, is_blank, optional_text,
    pylist, raw_json, safe_text, sha256_array, str_array,
)
from targeting.jsonlimits import MAX_DEPTH


def invalid_utf8(*values: bytes | None) -> pa.Array:
    """A string array holding bytes that are not UTF-8 (as Parquet may hand over)."""
    return pa.array(list(values), pa.binary()).view(pa.string())


# -- canonical JSON ---------------------------------------------------------------------------

def test_canon_json_sorted_compact_keys():
    assert canon_json({"b": 1, "a": {"d": 2, "c": 3}}) == '{"a":{"c":3,"d":2},"b":1}'


def test_canon_json_same_text_whatever_the_key_order():
    assert canon_json({"x": 1, "y": [1, 2]}) == canon_json({"y": [1, 2], "x": 1})


def test_canon_json_drops_null_members_at_any_depth():
    assert canon_json({"a": None, "b": {"c": None, "d": 1}}) == '{"b":{"d":1}}'


def test_canon_json_keeps_nulls_inside_lists():
    assert canon_json([1, None]) == "[1,null]"


def test_canon_json_integral_floats_become_ints():
    assert canon_json({"a": 1.0, "b": [2.0, 2.5], "c": -0.0}) == '{"a":1,"b":[2,2.5],"c":0}'


def test_canon_json_large_integral_floats_stay_floats():
    # beyond 2**53 a float is not an exact integer any more
    assert canon_json(2.0**53) == "9007199254740992.0"
    assert canon_json(2.0**53 - 1) == "9007199254740991"


def test_canon_json_non_finite_become_null_and_are_dropped_as_members():
    assert canon_json([float("nan"), float("inf")]) == "[null,null]"
    assert canon_json({"a": float("-inf"), "b": 1}) == '{"b":1}'


def test_canon_json_times_bytes_and_unicode():
    value = {"d": date(2024, 3, 1), "t": datetime(2024, 3, 1, 12, tzinfo=timezone.utc),
             "b": b"caf\xc3\xa9", "u": "日本"}
    assert json.loads(canon_json(value)) == {
        "b": "café", "d": "2024-03-01", "t": "2024-03-01T12:00:00+00:00", "u": "日本"}
    assert "日本" in canon_json(value)  # not \u-escaped


def test_canon_json_non_string_keys_become_text():
    assert canon_json({1: "a"}) == '{"1":"a"}'


# -- control characters -----------------------------------------------------------------------

def test_clean_text_removes_control_characters_but_keeps_newline_tab_cr():
    out = clean_text(pa.array(["a\x00b\x07c\x1bd\x7fe\x85f\x9fg", "l1\nl2\tx\ry", None]))
    assert out.to_pylist() == ["abcdefg", "l1\nl2\tx\ry", None]


def test_clean_text_keeps_format_characters_that_are_not_controls():
    assert clean_text(pa.array(["a\u200bb\u00a0c"])).to_pylist() == ["a\u200bb\u00a0c"]


def test_optional_text_strip_trims_and_blank_becomes_null():
    out = optional_text(pa.array([" a ", "   ", "", None]), strip=True)
    assert out.to_pylist() == ["a", None, None, None]


def test_optional_text_without_strip_keeps_spaces_and_cleans_controls():
    out = optional_text(pa.array([" a\x00 ", "\x00\x01", None]), strip=False)
    assert out.to_pylist() == [" a ", None, None]


def test_optional_text_of_numbers_and_json_values():
    assert optional_text(pa.array([7, None]), strip=True).to_pylist() == ["7", None]
    assert optional_text(pa.array([{"b": 1.0, "a": None}]), strip=True).to_pylist() == ['{"b":1}']


def test_is_blank():
    assert is_blank(pa.array(["", " \t\n", None, "x", " x "])).to_pylist() == [
        True, True, True, False, False]


# -- UTF-8 repair -----------------------------------------------------------------------------

def test_as_text_repairs_invalid_utf8_with_replacement_character():
    text, not_text = as_text(invalid_utf8(b"ok", b"a\xffb", None), numbers=False, other=False)
    assert text.to_pylist() == ["ok", "a\ufffdb", None]
    assert not not_text.any()
    text.validate(full=True)


def test_pylist_repairs_invalid_utf8():
    assert pylist(invalid_utf8(b"\xc3\x28", b"fine")) == ["\ufffd(", "fine"]


def test_binary_values_are_decoded_as_text():
    text, not_text = as_text(pa.array([b"caf\xc3\xa9", b"\xff", None]), numbers=False, other=False)
    assert text.to_pylist() == ["café", "\ufffd", None]
    assert not not_text.any()


def test_safe_text_replaces_lone_surrogates():
    assert safe_text("a\udc80b") == "a\ufffdb"
    assert safe_text("plain é") == "plain é"


def test_str_array_never_fails_on_surrogates_and_stringifies_others():
    assert str_array(["a\udc80", None, 5]).to_pylist() == ["a\ufffd", None, "5"]


# -- text of numbers and other types ----------------------------------------------------------

def test_text_of_numbers_integral_floats_without_decimal_point():
    text, not_text = as_text(pa.array([3.0, 2.5, -1.0, float("nan"), float("inf"), None]),
                             numbers=True, other=False)
    assert text.to_pylist() == ["3", "2.5", "-1", None, None, None]
    assert not not_text.any()


def test_text_of_integers():
    assert as_text(pa.array([12, -3, None]), numbers=True, other=False)[0].to_pylist() == [
        "12", "-3", None]


def test_numbers_not_allowed_are_flagged_not_text():
    text, not_text = as_text(pa.array([1, None]), numbers=False, other=False)
    assert text.to_pylist() == [None, None]
    assert not_text.tolist() == [True, False]  # a null is missing, not "not text"


def test_booleans_and_structures_flagged_unless_other():
    _, not_text = as_text(pa.array([True, None]), numbers=True, other=False)
    assert not_text.tolist() == [True, False]
    text, not_text = as_text(pa.array([True, False]), numbers=False, other=True)
    assert text.to_pylist() == ["true", "false"] and not not_text.any()


def test_other_lists_and_structs_become_canonical_json():
    text, _ = as_text(pa.array([[1, 2], None]), numbers=False, other=True)
    assert text.to_pylist() == ["[1,2]", None]
    text, _ = as_text(pa.array([{"b": 1.0, "a": None}]), numbers=False, other=True)
    assert text.to_pylist() == ['{"b":1}']


def test_dictionary_and_null_arrays():
    text, _ = as_text(pa.array(["x", "y", "x"]).dictionary_encode(), numbers=False, other=False)
    assert text.to_pylist() == ["x", "y", "x"]
    text, not_text = as_text(pa.nulls(2), numbers=False, other=False)
    assert text.to_pylist() == [None, None] and not not_text.any()


# -- tools ------------------------------------------------------------------------------------

def test_canonical_tools_same_tools_same_text():
    out = canonical_tools(pa.array(['{"b":1,"a":2}', ' { "a" : 2.0, "b": 1 } ', '[{"z":1.0}]']))
    assert out.to_pylist() == ['{"a":2,"b":1}', '{"a":2,"b":1}', '[{"z":1}]']


def test_canonical_tools_keeps_unparsable_scalars_and_nulls_as_they_are():
    values = ["not json", '"just a string"', "42", None, '{"a":1']
    assert canonical_tools(pa.array(values)).to_pylist() == values


def test_canonical_tools_keeps_too_deep_json_as_it_is():
    deep = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    assert canonical_tools(pa.array([deep])).to_pylist() == [deep]


def test_canonical_tools_all_null():
    assert canonical_tools(pa.nulls(2, pa.string())).to_pylist() == [None, None]


# -- extras (metadata) ------------------------------------------------------------------------

def test_extras_json_sorted_nulls_left_out_same_as_canon_json():
    b = pa.record_batch({"prompt": ["p", "q"], "zeta": [1.0, None], "alpha": ["x", None],
                         "mid": [{"k": 1.0, "j": None}, None]})
    out = extras_json(b, [1, 2, 3], empty_is_null=True).to_pylist()
    assert out[0] == canon_json({"zeta": 1.0, "alpha": "x", "mid": {"k": 1.0, "j": None}})
    assert out[0] == '{"alpha":"x","mid":{"k":1},"zeta":1}'
    assert out[1] is None  # a row without any extra value


def test_extras_json_non_finite_floats_left_out_like_canon_json():
    """As the JSON Lines Python path writes them: the same metadata whichever path read the row."""
    b = pa.record_batch({"x": [float("nan"), float("inf")], "y": ["a", None]})
    out = extras_json(b, [0, 1], empty_is_null=True).to_pylist()
    assert out[0] == canon_json({"x": float("nan"), "y": "a"}) == '{"y":"a"}'
    assert out[1] is None  # no extra with a value


def test_extras_json_empty_text_null_or_kept():
    b = pa.record_batch({"a": ["", "v"]})
    assert extras_json(b, [0], empty_is_null=True).to_pylist() == [None, '{"a":"v"}']
    assert extras_json(b, [0], empty_is_null=False).to_pylist() == ['{"a":""}', '{"a":"v"}']


def test_extras_json_escapes_text_and_keeps_types():
    b = pa.record_batch({"q": ['say "hi"\n\\'], "n": [3], "t": [True]})
    out = extras_json(b, [0, 1, 2], empty_is_null=True).to_pylist()[0]
    assert json.loads(out) == {"n": 3, "q": 'say "hi"\n\\', "t": True}


def test_extras_json_first_of_duplicate_names_wins_and_utf8_repaired():
    b = pa.record_batch([pa.array(["first"]), pa.array(["second"]), invalid_utf8(b"a\xff")],
                        names=["k", "k", "bad"])
    assert extras_json(b, [0, 1, 2], empty_is_null=True).to_pylist() == [
        '{"bad":"a\ufffd","k":"first"}']


# -- hashing ----------------------------------------------------------------------------------

def test_sha256_array_of_utf8_and_null():
    out = sha256_array(pa.array(["abc", "é", None])).to_pylist()
    assert out[0] == hashlib.sha256(b"abc").hexdigest()
    assert out[1] == hashlib.sha256("é".encode()).hexdigest()
    assert out[2] is None


# -- quarantine raw rows ----------------------------------------------------------------------

def test_raw_json_cuts_prompt_at_200_chars():
    raw = json.loads(raw_json({"prompt": "p" * 300, "ok": "p" * RAW_PROMPT_CHARS}))
    assert raw["prompt"] == "p" * RAW_PROMPT_CHARS + "…"
    assert raw["ok"] == "p" * RAW_PROMPT_CHARS  # other fields: the text cap


def test_raw_json_cuts_other_text_at_1000_chars():
    raw = json.loads(raw_json({"system": "s" * 1500, "fits": "f" * RAW_TEXT_CHARS}))
    assert raw["system"] == "s" * RAW_TEXT_CHARS + "…"
    assert raw["fits"] == "f" * RAW_TEXT_CHARS


def test_raw_json_prompt_cap_only_for_the_top_level_field():
    raw = json.loads(raw_json({"extra": {"prompt": "z" * 300}}))
    assert raw["extra"]["prompt"] == "z" * 300


def test_raw_json_keeps_key_order_and_handles_odd_values():
    text = raw_json({"z": float("nan"), "a": b"bytes", "m": 1})
    assert text == '{"z":"nan","a":"bytes","m":1}'


def test_raw_json_cuts_long_lists_and_deep_nesting():
    assert json.loads(raw_json({"l": list(range(60))}))["l"] == list(range(50)) + ["…"]
    deep: dict = {}
    node = deep
    for _ in range(12):
        node["a"] = {}
        node = node["a"]
    text = raw_json(deep)
    assert text.count("{") == 8 and text.endswith('"…"' + "}" * 8)


def test_raw_json_of_unparsable_record_text():
    assert raw_json('broken {"') == '"broken {\\""'
