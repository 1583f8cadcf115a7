"""Campaign linking over rarity-weighted template profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import targeting.campaigns as C
from targeting.signals.templates import template_keys

TOPICS = ["probability", "geometry", "number theory", "graph theory", "calculus", "algebra", "logic",
          "statistics", "topology", "set theory"]
LEVELS = ["easy", "medium", "hard", "olympiad"]
ORGANIC = [
    "what's a good name for a golden retriever puppy that is a bit shy",
    "how do I reverse a linked list in python without recursion, asking for an interview",
    "translate 'good morning, how did you sleep' into German please, informal tone",
    "my sourdough starter smells like acetone after two days, is that bad or normal?",
    "recommend three sci-fi novels similar to The Expanse but with less politics",
    "why does my bike chain keep slipping when I shift into the smallest gear",
    "draft a polite email asking my landlord to fix the heating before the weekend",
    "explain the difference between a roth and a traditional IRA for a 30 year old",
    "what's the capital of Mongolia and how many people live there today",
    "give me a 20 minute bodyweight workout for a small hotel room without equipment",
    "is it safe to leave a laptop charging overnight every single night for years",
    "write a short birthday message for my grandmother who is turning ninety",
]
SUFFIX = " Before answering, write out your complete reasoning inside <reasoning> tags and only then answer."


def grid():
    return [
        f"You are given a {lvl} problem in {t}. Solve it carefully and show every intermediate step "
        f"of your reasoning before stating the final answer clearly at the end. Problem {i}: compute {i * 7} mod {i + 3}."
        for i, (t, lvl) in enumerate((t, l) for t in TOPICS for l in LEVELS)
    ]


def build(rows):
    """rows: (account, text) -> arrays for link_accounts."""
    accounts = np.array([a for a, _ in rows])
    codes, uniq = pd.factorize(pd.Series([t for _, t in rows]))
    tk = template_keys(list(uniq), jaccard=0.5, min_group=3)
    return accounts, codes, tk


def scenario():
    rows = []
    for k in range(5):  # five coordinated accounts split the template grid between them
        rows += [(f"attacker{k}", t) for t in grid()[k::5]]
    for k in range(4):  # four relay accounts append one injected instruction to varied text
        rows += [(f"relay{k}", o + SUFFIX) for o in ORGANIC[k::2]]
    for u in range(12):  # organic users with their own questions
        rows += [(f"user{u}", ORGANIC[u]), (f"user{u}", f"follow-up number {u}: could you say more about point {u}?")]
    return rows


def test_coordinated_accounts_form_campaigns_and_organic_users_do_not():
    accounts, codes, tk = build(scenario())
    links = C.link_accounts(accounts, codes, tk.keys, tk.weights)
    attackers = links.campaign[[f"attacker{k}" for k in range(5)]]
    relays = links.campaign[[f"relay{k}" for k in range(4)]]
    assert attackers.nunique() == 1 and attackers.iloc[0] != ""
    assert relays.nunique() == 1 and relays.iloc[0] != ""
    assert attackers.iloc[0] != relays.iloc[0]
    users = links.campaign[[f"user{u}" for u in range(12)]]
    assert (users == "").all()
    assert links.partners["attacker0"] >= 3


def test_campaign_ids_are_stable_under_input_order():
    rows = scenario()
    a1, c1, tk1 = build(rows)
    a2, c2, tk2 = build(list(reversed(rows)))
    l1 = C.link_accounts(a1, c1, tk1.keys, tk1.weights).campaign
    l2 = C.link_accounts(a2, c2, tk2.keys, tk2.weights).campaign
    assert l1.sort_index().equals(l2.sort_index())
    assert all(c == "" or (c.startswith("k") and len(c) == 11) for c in l1)


def test_fewer_than_three_accounts_is_no_campaign():
    rows = [(f"attacker{k}", t) for k in range(2) for t in grid()[k::2]]
    accounts, codes, tk = build(rows)
    links = C.link_accounts(accounts, codes, tk.keys, tk.weights)
    assert (links.campaign == "").all()
    assert links.partners["attacker0"] == 1  # still linked, just not a campaign


def test_text_shared_by_too_many_accounts_is_boilerplate(monkeypatch):
    rows = [(f"a{k}", o + SUFFIX) for k in range(12) for o in ORGANIC[k % 2 :: 2]]
    rows += [(f"b{k}", f"a question of my own, number {k}, about topic {k * 3}") for k in range(12)]
    accounts, codes, tk = build(rows)
    assert C.link_accounts(accounts, codes, tk.keys, tk.weights).partners["a0"] > 0
    monkeypatch.setattr(C, "MIN_KEY_ACCOUNTS_CAP", 3)
    monkeypatch.setattr(C, "MAX_KEY_ACCOUNTS_SHARE", 0.1)
    links = C.link_accounts(accounts, codes, tk.keys, tk.weights)
    assert links.partners.max() == 0 and (links.campaign == "").all()


def test_campaign_id_depends_only_on_members():
    assert C.campaign_id(["b", "a", "c"]) == C.campaign_id(["c", "b", "a"])
    assert C.campaign_id(["a", "b", "c"]) != C.campaign_id(["a", "b", "d"])


def test_campaign_frame_relabels_member_requests():
    frame = pd.DataFrame({"account_id": ["x", "y", "z", "x"], "v": [1, 2, 3, 4]})
    camp = pd.Series({"x": "k1", "y": "", "z": "k1"})
    out = C.campaign_frame(frame, camp)
    assert out["account_id"].tolist() == ["k1", "k1", "k1"] and out["v"].tolist() == [1, 3, 4]


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_inputs(n):
    rows = scenario()[:n]
    if not rows:
        tk = template_keys([], 0.5, 3)
        links = C.link_accounts(np.array([], dtype=str), np.array([], dtype=int), tk.keys, tk.weights)
        assert len(links.campaign) == 0
        return
    accounts, codes, tk = build(rows)
    links = C.link_accounts(accounts, codes, tk.keys, tk.weights)
    assert (links.campaign == "").all()


def test_campaign_signals_pool_the_members_requests():
    from targeting.config import SignalConfig
    from targeting.signals.base import SignalContext

    rows = scenario()
    accounts, codes, tk = build(rows)
    links = C.link_accounts(accounts, codes, tk.keys, tk.weights)
    frame = pd.DataFrame({
        "account_id": accounts,
        "timestamp": pd.to_datetime(np.arange(len(rows)) * 3600, unit="s", utc=True),
        "row": codes,
        "area": np.zeros(len(rows), dtype=int),
        "cluster": codes % 4,
    })
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(codes.max() + 1, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ctx = SignalContext(vectors=vectors, texts=tuple(str(i) for i in range(len(vectors))),
                        areas=("reasoning", "tool_use", "agentic_coding", "other"),
                        cluster_area=np.zeros(4, dtype=int), target_areas=(0, 1, 2), config=SignalConfig())
    dominant = pd.Series("reasoning", index=np.unique(accounts))
    out = C.campaign_signals(frame, ctx, links, np.zeros(len(vectors)), dominant)
    members = [f"attacker{k}" for k in range(5)]
    assert (out.loc[members, "campaign_size"] == 5).all()
    assert (out.loc[members, "campaign_requests"] == len(grid())).all()
    assert out.loc[members, "campaign_target_share"].eq(1.0).all()
    pooled = len(np.unique(codes[np.isin(accounts, members)]))
    assert out.loc[members, "campaign_distinct_in_area"].eq(min(pooled, ctx.config.max_prompts_per_account)).all()
    assert out.loc[members, "campaign_regularity"].notna().all()
    assert (out.loc["user0", "campaign_size"] == 0) and np.isnan(out.loc["user0", "campaign_coverage"])


def _weak_pair(shared_prompts: int):
    """Accounts a and b with 5 distinct prompts each, ``shared_prompts`` of them the same."""
    rows_a = np.arange(5)
    rows_b = np.r_[np.arange(shared_prompts), np.arange(10, 15 - shared_prompts)]
    keys = np.arange(1, 16, dtype=np.uint64)[:, None]  # one key per prompt
    account = np.array(["a"] * 5 + ["b"] * 5)
    return account, np.r_[rows_a, rows_b], keys, np.ones(1)


def test_shared_system_prompt_variants_complete_a_weak_template_link_but_never_link_alone():
    account, rows, keys, weights = _weak_pair(2)
    _, acc_idx = np.unique(account, return_inverse=True)
    text_only = C.content_similarity(acc_idx, 2, rows, keys, weights)
    assert text_only.nnz == 0  # template similarity ~0.25 < LINK_SIM
    one_fixed = C.ContextKeys(of_request=np.zeros(10, dtype=np.int64), keys=np.array([[7]], dtype=np.uint64))
    assert C.content_similarity(acc_idx, 2, rows, keys, weights, one_fixed).nnz == 0  # an agent product
    variants = C.ContextKeys(of_request=np.arange(10) % 3, keys=np.array([[7], [8], [9]], dtype=np.uint64))
    assert C.content_similarity(acc_idx, 2, rows, keys, weights, variants)[0, 1] >= C.LINK_SIM
    account, rows, keys, weights = _weak_pair(0)  # nothing in common but the system prompt
    _, acc_idx = np.unique(account, return_inverse=True)
    assert C.content_similarity(acc_idx, 2, rows, keys, weights, variants).nnz == 0


EXPERT = ("You are {adj} software engineer working as an autonomous coding agent in the repository at {path}. "
          "Explore the relevant files, write a short plan, implement the change, run the test suite and iterate "
          "until everything passes. Explain your reasoning before each tool call.{extra}")
PRODUCT = ("You are Codewright, an AI software engineer embedded in the customer's repository. You can read and edit "
           "files and run commands using the provided tools. Keep changes minimal and run the tests before finishing.")


def _family_case(systems_of_account: dict[str, list[str]]):
    """Each account sends 6 requests with its own unrelated prompts and the given system prompts."""
    from targeting.signals.templates import system_families, system_keys

    accounts, systems = [], []
    for account, variants in systems_of_account.items():
        for i in range(6):
            accounts.append(account)
            systems.append(variants[i % len(variants)])
    codes, uniq = pd.factorize(pd.Series(systems))
    context = C.ContextKeys(of_request=codes.astype(np.int64), keys=system_keys(list(uniq)),
                            families=system_families(list(uniq)))
    names, acc_idx = np.unique(np.array(accounts), return_inverse=True)
    rows = np.arange(len(accounts))  # every prompt distinct: no template evidence at all
    keys = (rows + 1).astype(np.uint64)[:, None]
    return names, C.content_similarity(acc_idx, len(names), rows, keys, np.ones(1), context)


def test_a_system_prompt_family_sent_in_variations_links_accounts_by_itself():
    variants = [EXPERT.format(adj=adj, path=path, extra=extra)
                for adj in ("an expert", "a senior", "a world-class")
                for path in ("/workspace", "/repo", "/app")
                for extra in ("", " Prefer minimal diffs.", " Keep the existing code style.")]
    rng = np.random.default_rng(0)
    op = {f"op{k}": list(rng.choice(variants, 4, replace=False)) for k in range(3)}
    names, sims = _family_case(op | {"product1": [PRODUCT], "product2": [PRODUCT], "product3": [PRODUCT]})
    pos = {n: i for i, n in enumerate(names)}
    assert all(sims[pos["op0"], pos[o]] >= C.LINK_SIM for o in ("op1", "op2"))
    # one fixed prompt, even a rare one shared by three accounts, is what a product's accounts send
    assert sims[[pos["product1"], pos["product2"], pos["product3"]]].nnz == 0


def test_similarities_in_row_blocks_equal_one_product(monkeypatch):
    """``_similar`` takes the profile product a block of accounts at a time (memory): the
    same entries, values and order as the whole product filtered at once."""
    rng = np.random.default_rng(5)
    dense = rng.random((23, 40)) * (rng.random((23, 40)) < 0.3)
    profiles = C.sparse.csr_matrix(dense)
    norms = np.sqrt((dense**2).sum(axis=1))
    full = (profiles @ profiles.T).tocoo()
    value = full.data / (norms[full.row] * norms[full.col])
    keep = (full.row != full.col) & (value >= 0.2)
    want = C.sparse.csr_matrix((value[keep], (full.row[keep], full.col[keep])), shape=(23, 23))
    monkeypatch.setattr(C, "SIMILAR_BLOCK", 4)
    got = C._similar(profiles, norms, 23, floor=0.2)
    assert want.nnz > 0 and np.array_equal(got.indptr, want.indptr)
    assert np.array_equal(got.indices, want.indices) and np.array_equal(got.data, want.data)
    assert C._similar(C.sparse.csr_matrix((0, 5)), np.zeros(0), 0).shape == (0, 0)



def test_strangers_behind_shared_gateways_and_generic_text_form_no_campaign():
    """300 unrelated users behind six busy gateways (carrier NAT, a company, a VPN exit),
    every one of them wrapping some messages in one generic line, created in a few busy
    hours; among them, eight accounts of one operation sharing a template bank. Only the
    operation is a campaign, and it takes no stranger with it."""
    from targeting.linking import infrastructure

    rng = np.random.default_rng(11)
    generic = "You are a helpful assistant. Please answer the question below as well as you can."
    words = np.array(" ".join(ORGANIC).replace(",", "").replace("?", "").split())
    rows, ips, created = [], [], {}
    # neighbours share one pasted item (the same public benchmark question, news paragraph):
    # pairwise links that chain all 300 strangers into one connected component
    items = [" ".join(rng.choice(words, 40)) for _ in range(301)]
    for u in range(300):
        gateway = f"100.64.{u % 6}.1"
        for j in range(4):
            text = " ".join(rng.choice(words, 12))  # each person's own question
            text = {1: f"{items[u]} {text}", 2: f"{items[u + 1]} {text}", 3: f"{items[u + 1]} {text}"}.get(j, text)
            rows.append((f"user{u:03d}", f"{generic}\n{text}" if j == 0 else text))
            ips.append(gateway)
        created[f"user{u:03d}"] = pd.Timestamp("2026-01-05 09:00", tz="UTC") + pd.Timedelta(minutes=int(u % 10))
    for k in range(8):
        for t in grid()[k::8]:
            rows.append((f"op{k}", t))
            ips.append(f"100.64.{k % 6}.1")  # behind the same gateways as everyone else
        created[f"op{k}"] = pd.Timestamp("2026-01-05 09:05", tz="UTC")
    accounts, codes, tk = build(rows)
    vectors = rng.normal(size=(codes.max() + 1, 24))
    op_rows = np.unique(codes[np.char.startswith(accounts.astype(str), "op")])
    vectors[op_rows] = rng.normal(size=24) + 0.3 * rng.normal(size=(len(op_rows), 24))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    infra = infrastructure(np.unique(accounts), accounts, np.array(ips, dtype=object), pd.Series(created))
    links = C.link_accounts(accounts, codes, tk.keys, tk.weights, infra, vectors=vectors, phrases=tk.phrases)
    in_campaign = links.campaign[links.campaign != ""]
    assert set(in_campaign.index) == {f"op{k}" for k in range(8)}
    assert in_campaign.nunique() == 1
    # the strangers are chained by pairwise links, just not densely
    from scipy.sparse.csgraph import connected_components

    acc_idx = np.searchsorted(links.accounts, accounts)
    shared = C.content_similarity(acc_idx, len(links.accounts), codes, tk.keys, tk.weights, floor=C.WEAK_LINK)
    users = ~np.char.startswith(links.accounts.astype(str), "op")
    _, part = connected_components(shared[users][:, users], directed=False)
    assert np.bincount(part).max() >= 100  # components would have made 100+ strangers one "campaign"


def test_an_account_sharing_wording_through_one_prompt_joins_no_campaign():
    # five accounts sweep one template grid; a user pastes one of its items, once or three
    # times verbatim: its one-prompt profile matches the sweep, yet one prompt is coincidence
    rows = []
    for k in range(5):
        rows += [(f"attacker{k}", t) for t in grid()[k::5]]
    item = grid()[7]
    rows += [("paster", item)] * 3 + [("paster", "hi can you help me with something")]
    accounts, codes, tk = build(rows)
    acc_ids, acc_idx = np.unique(accounts, return_inverse=True)
    support = pd.Series(C.prompt_support(acc_idx, len(acc_ids), codes, tk.keys), index=acc_ids)
    assert support["paster"] == 1 and (support[[f"attacker{k}" for k in range(5)]] >= 2).all()
    links = C.link_accounts(accounts, codes, tk.keys, tk.weights)
    assert links.campaign["paster"] == "" and links.partners["paster"] == 0
    attackers = links.campaign[[f"attacker{k}" for k in range(5)]]
    assert attackers.nunique() == 1 and attackers.iloc[0] != ""
    # the same user sending two items of the grid (two prompts carrying its wording) is linked
    accounts2, codes2, tk2 = build(rows + [("paster", grid()[11])])
    assert C.link_accounts(accounts2, codes2, tk2.keys, tk2.weights).partners["paster"] > 0


def _key_rows(prompts: dict[str, list[list[int]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(account index per prompt, prompt rows, keys matrix, account names) from account -> prompts' keys."""
    names = sorted(prompts)
    acc, keys = [], []
    for a, name in enumerate(names):
        for ks in prompts[name]:
            acc.append(a)
            keys.append(ks + [0] * (3 - len(ks)))
    return np.array(acc), np.arange(len(acc)), np.array(keys, dtype=np.uint64), names


