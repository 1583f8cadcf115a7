"""Unit tests for targeting.indicators.keys: keyed hashes of account ids, domain-separated
digests, the canonical tool set and the per-account keys of a few hand-made requests."""

from __future__ import annotations

import hashlib
import hmac
import re

import pandas as pd
import pytest

from targeting.indicators.keys import (
    DIGEST_HEX, KEY_COLUMNS, KINDS, SCHEME_VERSION, account_ref, digest, key_scheme, request_keys,
    tool_set_raw,
)

SECRET = b"provider-secret-1"
HEX64 = re.compile(r"^[0-9a-f]{64}$")

PROMPT = ("Please solve the following problem step by step and explain your reasoning in full "
          "detail: what is 17 times 23 and why does it matter for the final answer here")
SYSTEM = ("You are an expert assistant that always answers in great detail with many examples "
          "and careful reasoning about every step of the problem you are given")


# -- account_ref: the keyed hash --------------------------------------------------------------

def test_account_ref_is_hmac_sha256_hex():
    ref = account_ref(SECRET, "acct-1")
    assert ref == hmac.new(SECRET, b"acct-1", hashlib.sha256).hexdigest()
    assert HEX64.match(ref)


def test_account_ref_same_input_same_ref():
    assert account_ref(SECRET, "acct-1") == account_ref(SECRET, "acct-1")


def test_account_ref_differs_by_secret_and_by_account():
    ref = account_ref(SECRET, "acct-1")
    assert account_ref(b"provider-secret-2", "acct-1") != ref
    assert account_ref(SECRET, "acct-2") != ref
    assert account_ref(SECRET, "acct-1 ") != ref  # ids are exact


def test_account_ref_is_not_a_plain_hash_and_holds_no_clear_text():
    account = "alice@example.com"
    ref = account_ref(SECRET, account)
    assert ref != hashlib.sha256(account.encode()).hexdigest()  # needs the secret to test a guess
    assert account not in ref and "alice" not in ref


def test_account_ref_of_unicode_and_lone_surrogates():
    assert account_ref(SECRET, "é") == hmac.new(SECRET, "é".encode(), hashlib.sha256).hexdigest()
    assert HEX64.match(account_ref(SECRET, "bad\udc80id"))  # never raises
    assert account_ref(SECRET, "bad\udc80id") != account_ref(SECRET, "bad\ufffdid")


def test_account_ref_of_non_text_id_uses_its_text():
    assert account_ref(SECRET, 42) == account_ref(SECRET, "42")


# -- digest and scheme ------------------------------------------------------------------------

def test_digest_is_domain_separated_truncated_sha256():
    d = digest("s", "tool_set", "raw")
    assert d == hashlib.sha256(b"s|tool_set|raw").hexdigest()[:DIGEST_HEX]
    assert len(d) == DIGEST_HEX == 32


def test_digest_differs_by_scheme_kind_and_raw():
    d = digest("s1", "template", "k")
    assert digest("s2", "template", "k") != d
    assert digest("s1", "system_family", "k") != d
    assert digest("s1", "template", "k2") != d
    assert "k" not in digest("s", "template", "secret prompt")


def test_key_scheme_names_version_and_depends_on_seed():
    assert key_scheme(0).startswith(f"targeting-indicators/{SCHEME_VERSION}/")
    assert key_scheme(0) == key_scheme(0)
    assert key_scheme(0) != key_scheme(1)


# -- tool_set_raw -----------------------------------------------------------------------------

def test_tool_set_same_tools_any_order_or_spacing():
    a = tool_set_raw('[{"name":"f","p":{"b":1,"a":2}},{"name":"g"}]')
    b = tool_set_raw(' [ {"name": "g"}, {"p": {"a": 2, "b": 1}, "name": "f"} ] ')
    assert a == b == '{"name":"f","p":{"a":2,"b":1}}\n{"name":"g"}'


