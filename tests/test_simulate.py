"""Tests of the labelled synthetic traffic generator (targeting.simulate)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest

from targeting import schema as SC
from targeting.simulate import LABEL_COLUMNS, SimConfig, simulate, write_traffic
from targeting.simulate import attacks as A
from targeting.simulate.benchmarks import public_coding_tasks

N = 200
CAMPAIGN_KINDS = {"reasoning", "tool_use", "agentic_coding", "relay"}
KINDS = {
    "benign": {"organic", "cohort", "app_wrapper", "scheduled_script"},
    "hard_negative": {"eval_harness", "stress_test", "agent_product"},
    "attacker": CAMPAIGN_KINDS,
}


N_OPT = 120  # smaller population for the adaptive-option tests


@pytest.fixture(scope="module")
def base():
    return simulate(SimConfig(n_accounts=N, seed=1))


@pytest.fixture(scope="module")
def small_base():
    return simulate(SimConfig(n_accounts=N_OPT, seed=1))


def _joined(req: pd.DataFrame, lab: pd.DataFrame) -> pd.DataFrame:
    return req.merge(lab, on=[SC.REQUEST_ID, SC.ACCOUNT_ID], validate="one_to_one")


def _attack(req, lab):
    df = _joined(req, lab)
    return df[df["role"] == "attacker"]


def test_columns_and_dtypes(base):
    req, lab = base
    assert list(req.columns) == [SC.REQUEST_ID, SC.ACCOUNT_ID, SC.TIMESTAMP, SC.PROMPT, SC.SYSTEM, SC.TOOLS,
                                 SC.IP, SC.ACCOUNT_CREATED_AT]
    assert list(lab.columns) == list(LABEL_COLUMNS)
    for c in (SC.TIMESTAMP, SC.ACCOUNT_CREATED_AT):
        assert isinstance(req[c].dtype, pd.DatetimeTZDtype) and str(req[c].dt.tz) == "UTC"
    for c in (SC.REQUEST_ID, SC.ACCOUNT_ID, SC.PROMPT, SC.IP):
        assert req[c].map(lambda x: isinstance(x, str)).all(), c
    for c in (SC.SYSTEM, SC.TOOLS):
        assert req[c].map(lambda x: x is None or isinstance(x, str)).all(), c
    assert req[SC.REQUEST_ID].is_unique
    assert (req[SC.PROMPT].str.len() > 0).all()
    assert req[SC.TIMESTAMP].is_monotonic_increasing
    assert (lab[SC.REQUEST_ID].values == req[SC.REQUEST_ID].values).all()
    assert set(lab[SC.AREA]) == set(SC.DEFAULT_AREAS)


def test_ids_do_not_encode_role(base):
    req, lab = base
    assert req[SC.ACCOUNT_ID].str.fullmatch(r"acct-[0-9a-f]{12}").all()
    assert req[SC.REQUEST_ID].str.fullmatch(r"req-[0-9a-f]{20}").all()
    # account ids sorted alphabetically are not grouped by role
    roles = lab.drop_duplicates(SC.ACCOUNT_ID).sort_values(SC.ACCOUNT_ID)["role"].tolist()
    runs = sum(1 for a, b in zip(roles, roles[1:]) if a != b)
    assert runs > 10


def test_deterministic(small_base):
    req, lab = small_base
    req2, lab2 = simulate(SimConfig(n_accounts=N_OPT, seed=1))
    pd.testing.assert_frame_equal(req, req2)
    pd.testing.assert_frame_equal(lab, lab2)
    req3, _ = simulate(SimConfig(n_accounts=N_OPT, seed=2))
    assert not req3[SC.PROMPT].head(200).equals(req[SC.PROMPT].head(200))
    assert set(req3[SC.ACCOUNT_ID]).isdisjoint(set(req[SC.ACCOUNT_ID]))


_DIGEST = (
    "import hashlib, pandas as pd\n"
    "from targeting.simulate import SimConfig, simulate\n"
    "r, l = simulate(SimConfig(n_accounts=60, seed=9))\n"
    "h = pd.util.hash_pandas_object(r.astype(str)).values.tobytes() + pd.util.hash_pandas_object(l).values.tobytes()\n"
    "print(hashlib.sha256(h).hexdigest())\n"
)


def test_deterministic_across_processes():
    """No dependence on Python's per-process string hashing (set/dict order)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONHASHSEED="12345")
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _DIGEST], env=env, cwd=root, capture_output=True, text=True,
                         check=True)
    r, lab = simulate(SimConfig(n_accounts=60, seed=9))
    h = pd.util.hash_pandas_object(r.astype(str)).values.tobytes() + pd.util.hash_pandas_object(lab).values.tobytes()
    assert out.stdout.strip() == hashlib.sha256(h).hexdigest()