@pytest.mark.parametrize("outsiders, joins", [(7, False), (6, True)])
def test_a_member_shares_the_groups_own_wording_or_leaves(outsiders, joins):
    # seven members send the operation's template (key 1) and a public format (key 2); "user"
    # sends three prompts in the format only: with as many outsiders as other members using
    # the format, it says nothing about membership (one fewer outsider, and it does)
    prompts = {f"m{i}": [[1, 2], [1, 2, 100 + i]] for i in range(7)}
    prompts["user"] = [[2, 200], [2, 201], [2, 202]]
    prompts |= {f"x{i}": [[2, 300 + i], [2, 400 + i]] for i in range(outsiders)}
    acc, rows, keys, names = _key_rows(prompts)
    use = C.key_use(acc, len(names), rows, keys)
    members = np.array([names.index(n) for n in [f"m{i}" for i in range(7)] + ["user"]])
    got = C.recurring_members(use, members)
    assert got[:7].all() and got[7] == joins
    # one prompt of the group's wording is not enough, however often it is sent
    prompts["m0"] = [[1, 2], [500]]
    acc, rows, keys, names = _key_rows(prompts)
    first = rows[acc == names.index("m0")][0]
    acc, rows = np.r_[acc, [names.index("m0")] * 5], np.r_[rows, [first] * 5]
    use = C.key_use(acc, len(names), rows, keys)
    got = C.recurring_members(use, np.array([names.index(f"m{i}") for i in range(7)]))
    assert not got[0] and got[1:].all()


def test_recurring_members_agrees_with_a_direct_count():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 60, (80, 4)).astype(np.uint64)  # 0 = no key
    phrases = rng.integers(0, 200, (80, 6)).astype(np.uint64)
    acc = rng.integers(0, 25, 400)
    rows = rng.integers(0, 80, 400)
    use = C.key_use(acc, 25, rows, keys, phrases)
    items = {a: sorted({int(r) for r in rows[acc == a]}) for a in range(25)}
    carried = {a: [{int(k) for m in (keys, phrases) for k in m[r] if k} for r in items[a]] for a in range(25)}
    for members in (np.arange(0, 25, 3), np.arange(10), np.array([4, 9, 17])):
        expected = []
        for a in members:
            own = 0
            for ks in carried[a]:
                for k in ks:
                    users = {b for b in range(25) if any(k in c for c in carried[b])}
                    inside = users & {int(m) for m in members}
                    if len(inside) - 1 > len(users - inside) and len(inside) >= 2:
                        own += 1
                        break
            expected.append(own >= C.MIN_SUPPORT)
        assert C.recurring_members(use, members).tolist() == expected
    assert (use.support == C.prompt_support(acc, 25, rows, keys, phrases)).all()
