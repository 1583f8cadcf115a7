"""Sharing indicators with other providers: ``targeting indicators export`` and ``import``.

Both read the workspace's latest scores and the requests of their window, compute every
scored account's keys (``indicators.request_keys``) and hand them to the pure functions of
``targeting.indicators``. Export writes one bundle file (atomic, owner-only:
``exports.write_file``); import keeps what it read and the accounts it matched in the
workspace, under the workspace lock (``workspace.write_received_indicators``), where the
account export and ``explain`` show the match as a reason (``indicators.with_indicator_reasons``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa

from targeting import schema as S
from targeting import workspace as W
from targeting.config import Settings
from targeting.errors import InputError, UsageProblem
from targeting.exports import write_file
from targeting.ids import normalise_id
from targeting.indicators import (
    KINDS, CampaignFacts, Received, account_ref, build_bundle, key_scheme, match_accounts, parse_bundle,
    request_keys, select_indicators,
)
from targeting.indicators.bundle import MAX_BUNDLE_BYTES
from targeting.indicators.match import MATCH_COLUMNS
from targeting.verdicts import latest_verdicts

KEY_INPUT_COLUMNS = [S.ACCOUNT_ID, S.PROMPT_HASH, S.PROMPT, S.CONTEXT_HASH, S.SYSTEM, S.TOOLS, S.IP]


@dataclass
class ExportResult:
    campaign: str
    verdict: str
    size: int
    counts: dict[str, int]  # keys of each kind in the bundle
    out: Path


@dataclass
class ImportResult:
    bundle: str
    campaigns: list[tuple[str, str, int]] = field(default_factory=list)  # (provider, campaign, accounts matched)
    notes: list[str] = field(default_factory=list)
    matches: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(MATCH_COLUMNS)))


def _latest(ws: W.Workspace) -> pd.DataFrame:
    table = W.read_latest_scores(ws)
    if table is None or table.num_rows == 0:
        raise UsageProblem(f"workspace {ws.root} has no scores yet: run `targeting run` first")
    return table.to_pandas()


def window_keys(ws: W.Workspace, scores: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every scored account's keys over the requests of the scores' window (its first to its
    last seen day)."""
    first = pd.to_datetime(scores["first_seen"], utc=True).min().date()
    last = pd.to_datetime(scores["last_seen"], utc=True).max().date()
    requests = W.read_requests(ws, KEY_INPUT_COLUMNS, start_date=first, end_date=last).to_pandas()
    requests = requests[requests[S.ACCOUNT_ID].isin(set(scores["account_id"].astype(str)))]
    return request_keys(requests, seed=seed)


def _standing_verdict(ws: W.Workspace, campaign: str) -> str:
    latest = latest_verdicts(ws)
    own = latest[(latest["target_kind"] == "campaign") & (latest["target_id"] == campaign)]
    return str(own["verdict"].iloc[-1]) if len(own) else "none"


def _facts(scores: pd.DataFrame, members: pd.DataFrame, campaign: str, verdict: str, secret: bytes,
           scheme: str) -> CampaignFacts:
    area_column = next((c for c in ("content_area", "dominant_area", "target_area") if c in members), None)
    area = str(members[area_column].mode().iloc[0]) if area_column else "unknown"
    return CampaignFacts(
        ref=account_ref(secret, "campaign:" + campaign), size=len(members), area=area,
        first_seen=pd.to_datetime(members["first_seen"], utc=True).min().to_pydatetime(),
        last_seen=pd.to_datetime(members["last_seen"], utc=True).max().to_pydatetime(),
        verdict=verdict, account_refs=tuple(sorted(account_ref(secret, a) for a in members["account_id"].astype(str))),
        scheme=scheme)


