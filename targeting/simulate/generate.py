"""Orchestration: plan the population, run every persona, assemble the two frames."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from .. import schema as SC
from . import attacks as A
from . import benchmarks as B
from . import hardneg as H
from . import network as N
from . import personas as P
from . import timing as TM
from .config import SimConfig
from .rand import R, stable_hex

MIN_ACCOUNTS = 30
# company roll-outs only from this size: 15-40 people behind one gateway would dwarf a smaller
# population, and the smaller sizes that tests and benchmarks use keep their persona mix
ENTERPRISE_MIN_ACCOUNTS = 500
ENTERPRISE_SHARE = 0.08  # of benign accounts
LABEL_COLUMNS = (SC.REQUEST_ID, SC.ACCOUNT_ID, SC.AREA, "role", "kind", "campaign", "target_area")


def _enterprise_sizes(cfg: SimConfig, n_ben: int) -> list[int]:
    """Company sizes (15-40 each) adding up to about ENTERPRISE_SHARE of the benign accounts:
    2-4 companies at 1,000 accounts, more in bigger populations. A stream of their own keeps
    every other planned size unchanged."""
    if cfg.n_accounts < ENTERPRISE_MIN_ACCOUNTS:
        return []
    return split_sizes(R(cfg.seed, "plan-enterprise"), round(ENTERPRISE_SHARE * n_ben), 15, 40)


def split_sizes(r: R, total: int, lo: int, hi: int) -> list[int]:
    """Group sizes of ``lo``-``hi`` adding up to about ``total`` (a remainder under ``lo`` is dropped)."""
    out: list[int] = []
    left = total
    while left >= lo:
        s = min(left, r.randint(lo, hi))
        if left - s < lo and left <= hi:
            s = left
        out.append(s)
        left -= s
    return out


def plan(cfg: SimConfig) -> dict:
    """How many accounts of each kind; depends on n_accounts (and seed for cohort sizes) only."""
    n = cfg.n_accounts
    if n < MIN_ACCOUNTS:
        raise ValueError(f"n_accounts must be at least {MIN_ACCOUNTS} (every persona kind and four campaigns need that many)")
    per_kind = max(1, round(n / 800))
    n_campaigns = 4 * per_kind
    n_att = max(round(0.10 * n), 2 * n_campaigns)
    n_hn = max(6, round(0.045 * n))
    hn = {"eval_harness": n_hn // 3, "stress_test": n_hn // 3, "agent_product": n_hn - 2 * (n_hn // 3)}
    n_ben = n - n_att - n_hn
    r = R(cfg.seed, "plan")
    cohorts = split_sizes(r, max(10, round(0.06 * n_ben)), 10, 30)
    n_app = max(2, round(0.035 * n_ben))
    n_script = max(2, round(0.035 * n_ben))
    companies = _enterprise_sizes(cfg, n_ben)
    n_org = n_ben - sum(cohorts) - sum(companies) - n_app - n_script
    if n_org < 1:
        raise ValueError("n_accounts too small for the persona mix")
    # campaign sizes: uneven, at least 2 accounts each
    kinds = [k for j in range(per_kind) for k in A.CAMPAIGN_KINDS]
    wts = [r.uniform(0.6, 1.4) for _ in kinds]
    extra = n_att - 2 * len(kinds)
    sizes = [2 + int(extra * x / sum(wts)) for x in wts]
    for i in range(n_att - sum(sizes)):
        sizes[i % len(sizes)] += 1
    camps = []
    counter: dict[str, int] = {}
    for k, s in zip(kinds, sizes):
        counter[k] = counter.get(k, 0) + 1
        camps.append((k, counter[k], s))
    return {"organic": n_org, "cohorts": cohorts, "enterprise": companies, "app_wrapper": n_app,
            "scheduled_script": n_script, "hard_negative": hn, "campaigns": camps}


def _accounts(cfg: SimConfig) -> list[P.Account]:
    pl = plan(cfg)
    w = TM.Window(cfg.start, cfg.days)
    pools = N.SharedPools(cfg.seed)
    s, sc = cfg.seed, cfg.volume_scale
    accs: list[P.Account] = []
    for i in range(pl["organic"]):
        accs.append(P.organic(R(s, "organic", i), w, pools, sc))
    cohort_created: list[float] = []
    for j, size in enumerate(pl["cohorts"]):
        members = P.cohort(R(s, "cohort", j), w, pools, size, sc)
        accs.extend(members)
        # the cohort's signup hour (its median member), for campaigns that register alongside
        cohort_created.append(sorted(a.created_at for a in members)[len(members) // 2])
    for j, size in enumerate(pl["enterprise"]):
        accs.extend(P.enterprise(R(s, "enterprise", j), w, pools, size, sc))
    for i in range(pl["app_wrapper"]):
        accs.append(P.app_wrapper(R(s, "app", i), w, pools, sc))
    for i in range(pl["scheduled_script"]):
        accs.append(P.scheduled_script(R(s, "script", i), w, pools, sc))
    hn = pl["hard_negative"]
    # some organisations run the same suite from two accounts
    suites: dict[int, list] = {}
    for i in range(hn["eval_harness"]):
        r = R(s, "eval", i)
        key = i - 1 if (i % 2 == 1 and r.maybe(0.3)) else i
        if key not in suites:
            rk = R(s, "eval-suite", key)
            suites[key] = H.eval_suite(rk, max(10, int(round(rk.lognormal_int(180, 0.4, 100, 400) * sc))))
        accs.append(H.eval_harness(r, w, pools, sc, suites[key]))
    for i in range(hn["stress_test"]):
        accs.append(H.stress_test(R(s, "stress", i), w, pools, sc))
    public = B.public_coding_tasks(s)  # shared by coding products' users and coding operations
    for i in range(hn["agent_product"]):
        accs.append(H.agent_product(R(s, "agent", i), w, pools, sc, public))
    same = Counter(kind for kind, _, _ in pl["campaigns"])
    for kind, j, size in pl["campaigns"]:
        accs.extend(A.Campaign(cfg, w, kind, j, size, n_same=same[kind], pools=pools,
                               cohort_created=tuple(cohort_created), public=public).accounts())
    return accs


def simulate(config: SimConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate labelled synthetic traffic: ``(requests, labels)``.

    ``requests`` has exactly the contract columns (request_id, account_id, timestamp, prompt,
    system, tools and, with ``include_metadata``, ip and account_created_at), sorted by
    timestamp. ``labels`` has one row per request: request_id, account_id, area, role, kind,
    campaign, target_area.
    """
    cfg = config or SimConfig()
    accs = _accounts(cfg)
    # account ids: a hash of the seed and a shuffled position, so nothing encodes the role
    order = np.random.default_rng(np.random.SeedSequence([cfg.seed & 0xFFFFFFFF, 0xACC7])).permutation(len(accs))
    ids = [""] * len(accs)
    for pos, ai in enumerate(order):
        ids[ai] = "acct-" + stable_hex(cfg.seed, "acct", pos, n=12)
    return _frames(cfg, accs, ids, "req-")