def test_every_role_kind_and_campaign_present(base):
    _, lab = base
    got = lab.groupby("role")["kind"].agg(set).to_dict()
    assert got == KINDS
    acc = lab.drop_duplicates(SC.ACCOUNT_ID)
    assert acc[acc["role"] == "hard_negative"]["kind"].value_counts().min() >= 2
    camps = acc[acc["role"] == "attacker"]
    assert camps["campaign"].nunique() >= 4
    assert {c.rsplit("-", 1)[0] for c in camps["campaign"]} == CAMPAIGN_KINDS
    assert camps.groupby("campaign").size().min() >= 2
    assert (acc[acc["role"] != "attacker"]["campaign"] == "").all()
    assert (acc[acc["role"] != "attacker"]["target_area"] == "").all()
    tgt = camps.set_index("campaign")["target_area"].to_dict()
    for name, area in tgt.items():
        kind = name.rsplit("-", 1)[0]
        assert area == ("reasoning" if kind == "relay" else kind)
    coh = acc[acc["kind"] == "cohort"]
    assert len(coh) >= 10


def test_small_population_has_every_kind():
    _, lab = simulate(SimConfig(n_accounts=60, seed=5))
    assert lab.groupby("role")["kind"].agg(set).to_dict() == KINDS
    assert lab[SC.ACCOUNT_ID].nunique() == 60
    with pytest.raises(ValueError):
        simulate(SimConfig(n_accounts=20))


def test_without_metadata(base):
    req, lab = simulate(SimConfig(n_accounts=N, seed=1, include_metadata=False))
    assert SC.IP not in req.columns and SC.ACCOUNT_CREATED_AT not in req.columns
    pd.testing.assert_frame_equal(req, base[0].drop(columns=[SC.IP, SC.ACCOUNT_CREATED_AT]))
    pd.testing.assert_frame_equal(lab, base[1])


def test_time_window_and_creation(base):
    req, _ = base
    t0 = pd.Timestamp("2026-11-01", tz="UTC")
    assert req[SC.TIMESTAMP].min() >= t0
    assert req[SC.TIMESTAMP].max() < t0 + pd.Timedelta(days=14)
    assert (req[SC.ACCOUNT_CREATED_AT] <= req[SC.TIMESTAMP]).all()
    assert (req.groupby(SC.ACCOUNT_ID)[SC.ACCOUNT_CREATED_AT].nunique() == 1).all()


def test_text_is_varied(base):
    df = _joined(*base)
    org = df[df["kind"] == "organic"]
    assert org[SC.PROMPT].nunique() / len(org) > 0.6
    for area in SC.DEFAULT_AREAS:
        assert df[df[SC.AREA] == area][SC.PROMPT].nunique() > 150, area
    # some non-English, some with code fences, some lowercase-only
    assert df[SC.PROMPT].str.contains(r"[\u3040-\u30ff\u4e00-\u9fff]").any()
    assert df[SC.PROMPT].str.contains(r"[¿ñüéà]").any()
    assert df[SC.PROMPT].str.contains("```").mean() > 0.03


