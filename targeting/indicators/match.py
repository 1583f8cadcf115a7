"""Which keys are a campaign's own, which accounts carry a received campaign's, and the reason.

Export (``select_indicators``): a key is the campaign's when at least ``MIN_KEY_MEMBERS`` of
its members carry it (an operation's wording recurs; one prompt's keys are coincidence) and
at least ``KEY_PURITY`` of the accounts carrying it here are members (a line everyone uses
is no indicator). The keys carried by the most members are kept, at most
``MAX_KEYS_PER_KIND`` of each kind.

Import (``match_accounts``): keys that more than ``LOCAL_COMMON_SHARE`` of the accounts
here carry are boilerplate here and never match (a careless or hostile bundle that lists
"You are a helpful assistant" flags nobody). An account carries a received campaign when
it carries ``MIN_MATCH_KEYS`` and ``MIN_MATCH_SHARE`` of its template signatures on
``MIN_MATCH_ITEMS`` distinct prompts, or as many of its system-prompt family keys in
``MIN_MATCH_ITEMS`` distinct system prompts (the rule of ``campaigns.MIN_SUPPORT`` and ``MIN_VARIANTS``: wording
that recurs). Tool-schema sets and address ranges are reported beside a match and never make
one (agent products share a framework's standard tools; carriers and clouds share ranges),
as infrastructure completes a link in ``targeting.campaigns`` and never makes one. A
received campaign that would match more than ``MAX_MATCH_SHARE`` of the accounts here is
too broad to be one operation's: it is reported and no account takes its reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.indicators.bundle import ReceivedCampaign
from targeting.indicators.keys import KINDS

MIN_KEY_MEMBERS = 2  # members that must carry a key for it to be the campaign's
KEY_PURITY = 0.75  # share of the accounts carrying a key here that must be members
MAX_KEYS_PER_KIND = 300  # keys of one kind in a bundle (the most widely carried first)
LOCAL_COMMON_SHARE = 0.1  # a received key carried by more of the accounts here is boilerplate here
MIN_MATCH_KEYS = 3  # template signatures (or family keys) an account must carry, at least ...
MIN_MATCH_SHARE = 0.05  # ... and this share of the campaign's keys of the kind, ...
MIN_MATCH_ITEMS = 2  # ... on this many distinct prompts (or system prompts)
MAX_MATCH_SHARE = 0.2  # a received campaign matching more of the accounts here is too broad
MATCH_COLUMNS: tuple[str, ...] = (
    "account_id", "bundle", "provider", "campaign", "campaign_ref", "template_keys", "template_of", "family_keys", "family_of",
    "tool_sets", "tool_sets_of", "ranges", "ranges_of", "reason",
)
REASON_PREFIX = "matches an indicator shared by "


def select_indicators(keys: pd.DataFrame, members: set[str]) -> dict[str, list[str]]:
    """The campaign's own keys of each kind (see the module), from every account's ``keys``
    (``keys.request_keys``); ``members`` are the campaign's account ids."""
    if keys.empty:
        return {kind: [] for kind in KINDS}
    per = keys[["account_id", "kind", "key"]].drop_duplicates()
    per = per.assign(member=per["account_id"].isin(members))
    counts = per.groupby(["kind", "key"], sort=False)["member"].agg(["sum", "size"]).reset_index()
    counts = counts[(counts["sum"] >= MIN_KEY_MEMBERS) & (counts["sum"] >= KEY_PURITY * counts["size"])]
    counts = counts.sort_values(["kind", "sum", "key"], ascending=[True, False, True])
    return {kind: counts.loc[counts["kind"] == kind, "key"].head(MAX_KEYS_PER_KIND).tolist() for kind in KINDS}


def _carried(keys: pd.DataFrame, received: ReceivedCampaign, common: set[tuple[str, str]]) -> pd.DataFrame:
    """Per account and kind: distinct received keys carried (``n``) and distinct items carrying them."""
    wanted = pd.DataFrame([(kind, key) for kind in KINDS for key in received.keys.get(kind, ())
                           if (kind, key) not in common], columns=["kind", "key"])
    hits = keys.merge(wanted, on=["kind", "key"]) if len(wanted) else keys.iloc[:0]
    if hits.empty:
        return pd.DataFrame(columns=["account_id", "kind", "n", "items"])
    return hits.groupby(["account_id", "kind"]).agg(n=("key", "nunique"), items=("item", "nunique")).reset_index()


def common_keys(keys: pd.DataFrame, n_accounts: int) -> set[tuple[str, str]]:
    """(kind, key) pairs more than ``LOCAL_COMMON_SHARE`` of the ``n_accounts`` accounts here carry."""
    if keys.empty:
        return set()
    users = keys[["account_id", "kind", "key"]].drop_duplicates().groupby(["kind", "key"]).size()
    return set(users[users > LOCAL_COMMON_SHARE * max(n_accounts, 1)].index)