def campaign(config: SimConfig, kind: str, n_accounts: int, prefix: str = "canary-") -> tuple[pd.DataFrame, pd.DataFrame]:
    """One campaign of ``kind`` (``attacks.CAMPAIGN_KINDS``) over ``n_accounts`` accounts alone,
    without the population around it: ``(requests, labels)`` as ``simulate`` gives them, inside
    ``config``'s days, with the adaptive-attacker options of ``config``. Account ids are
    ``PREFIX + kind + '-' + hash`` and request ids ``PREFIX + 'req-' + hash``, so a campaign
    injected into real traffic (a canary) can never take a real account's id."""
    if kind not in A.CAMPAIGN_KINDS:
        raise ValueError(f"unknown campaign kind {kind!r}: use one of {', '.join(A.CAMPAIGN_KINDS)}")
    if n_accounts < 1:
        raise ValueError("a campaign needs at least one account")
    w = TM.Window(config.start, config.days)
    accs = A.Campaign(config, w, kind, 1, n_accounts, pools=N.SharedPools(config.seed),
                      public=B.public_coding_tasks(config.seed)).accounts()
    ids = [f"{prefix}{kind}-" + stable_hex(config.seed, prefix, kind, pos, n=12) for pos in range(len(accs))]
    return _frames(config, accs, ids, f"{prefix}req-")