def test_tools_are_function_arrays(base):
    df = _joined(*base)
    tools = df[SC.TOOLS].dropna()
    assert len(tools) > 0
    for s in tools.drop_duplicates().head(300):
        arr = json.loads(s)
        assert isinstance(arr, list) and arr
        for f in arr:
            fn = f.get("function", f)
            assert isinstance(fn["name"], str) and fn["name"]
            assert fn["parameters"]["type"] == "object"
    tu = df[(df[SC.AREA] == "tool_use") & (df["kind"] == "organic")]
    assert tu[SC.TOOLS].notna().mean() > 0.7


def test_hard_negative_behaviour(base):
    df = _joined(*base)
    ev = df[df["kind"] == "eval_harness"]
    for _, g in ev.groupby(SC.ACCOUNT_ID):
        assert g[SC.PROMPT].value_counts().max() >= 2  # suites re-run verbatim
        assert g[SC.AREA].nunique() == 4
    ap = df[df["kind"] == "agent_product"]
    for _, g in ap.groupby(SC.ACCOUNT_ID):
        assert g[SC.SYSTEM].nunique() == 1 and g[SC.AREA].nunique() == 1 and len(g) >= 300


def test_campaign_accounts_and_timing(base):
    att = _attack(*base)
    per = att.groupby(SC.ACCOUNT_ID).size()
    assert per.min() >= 10 and per.max() <= 300
    hours = att[SC.TIMESTAMP].dt.hour.value_counts(normalize=True)
    assert hours.max() < 0.1  # round the clock
    created = att.groupby(SC.ACCOUNT_ID)[SC.ACCOUNT_CREATED_AT].first().dt.floor("D")
    assert created.value_counts().max() >= 3  # created in batches


def test_cover_traffic():
    req, lab = simulate(SimConfig(n_accounts=N_OPT, seed=1, cover_traffic=0.4))
    att = _attack(req, lab)
    direct = att[att["kind"] != "relay"]
    share = (direct[SC.AREA] != direct["target_area"]).mean()
    assert 0.35 <= share <= 0.45


def test_default_has_little_cover(base):
    att = _attack(*base)
    direct = att[att["kind"] != "relay"]
    assert (direct[SC.AREA] != direct["target_area"]).mean() < 0.1


def test_small_accounts():
    req, lab = simulate(SimConfig(n_accounts=N_OPT, seed=1, small_accounts=True))
    per = _attack(req, lab).groupby(SC.ACCOUNT_ID).size()
    assert per.between(10, 30).all()


def test_slow_spreads_over_all_days(small_base):
    def spans(req, lab):
        att = _attack(req, lab)
        return att.groupby("campaign")[SC.TIMESTAMP].agg(lambda s: (s.max() - s.min()) / pd.Timedelta(days=1))

    fast = spans(*small_base)
    slow = spans(*simulate(SimConfig(n_accounts=N_OPT, seed=1, slow=True)))
    assert (slow > 12).all()
    assert (fast < 9).all()


def test_paraphrase_varies_frames(small_base):
    openings = tuple(frames[0].split("{")[0][:25] for frames in A.R_FRAMES.values())

    def templated(req, lab):
        att = _attack(req, lab)
        p = att[(att["kind"] == "reasoning") & (att[SC.AREA] == "reasoning")][SC.PROMPT]
        return p.str.startswith(openings).mean()

    assert templated(*small_base) > 0.95
    assert templated(*simulate(SimConfig(n_accounts=N_OPT, seed=1, paraphrase=True))) < 0.5


def test_adaptive_options_leave_benign_traffic_alone(small_base):
    base = small_base
    req, lab = simulate(SimConfig(n_accounts=N_OPT, seed=1, cover_traffic=0.3, paraphrase=True, small_accounts=True,
                                  slow=True))
    keep = (lab["role"] != "attacker").values
    keep0 = (base[1]["role"] != "attacker").values
    pd.testing.assert_frame_equal(req[keep].reset_index(drop=True), base[0][keep0].reset_index(drop=True))


def test_volume_scale():
    req, _ = simulate(SimConfig(n_accounts=60, seed=2))
    half, _ = simulate(SimConfig(n_accounts=60, seed=2, volume_scale=0.5))
    assert 0.35 < len(half) / len(req) < 0.7


