"""Indicators other providers can use: a campaign's signatures out as a STIX 2.1 bundle, a
received bundle matched against the accounts here.

- ``keys``: the keys that link accounts (template band and wrapper keys, system-prompt
  family keys, tool-schema set hashes, address ranges) per account, as one-way digests under
  a named scheme both providers compute alike; the keyed hashes that stand for account ids;
- ``bundle``: the bundle written with the ``stix2`` package, and a received one read back
  under strict limits (``errors.IndicatorBundleError`` for anything else);
- ``match``: which indicator keys are a campaign's own, which accounts here carry a received
  campaign's, and the reason that says so.

Pure functions: the job (``targeting.jobs.share``) reads the workspace and writes the files.
"""

from targeting.indicators.bundle import CampaignFacts, Received, ReceivedCampaign, build_bundle, parse_bundle
from targeting.indicators.keys import KINDS, account_ref, key_scheme, request_keys
from targeting.indicators.match import match_accounts, select_indicators, with_indicator_reasons

__all__ = [
    "KINDS", "CampaignFacts", "Received", "ReceivedCampaign", "account_ref", "build_bundle", "key_scheme",
    "match_accounts", "parse_bundle", "request_keys", "select_indicators", "with_indicator_reasons",
]