def _frames(cfg: SimConfig, accs: list[P.Account], ids: list[str], request_prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The accounts' requests and labels as two frames, sorted by time (see ``simulate``)."""
    cols: dict[str, list] = {k: [] for k in ("rid", "aid", "t", "prompt", "system", "tools", "ip", "created",
                                              "area", "role", "kind", "campaign", "target")}
    for ai, acc in enumerate(accs):
        aid = ids[ai]
        n = len(acc.reqs)
        cols["aid"].extend([aid] * n)
        cols["rid"].extend(request_prefix + stable_hex(cfg.seed, aid, k, n=20) for k in range(n))
        cols["t"].extend(acc.times)
        cols["prompt"].extend(q.prompt for q in acc.reqs)
        cols["system"].extend(q.system for q in acc.reqs)
        cols["tools"].extend(q.tools for q in acc.reqs)
        cols["ip"].extend(acc.ips)
        cols["created"].extend([min(acc.created_at, min(acc.times) - 1.0)] * n)
        cols["area"].extend(q.area for q in acc.reqs)
        cols["role"].extend([acc.role] * n)
        cols["kind"].extend([acc.kind] * n)
        cols["campaign"].extend([acc.campaign] * n)
        cols["target"].extend([acc.target_area] * n)
    t = np.asarray(cols["t"], dtype="float64")
    idx = np.lexsort((np.asarray(cols["rid"]), t))
    tsus = np.round(t[idx] * 1e6).astype("int64")

    def take(name: str) -> list:
        c = cols[name]
        return [c[i] for i in idx]

    def utc(us: np.ndarray) -> pd.Series:
        return pd.Series(pd.to_datetime(us, unit="us", utc=True)).astype("datetime64[us, UTC]")

    req = pd.DataFrame({
        SC.REQUEST_ID: pd.Series(take("rid"), dtype=str),
        SC.ACCOUNT_ID: pd.Series(take("aid"), dtype=str),
        SC.TIMESTAMP: utc(tsus),
        SC.PROMPT: pd.Series(take("prompt"), dtype=str),
        # str or None, kept as Python objects so ``x is None`` works for consumers
        SC.SYSTEM: pd.Series(take("system"), dtype=object),
        SC.TOOLS: pd.Series(take("tools"), dtype=object),
    })
    if cfg.include_metadata:
        req[SC.IP] = pd.Series(take("ip"), dtype=str)
        cr = np.round(np.asarray(cols["created"], dtype="float64")[idx] * 1e6).astype("int64")
        req[SC.ACCOUNT_CREATED_AT] = utc(cr)
    lab = pd.DataFrame({
        SC.REQUEST_ID: req[SC.REQUEST_ID],
        SC.ACCOUNT_ID: req[SC.ACCOUNT_ID],
        SC.AREA: pd.Series(take("area"), dtype=str),
        "role": pd.Series(take("role"), dtype=str),
        "kind": pd.Series(take("kind"), dtype=str),
        "campaign": pd.Series(take("campaign"), dtype=str),
        "target_area": pd.Series(take("target"), dtype=str),
    })
    if req[SC.REQUEST_ID].duplicated().any():  # pragma: no cover - 80-bit hashes
        raise RuntimeError("request_id collision")
    return req.reset_index(drop=True), lab.reset_index(drop=True)