def match_accounts(
    keys: pd.DataFrame, received: ReceivedCampaign, *, n_accounts: int, bundle: str, provider: str
) -> tuple[pd.DataFrame, str]:
    """(the accounts here that carry ``received``, ``MATCH_COLUMNS`` with their reason; a note
    on what was left out: keys common here, a campaign too broad). ``keys`` are every account's
    keys here (``keys.request_keys`` under the bundle's scheme)."""
    common = common_keys(keys, n_accounts)
    left_out = sum(1 for kind in KINDS for key in received.keys.get(kind, ()) if (kind, key) in common)
    note = f"{left_out} received keys are common here and were not matched" if left_out else ""
    carried = _carried(keys, received, common)
    wide = carried.pivot_table(index="account_id", columns="kind", values=["n", "items"], fill_value=0)
    empty = pd.DataFrame(columns=list(MATCH_COLUMNS))
    if wide.empty:
        return empty, note

    def col(what: str, kind: str) -> pd.Series:
        return wide[(what, kind)] if (what, kind) in wide else pd.Series(0, index=wide.index)

    sizes = {kind: len(received.keys.get(kind, ())) for kind in KINDS}
    template, family = col("n", "template"), col("n", "system_family")
    matched = ((template >= needed(sizes["template"])) & (col("items", "template") >= MIN_MATCH_ITEMS)) | (
        (family >= needed(sizes["system_family"])) & (col("items", "system_family") >= MIN_MATCH_ITEMS))
    if matched.sum() > MAX_MATCH_SHARE * max(n_accounts, 1):
        broad = (f"campaign {received.name} would match {int(matched.sum())} of {n_accounts} accounts: too broad "
                 "to be one operation's, no account takes its reason")
        return empty, "; ".join(x for x in (note, broad) if x)
    out = pd.DataFrame({
        "account_id": wide.index[matched.to_numpy()].astype(str),
        "bundle": bundle, "provider": provider, "campaign": received.name, "campaign_ref": received.stix_id,
        "template_keys": template[matched].to_numpy(dtype=np.int64), "template_of": sizes["template"],
        "family_keys": family[matched].to_numpy(dtype=np.int64), "family_of": sizes["system_family"],
        "tool_sets": col("n", "tool_set")[matched].to_numpy(dtype=np.int64), "tool_sets_of": sizes["tool_set"],
        "ranges": col("n", "address_range")[matched].to_numpy(dtype=np.int64), "ranges_of": sizes["address_range"],
    })
    out["reason"] = [reason(row) for row in out.itertuples(index=False)]
    return out[list(MATCH_COLUMNS)].reset_index(drop=True), note


def needed(n_keys: int) -> int:
    """Keys of a kind an account must carry of a campaign's ``n_keys``."""
    return max(MIN_MATCH_KEYS, int(np.ceil(MIN_MATCH_SHARE * n_keys)))


def reason(row) -> str:
    """The reason an account takes from a match: who shared the indicator and how much of it
    the account carries."""
    parts = [f"{row.template_keys} of {row.template_of} template signatures"]
    if row.family_of:
        parts.append(f"{row.family_keys} of {row.family_of} system-prompt family keys")
    if row.tool_sets_of:
        parts.append(f"{row.tool_sets} of {row.tool_sets_of} tool-schema sets")
    if row.ranges_of:
        parts.append(f"addresses in {row.ranges} of {row.ranges_of} shared ranges")
    return f"{REASON_PREFIX}{row.provider} (campaign {row.campaign}): " + ", ".join(parts)


def with_indicator_reasons(scores: pd.DataFrame, matches: pd.DataFrame | None) -> pd.DataFrame:
    """The score table with each account's indicator matches (``match_accounts``, every bundle
    imported) appended to its ``reasons`` and counted in ``indicator_matches``; the risk score
    and the flag are the model's, unchanged (a shared indicator is another provider's finding,
    shown beside this one's evidence, not folded into it)."""
    out = scores.copy()
    out["indicator_matches"] = 0
    if matches is None or matches.empty or "account_id" not in out:
        return out
    per = matches.groupby("account_id")["reason"].agg(lambda r: "; ".join(sorted(set(r))))
    count = matches.groupby("account_id").size()
    ids = out["account_id"].astype(str)
    extra = ids.map(per)
    has = extra.notna().to_numpy()
    out["indicator_matches"] = ids.map(count).fillna(0).astype(int).to_numpy()
    if "reasons" in out:
        base = out["reasons"].fillna("").astype(str)
        joined = np.where(base == "", extra.fillna(""), base + "; " + extra.fillna(""))
        out["reasons"] = np.where(has, joined, base)
    return out