@pytest.fixture(scope="module")
def big():
    """The default-size population, where company roll-outs appear."""
    return simulate(SimConfig(n_accounts=1000, seed=0))


def test_default_volume(big):
    req, lab = big
    assert 40_000 <= len(req) <= 60_000
    acc = lab.drop_duplicates(SC.ACCOUNT_ID)
    assert len(acc) == 1000
    shares = acc["role"].value_counts(normalize=True)
    assert 0.8 <= shares["benign"] <= 0.9
    assert 0.03 <= shares["hard_negative"] <= 0.07
    assert 0.08 <= shares["attacker"] <= 0.12


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_write_traffic(tmp_path, fmt):
    req, lab = simulate(SimConfig(n_accounts=40, seed=3, volume_scale=0.3))
    out = tmp_path / "nested" / "traffic"
    paths = write_traffic(out, req, lab, fmt=fmt)
    assert paths["requests"] == out / f"requests.{fmt}" and paths["requests"].exists()
    lab2 = pd.read_parquet(out / "labels.parquet")
    assert list(lab2.columns) == list(LABEL_COLUMNS) and len(lab2) == len(req)
    if fmt == "parquet":
        back = pd.read_parquet(paths["requests"])
        assert list(back.columns) == list(req.columns)
        assert back[SC.TIMESTAMP].equals(req[SC.TIMESTAMP])
    elif fmt == "jsonl":
        back = pd.read_json(paths["requests"], lines=True, dtype=False)
        assert len(back) == len(req)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", back[SC.TIMESTAMP].iloc[0])
    else:
        back = pd.read_csv(paths["requests"])
        assert len(back) == len(req) and list(back.columns) == list(req.columns)
    with pytest.raises(ValueError):
        write_traffic(out, req, lab, fmt="xlsx")


def test_campaigns_of_one_kind_word_their_templates_differently():
    from targeting.simulate.attacks import A_SYSTEM, R_SOLVE, RELAY_INSTR, own_wordings

    for bank in (R_SOLVE, A_SYSTEM, RELAY_INSTR):
        assert own_wordings(bank, 1, 1) == bank  # a kind's only campaign uses every wording
        shares = [own_wordings(bank, j, 2) for j in (1, 2)]
        assert not set(shares[0]) & set(shares[1])  # two actors never share a wording
        assert set(shares[0]) | set(shares[1]) == set(bank)


def _accounts(req, lab) -> pd.DataFrame:
    df = _joined(req, lab)
    return df.groupby(SC.ACCOUNT_ID).agg(
        role=("role", "first"), kind=("kind", "first"), created=(SC.ACCOUNT_CREATED_AT, "first"),
        dominant=(SC.AREA, lambda s: s.value_counts().index[0]), n=(SC.PROMPT, "size"))


def test_company_rollouts_share_one_gateway(big):
    """A company's colleagues: created within one hour, all behind one address, unrelated work."""
    req, lab = big
    acc = _accounts(req, lab)
    ent = acc[acc["kind"] == "enterprise"]
    assert (ent["role"] == "benign").all()
    benign = (lab["role"] == "benign").groupby(lab[SC.ACCOUNT_ID]).first()
    assert 0.05 <= len(ent) / benign.sum() <= 0.1
    assert ent["n"].median() <= 15 and ent["n"].quantile(0.9) > 10  # low volume, a few heavier
    per_ip = req[SC.IP].groupby(req[SC.ACCOUNT_ID]).agg(set)
    found = 0
    for ip, ids in req.groupby(SC.IP)[SC.ACCOUNT_ID].unique().items():
        a = acc.loc[ids]
        if len(a) < 15 or not (a["role"] == "benign").all():
            continue
        if a["created"].max() - a["created"].min() > pd.Timedelta(hours=1):
            continue
        dom = a["dominant"].value_counts(normalize=True)
        assert len(dom) >= 3 and dom.iloc[0] <= 0.6, ip  # different people, different work
        assert all(ip in per_ip[i] for i in ids)
        # office hours in the company's (unknown) timezone: weekdays, 7:00-20:00 local
        ts = req.loc[req[SC.IP] == ip, SC.TIMESTAMP]
        office = max((((loc := ts + pd.Timedelta(hours=tz)).dt.day_of_week < 5) & loc.dt.hour.between(7, 19)).mean()
                     for tz in range(-12, 15))
        assert office > 0.9, ip
        found += 1
    assert 2 <= found <= 4


