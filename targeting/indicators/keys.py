"""The keys a shared indicator is made of, per account, and the keyed hashes of account ids.

Four kinds (``KINDS``), each the evidence ``targeting.campaigns`` and ``targeting.linking``
link accounts by:

- ``template``: the LSH band keys of a prompt's masked skeleton and its wrapper head and
  tail keys (``signals.templates.template_parts`` / ``band_keys``);
- ``system_family``: the band keys of a system prompt's skeleton
  (``signals.templates.system_families``): the family of an operation's "expert" prompt;
- ``tool_set``: the set of tool schemas a request offers, hashed in a canonical form (the
  same tools in another order or spacing are one set);
- ``address_range``: the client's range (IPv4 /24, IPv6 /48: ``linking.address_keys``).

The first three leave as digests: SHA-256 of the scheme, the kind and the raw key, cut to
``DIGEST_HEX`` hex digits. The scheme (``key_scheme``) names the version of this file and
the digest of everything the template keys depend on besides the text
(``signals.templates.template_parts_key``: MinHash permutations, shingles, masks), so a
provider whose settings make other keys finds no match rather than a false one, and is told
why. A digest is one-way, but it can be tested against a guess: it says nothing of a prompt
one does not already have, which is what lets the receiver match its own traffic, and why no
user's text is hashed whole (skeletons mask numbers, quotes, code, URLs and addresses).

Account ids never leave in clear: ``account_ref`` is an HMAC-SHA256 with a per-provider
secret (``workspace.indicator_secret``), so only the provider that wrote a bundle can tell
which of its accounts a reference names.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import numpy as np
import pandas as pd

from targeting.jsonlimits import loads_bounded
from targeting.linking import address_keys
from targeting.signals.templates import band_keys, system_families, template_parts, template_parts_key

KINDS: tuple[str, ...] = ("template", "system_family", "tool_set", "address_range")
SCHEME_VERSION = 1  # bump when a key kind, its canonical form or the digest change meaning
DIGEST_HEX = 32  # hex digits kept of each SHA-256 digest (128 bits)
KEY_COLUMNS: tuple[str, ...] = ("account_id", "kind", "key", "item")  # item: the prompt / context / address carrying it


def key_scheme(seed: int = 0) -> str:
    """The convention both providers must share for their keys to meet (see the module)."""
    return f"targeting-indicators/{SCHEME_VERSION}/{template_parts_key(seed)}"


def digest(scheme: str, kind: str, raw: str) -> str:
    """The key as it leaves: a domain-separated SHA-256 of the raw key."""
    return hashlib.sha256(f"{scheme}|{kind}|{raw}".encode()).hexdigest()[:DIGEST_HEX]


def account_ref(secret: bytes, account_id: str) -> str:
    """The keyed hash (HMAC-SHA256, hex) that stands for an account id in a bundle."""
    return hmac.new(secret, str(account_id).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def tool_set_raw(tools: object) -> str | None:
    """The canonical form of a request's tool definitions: each tool as compact JSON with
    sorted keys, the set of them sorted; the text as it is when it is not a JSON list; None
    when there are none."""
    if not isinstance(tools, str) or not tools.strip():
        return None
    try:
        parsed = loads_bounded(tools)
    except ValueError:
        return tools.strip()
    if not isinstance(parsed, list) or not parsed:
        return tools.strip()
    return "\n".join(sorted({json.dumps(t, sort_keys=True, separators=(",", ":")) for t in parsed}))


def _long(pairs: pd.DataFrame, item: str, keys: np.ndarray, kind: str, scheme: str) -> pd.DataFrame:
    """(account, kind, digest, item) rows: ``pairs`` (account_id, ``item``) against each non-zero
    key of its item; row i of ``keys`` belongs to the i-th distinct value of ``pairs[item]`` in
    order of appearance (``pd.unique``)."""
    codes, uniques = pd.factorize(pairs[item])
    nonzero = keys != 0
    owner = np.repeat(np.arange(len(keys)), nonzero.sum(axis=1))
    digests = [digest(scheme, kind, format(int(k), "016x")) for k in keys[nonzero]]
    per_item = pd.DataFrame({"code": owner, "key": digests})
    merged = pd.DataFrame({"account_id": pairs["account_id"].to_numpy(), "code": codes}).merge(per_item, on="code")
    return pd.DataFrame({"account_id": merged["account_id"].to_numpy(), "kind": kind, "key": merged["key"].to_numpy(),
                         "item": np.asarray(uniques, dtype=object)[merged["code"].to_numpy()]})


def _template_rows(requests: pd.DataFrame, scheme: str, seed: int) -> pd.DataFrame:
    pairs = requests[["account_id", "prompt_hash"]].drop_duplicates()
    texts = requests.drop_duplicates("prompt_hash").set_index("prompt_hash")["prompt"]
    order = pd.unique(pairs["prompt_hash"])
    parts = template_parts([str(t) for t in texts.reindex(order).fillna("")], seed)
    keys = np.hstack([band_keys(parts.sigs, parts.eligible), parts.affixes])
    return _long(pairs, "prompt_hash", keys, "template", scheme)


def _context_rows(requests: pd.DataFrame, scheme: str, seed: int) -> list[pd.DataFrame]:
    has = requests["context_hash"].notna()
    if not has.any():
        return []
    sub = requests.loc[has]
    pairs = sub[["account_id", "context_hash"]].drop_duplicates()
    contexts = sub.drop_duplicates("context_hash").set_index("context_hash").reindex(pd.unique(pairs["context_hash"]))
    systems = [s if isinstance(s, str) else None for s in contexts["system"]]
    out = [_long(pairs, "context_hash", system_families(systems, seed), "system_family", scheme)]
    raw = [tool_set_raw(t) for t in contexts["tools"]]
    tool_keys = pd.Series([digest(scheme, "tool_set", r) if r else None for r in raw], index=contexts.index)
    tools = pairs.assign(key=tool_keys.reindex(pairs["context_hash"].to_numpy()).to_numpy()).dropna(subset=["key"])
    out.append(pd.DataFrame({"account_id": tools["account_id"].to_numpy(), "kind": "tool_set",
                             "key": tools["key"].to_numpy(), "item": tools["context_hash"].to_numpy()}))
    return out


def _address_rows(requests: pd.DataFrame) -> pd.DataFrame:
    if "ip" not in requests or not requests["ip"].notna().any():
        return pd.DataFrame(columns=list(KEY_COLUMNS))
    pairs = requests.loc[requests["ip"].notna(), ["account_id", "ip"]].drop_duplicates()
    ranges = {ip: (address_keys(ip) or (None, None))[1] for ip in pd.unique(pairs["ip"])}
    key = pairs["ip"].map(ranges)
    ok = key.notna().to_numpy()
    return pd.DataFrame({"account_id": pairs["account_id"].to_numpy()[ok], "kind": "address_range",
                         "key": key.to_numpy()[ok], "item": pairs["ip"].to_numpy()[ok]})


def request_keys(requests: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Every key of every account in ``requests`` (columns account_id, prompt_hash, prompt,
    context_hash, system, tools and, when logged, ip): one row per (account, kind, key, item),
    ``KEY_COLUMNS``; ``item`` is the prompt hash, context hash or address that carries the key
    (so a match can count distinct prompts). Address ranges stay in clear (CIDR): a range is
    what a receiver blocks or watches, and is not a user's address."""
    scheme = key_scheme(seed)
    if requests.empty:
        return pd.DataFrame(columns=list(KEY_COLUMNS))
    parts = [_template_rows(requests, scheme, seed), *_context_rows(requests, scheme, seed), _address_rows(requests)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=list(KEY_COLUMNS))
    return pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)[list(KEY_COLUMNS)]