def test_tool_set_duplicates_collapse():
    assert tool_set_raw('[{"a":1},{"a":1}]') == '{"a":1}'


@pytest.mark.parametrize("tools,raw", [
    (None, None), ("", None), ("   ", None), (7, None),
    ("[]", "[]"),  # an empty list: kept as text
    (' {"a": 1} ', '{"a": 1}'),  # not a list: the text, stripped
    (" not json ", "not json"),
])
def test_tool_set_edge_cases(tools, raw):
    assert tool_set_raw(tools) == raw


# -- request_keys -----------------------------------------------------------------------------

def requests(**over) -> pd.DataFrame:
    base = {
        "account_id": ["a", "b", "c"],
        "prompt_hash": ["h1", "h2", "h3"],
        "prompt": [PROMPT, PROMPT.replace("17 times 23", "42 times 99"), "hi"],
        "context_hash": ["c1", "c2", None],
        "system": [SYSTEM, SYSTEM, None],
        "tools": ['[{"name":"f"},{"name":"g"}]', '[{"name":"g"}, {"name":"f"}]', None],
        "ip": ["10.1.2.3", "10.1.2.99", "not-an-ip"],
    }
    base.update(over)
    return pd.DataFrame(base)


def keys_of(k: pd.DataFrame, kind: str, account: str) -> set[str]:
    return set(k.loc[(k["kind"] == kind) & (k["account_id"] == account), "key"])


def test_request_keys_columns_kinds_and_no_duplicates():
    k = request_keys(requests())
    assert list(k.columns) == list(KEY_COLUMNS)
    assert set(k["kind"]) == set(KINDS)
    assert not k.duplicated().any()


def test_request_keys_is_deterministic():
    pd.testing.assert_frame_equal(request_keys(requests()), request_keys(requests()))


def test_variants_of_a_template_share_template_keys():
    k = request_keys(requests())
    a, b = (keys_of(k, "template", x) for x in ("a", "b"))
    assert a and b and a & b


def test_same_system_prompt_and_tool_set_meet_across_accounts():
    k = request_keys(requests())
    assert keys_of(k, "system_family", "a") == keys_of(k, "system_family", "b") != set()
    tools_a, tools_b = keys_of(k, "tool_set", "a"), keys_of(k, "tool_set", "b")
    assert tools_a == tools_b and len(tools_a) == 1


def test_digests_hold_no_clear_text_and_depend_on_seed():
    k = request_keys(requests())
    hashed = k[k["kind"] != "address_range"]
    assert hashed["key"].str.fullmatch(r"[0-9a-f]{32}").all()
    assert not hashed["key"].str.contains("name|expert|solve").any()
    assert keys_of(k, "tool_set", "a") != keys_of(request_keys(requests(), seed=1), "tool_set", "a")


def test_items_name_the_carrier():
    k = request_keys(requests())
    assert set(k.loc[k["kind"] == "template", "item"]) <= {"h1", "h2", "h3"}
    assert set(k.loc[k["kind"].isin(["system_family", "tool_set"]), "item"]) == {"c1", "c2"}


def test_address_ranges_in_clear_bad_addresses_skipped():
    frame = requests(ip=["10.1.2.3", "2001:db8:1:2::5", "not-an-ip"])
    k = request_keys(frame)
    ranges = k[k["kind"] == "address_range"]
    assert dict(zip(ranges["account_id"], ranges["key"])) == {
        "a": "10.1.2.0/24", "b": "2001:db8:1::/48"}


def test_no_ip_column_no_context_gives_template_keys_only():
    frame = requests(context_hash=[None] * 3, system=[None] * 3, tools=[None] * 3).drop(columns="ip")
    assert set(request_keys(frame)["kind"]) == {"template"}


def test_empty_requests_give_empty_frame_with_columns():
    k = request_keys(requests().iloc[0:0])
    assert k.empty and list(k.columns) == list(KEY_COLUMNS)