def export_indicators(workspace: Path, campaign: str, out: Path, settings: Settings, *, provider: str) -> ExportResult:
    """Write campaign ``campaign``'s indicators as a STIX 2.1 bundle at ``out``. A campaign
    an analyst dismissed is refused (UsageProblem); one not confirmed is exported with its
    standing verdict in the bundle, and the result says so."""
    ws = W.open_workspace(workspace)
    campaign = normalise_id(campaign)
    provider = provider.strip()
    if not provider:
        raise UsageProblem("--provider is empty: name the organisation receivers will see")
    scores = _latest(ws)
    members = scores[scores["campaign_id"].fillna("").astype(str) == campaign] if campaign else scores.iloc[:0]
    if members.empty:
        raise UsageProblem(f"no campaign {campaign!r} in the latest scores of {ws.root}")
    verdict = _standing_verdict(ws, campaign)
    if verdict == "dismissed":
        raise UsageProblem(f"campaign {campaign} was dismissed by an analyst: not exported")
    scheme = key_scheme(settings.signals.seed)
    keys = window_keys(ws, scores, settings.signals.seed)
    chosen = select_indicators(keys, set(members["account_id"].astype(str)))
    if not any(chosen.values()):
        raise UsageProblem(f"campaign {campaign} has no key that two of its members share and others rarely use: "
                           "nothing to share")
    facts = _facts(scores, members, campaign, verdict, W.indicator_secret(ws), scheme)
    text = build_bundle(facts, chosen, provider=provider, created=datetime.now(timezone.utc).replace(microsecond=0))
    try:
        write_file(out, lambda handle: handle.write(text.encode("utf-8")))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise UsageProblem(f"--out {out}: {exc.strerror or exc}") from None
    return ExportResult(campaign, verdict, len(members), {k: len(chosen.get(k, [])) for k in KINDS}, out)


def read_bundle_file(path: Path) -> bytes:
    """The bytes of a received bundle, at most one more than ``MAX_BUNDLE_BYTES`` read (the
    parser refuses a larger one); InputError for a path that is no readable file."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None


def _match_all(received: Received, keys: pd.DataFrame, n_accounts: int, scheme: str, result: ImportResult) -> None:
    frames = []
    for camp in received.campaigns:
        if camp.scheme != scheme:
            result.notes.append(f"campaign {camp.name} of {camp.provider}: keys made under scheme {camp.scheme}, "
                                f"this workspace's are {scheme}; not matched (the signals seed or version differs)")
            result.campaigns.append((camp.provider, camp.name, 0))
            continue
        matched, note = match_accounts(keys, camp, n_accounts=n_accounts, bundle=received.key, provider=camp.provider)
        if note:
            result.notes.append(f"campaign {camp.name}: {note}")
        result.campaigns.append((camp.provider, camp.name, len(matched)))
        frames.append(matched)
    frames = [f for f in frames if not f.empty]
    if frames:
        result.matches = pd.concat(frames, ignore_index=True)


def import_indicators(workspace: Path, path: Path, settings: Settings) -> ImportResult:
    """Match a received bundle against the accounts of the latest scores and keep the matches
    (replacing those of an earlier import of the same campaigns)."""
    received = parse_bundle(read_bundle_file(path))
    ws = W.open_workspace(workspace)
    scores = _latest(ws)
    result = ImportResult(bundle=received.key)
    if received.ignored:
        result.notes.append(f"{received.ignored} objects of other kinds were left alone")
    keys = window_keys(ws, scores, settings.signals.seed)
    _match_all(received, keys, len(scores), key_scheme(settings.signals.seed), result)
    with W.locked(ws):
        earlier = W.read_indicator_matches(ws)
        # a campaign imported again (from this bundle or a newer export of it) replaces its rows
        refs = {c.stix_id for c in received.campaigns}
        kept = earlier[~earlier["campaign_ref"].isin(refs)] if earlier is not None else None
        merged = pd.concat([f for f in (kept, result.matches) if f is not None and not f.empty] or [result.matches],
                           ignore_index=True)[list(MATCH_COLUMNS)]
        W.write_received_indicators(ws, received.key, received.to_dict(),
                                    pa.Table.from_pandas(merged.astype({"account_id": str}), preserve_index=False))
    return result
