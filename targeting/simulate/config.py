"""Configuration of the synthetic traffic generator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimConfig:
    """What to generate.

    The benign and hard-negative population depends only on ``seed``, ``n_accounts``,
    ``days``, ``start``, ``include_metadata`` and ``volume_scale``; the adaptive-attacker
    options change the attackers' behaviour only, so the same background traffic can be
    compared with and without each evasion.
    """

    seed: int = 0
    n_accounts: int = 1000  # total accounts, all roles together
    days: int = 14
    start: str = "2026-11-01"  # UTC date of the first day
    include_metadata: bool = True  # ip + account_created_at columns; False drops both
    volume_scale: float = 1.0  # multiplies per-account request counts
    # adaptive-attacker options (each changes attacker behaviour only)
    cover_traffic: float = 0.0  # share of each attacker's requests that are organic-looking cover
    paraphrase: bool = False  # attack template frames come in several wordings, not one
    small_accounts: bool = False  # every attacker account sends only 10-30 requests
    slow: bool = False  # campaigns spread thinly over all days instead of bursts

    def __post_init__(self) -> None:
        if self.n_accounts < 1:
            raise ValueError("n_accounts must be at least 1")
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if self.volume_scale <= 0:
            raise ValueError("volume_scale must be positive")
        if not 0.0 <= self.cover_traffic < 1.0:
            raise ValueError("cover_traffic must be in [0, 1)")
