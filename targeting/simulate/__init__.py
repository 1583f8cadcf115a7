"""Labelled synthetic API traffic: organic users, hard negatives and extraction campaigns.

>>> from targeting.simulate import SimConfig, simulate, write_traffic
>>> requests, labels = simulate(SimConfig(n_accounts=200, seed=1))
>>> paths = write_traffic("out/", requests, labels, fmt="parquet")

``requests`` has exactly the contract columns: request_id, account_id, timestamp
(datetime64[us, UTC]), prompt, system (str or None), tools (JSON array of OpenAI-style function
definitions, or None) and, with ``include_metadata``, ip and account_created_at. Rows are sorted
by timestamp.

``labels`` has one row per request, in the same order: request_id, account_id, area (the true
capability area of that request's content), role, kind, campaign, target_area.

role / kind:
  benign         organic, cohort, app_wrapper, scheduled_script, and from 500 accounts enterprise
                 (company roll-outs: colleagues created within one hour behind one gateway)
  hard_negative  eval_harness, stress_test, agent_product
  attacker       reasoning, tool_use, agentic_coding, relay   (the campaign kind)
campaign is e.g. ``"relay-1"`` for attackers and ``""`` otherwise; target_area is the
campaign's area (``"reasoning"`` for relay) and ``""`` otherwise.

Every account has its own random stream derived from the seed, so the adaptive-attacker options
(cover_traffic, paraphrase, small_accounts, slow) leave benign and hard-negative rows identical.
n_accounts must be at least 30.
"""

from .config import SimConfig
from .generate import LABEL_COLUMNS, campaign, plan, simulate
from .io import write_traffic

__all__ = ["SimConfig", "simulate", "campaign", "write_traffic", "plan", "LABEL_COLUMNS"]
