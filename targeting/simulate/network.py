"""Client addresses and account creation times.

Residential addresses come from a shared set of ISP prefixes, so proxy-pool addresses and
ordinary home users overlap; mobile-carrier NAT and corporate gateways put unrelated users on
the same address.
"""

from __future__ import annotations

from .rand import R

RESIDENTIAL_PREFIXES = [
    "73.{}", "24.{}", "98.{}", "76.{}", "67.{}", "71.{}", "86.{}", "90.{}", "2.{}", "5.{}", "31.{}",
    "81.{}", "82.{}", "84.{}", "93.{}", "176.{}", "178.{}", "187.{}", "189.{}", "177.{}", "201.{}",
    "36.{}", "39.{}", "49.{}", "58.{}", "60.{}", "61.{}", "101.{}", "112.{}", "114.{}", "117.{}",
    "121.{}", "122.{}", "125.{}", "41.{}", "105.{}", "197.{}", "88.{}", "94.{}", "109.{}",
]
CLOUD_PREFIXES = ["3.{}", "18.{}", "52.{}", "54.{}", "34.{}", "35.{}", "20.{}", "40.{}", "104.{}",
                  "159.{}", "167.{}", "138.{}", "143.{}", "13.{}", "44.{}"]
CAMPUS_PREFIXES = ["128.{}", "129.{}", "130.{}", "131.{}", "141.{}", "192.{}", "193.{}", "150.{}"]
V6_PREFIXES = ["2a02:{:x}:{:x}", "2600:{:x}:{:x}", "2001:{:x}:{:x}", "2804:{:x}:{:x}", "240e:{:x}:{:x}"]


def _v4(r: R, prefixes: list[str]) -> str:
    p = r.pick(prefixes).format(r.randint(0, 255))
    return f"{p}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def residential(r: R, v6: float = 0.0) -> str:
    if r.maybe(v6):
        p = r.pick(V6_PREFIXES).format(r.randint(0, 0xFFFF), r.randint(0, 0xFFFF))
        return f"{p}:{r.randint(0, 0xFFFF):x}:{r.randint(0, 0xFFFF):x}::{r.randint(1, 0xFFFF):x}"
    return _v4(r, RESIDENTIAL_PREFIXES)


def cloud(r: R) -> str:
    return _v4(r, CLOUD_PREFIXES)


def subnet24(r: R, prefixes: list[str] | None = None) -> str:
    p = r.pick(prefixes or CAMPUS_PREFIXES).format(r.randint(0, 255))
    return f"{p}.{r.randint(0, 255)}"


def in_subnet(r: R, net: str) -> str:
    return f"{net}.{r.randint(2, 250)}"


class SharedPools:
    """Addresses shared by unrelated users: carrier NAT and corporate gateways."""

    def __init__(self, seed: int) -> None:
        r = R(seed, "network-pools")
        self.cgnat = [_v4(r, ["172.56.{}", "174.{}", "166.{}", "100.{}", "223.{}", "110.{}"]) for _ in range(60)]
        self.corporate = [_v4(r, CLOUD_PREFIXES + ["62.{}", "193.{}", "12.{}"]) for _ in range(40)]
        self.vpn = [cloud(r) for _ in range(25)]


def created_before(r: R, first_ts: float, *, old_days: tuple[float, float] = (30, 1400),
                   recent_share: float = 0.12) -> float:
    """Creation time of an ordinary account: usually months or years ago, sometimes recent."""
    if r.maybe(recent_share):
        return first_ts - r.uniform(0.02, 20) * 86400.0
    lo, hi = old_days
    import math

    d = math.exp(r.uniform(math.log(lo), math.log(hi)))
    return first_ts - d * 86400.0 - r.uniform(0, 86400.0)