def test_no_company_rollouts_in_small_populations(base):
    _, lab = base
    assert "enterprise" not in set(lab["kind"])


def test_attackers_share_cloud_egress_with_benign_apps(big):
    """Some exact address carries both attacker traffic and an unrelated app's or script's."""
    df = _joined(*big)
    by_ip = df.groupby(SC.IP).agg(roles=("role", set), kinds=("kind", set))
    shared = by_ip[by_ip["roles"].map(lambda r: "attacker" in r)
                   & by_ip["kinds"].map(lambda k: bool(k & {"app_wrapper", "scheduled_script"}))]
    assert len(shared) >= 2
    # and unrelated benign apps and scripts meet on the shared egress too
    apps = df[df["kind"].isin(["app_wrapper", "scheduled_script"])]
    assert apps.groupby(SC.IP)[SC.ACCOUNT_ID].nunique().max() >= 3


def test_attack_batches_mix_with_cohort_signups(big):
    """Some attacker accounts are created within half an hour of several cohort members."""
    acc = _accounts(*big)
    coh = acc.loc[acc["kind"] == "cohort", "created"]
    att = acc.loc[acc["role"] == "attacker", "created"]
    near = [((coh - t).abs() <= pd.Timedelta(minutes=30)).sum() for t in att]
    assert sum(k >= 3 for k in near) >= 3


def test_some_organic_prompts_carry_pasted_material(big):
    df = _joined(*big)
    org = df[df["kind"] == "organic"][SC.PROMPT].str.len()
    assert 0.12 <= (org > 300).mean() <= 0.3
    assert (org > 1000).mean() >= 0.03
    assert org.max() <= 3000
    # pasted logs, code and documents, not just longer questions
    long = df[(df["kind"] == "organic") & (org.reindex(df.index, fill_value=0) > 600)][SC.PROMPT]
    assert long.str.contains(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?:INFO|ERROR|WARN|DEBUG)").any()
    assert long.str.contains("```").any()


def test_coding_products_and_coding_operations_share_public_benchmark_items(big):
    """Public benchmark items that an agent product's users paste and a coding operation wraps
    in its own framing: text the two share without having copied it from each other."""
    df = _joined(*big)
    public = public_coding_tasks(0)

    def items_in(prompts: pd.Series) -> set[str]:
        text = "\n".join(prompts)
        return {item for item in public if item in text}

    products = df[df["kind"] == "agent_product"][SC.PROMPT]
    operations = df[df["campaign"].str.startswith("agentic_coding")][SC.PROMPT]
    assert len(items_in(products) & items_in(operations)) >= 10
    # a minority of either side's traffic: the product stays its users', the sweep its own plan
    assert 0.02 < products.isin(public).mean() < 0.2
    assert 0.05 < operations.map(lambda p: any(item in p for item in public)).mean() < 0.4


def test_tool_operations_and_some_tool_users_share_a_public_prompt_format(big):
    """A public function-calling benchmark's wrapper that part of a tool-use sweep and a few of
    the people who send tool requests both write: shared wording that is as much outsiders' as
    the operation's."""
    df = _joined(*big)
    wrapped = df[SC.PROMPT].str.startswith("### Functions\n")
    operations = df["campaign"].str.startswith("tool_use")
    assert 0.03 < wrapped[operations].mean() < 0.3
    users = df.loc[wrapped & (df["kind"] == "organic"), "account_id"].nunique()
    assert users >= 3
    assert (df.loc[wrapped, "area"] == "tool_use").all()
    # the definitions are in the prompt, so the request carries no tools field
    assert df.loc[wrapped, SC.TOOLS].isna().all()
