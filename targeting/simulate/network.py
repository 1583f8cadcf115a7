"""Client addresses and account creation times.

Residential addresses come from a shared set of ISP prefixes, so proxy-pool addresses and
ordinary home users overlap; mobile-carrier NAT and corporate gateways put unrelated users on
the same address. Cloud egress is shared too: serverless platforms and NAT gateways send many
unrelated customers' apps and scripts out through a few addresses, and proxy providers resell
exits on the same clouds, so one exact cloud address can carry both an attacker's and an
unrelated app's traffic.
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
CORPORATE_PREFIXES = CLOUD_PREFIXES + ["62.{}", "193.{}", "12.{}", "195.{}", "217.{}", "80.{}", "145.{}"]
CAMPUS_PREFIXES = ["128.{}", "129.{}", "130.{}", "131.{}", "141.{}", "192.{}", "193.{}", "150.{}"]
V6_PREFIXES = ["2a02:{:x}:{:x}", "2600:{:x}:{:x}", "2001:{:x}:{:x}", "2804:{:x}:{:x}", "240e:{:x}:{:x}"]


def _v4(r: R, prefixes: list[str]) -> str:
    p = r.pick(prefixes).format(r.randint(0, 255))
    c, d = r.randint(0, 255), r.randint(1, 254)
    # a three-octet prefix ("172.56.{}") takes one more octet, not two (same draws either way)
    return f"{p}.{d}" if p.count(".") == 2 else f"{p}.{c}.{d}"


def residential(r: R, v6: float = 0.0) -> str:
    if r.maybe(v6):
        p = r.pick(V6_PREFIXES).format(r.randint(0, 0xFFFF), r.randint(0, 0xFFFF))
        return f"{p}:{r.randint(0, 0xFFFF):x}:{r.randint(0, 0xFFFF):x}::{r.randint(1, 0xFFFF):x}"
    return _v4(r, RESIDENTIAL_PREFIXES)


def cloud(r: R) -> str:
    return _v4(r, CLOUD_PREFIXES)


def gateway(r: R) -> str:
    """A company's own egress address (an office firewall or a cloud-hosted secure gateway)."""
    return _v4(r, CORPORATE_PREFIXES)


def cloud_exit(r: R, pools: "SharedPools", shared: bool) -> str:
    """An app's or script's outbound address: from the shared egress pool when it runs on a
    serverless platform or behind a provider NAT (``shared``), else a dedicated cloud address."""
    return r.pick(pools.cloud_egress) if shared else cloud(r)


def subnet24(r: R, prefixes: list[str] | None = None) -> str:
    p = r.pick(prefixes or CAMPUS_PREFIXES).format(r.randint(0, 255))
    return f"{p}.{r.randint(0, 255)}"


def in_subnet(r: R, net: str) -> str:
    return f"{net}.{r.randint(2, 250)}"


class SharedPools:
    """Addresses shared by unrelated users: carrier NAT, corporate gateways, VPNs and cloud egress.

    ``cloud_egress`` is deliberately small: the benign apps and scripts on shared platforms
    and a share of every attacker proxy pool draw from it, so exact address matches between
    an attacker and unrelated benign accounts exist, as they do in real logs.
    """

    N_CLOUD_EGRESS = 24

    def __init__(self, seed: int) -> None:
        r = R(seed, "network-pools")
        self.cgnat = [_v4(r, ["172.56.{}", "174.{}", "166.{}", "100.{}", "223.{}", "110.{}"]) for _ in range(60)]
        self.corporate = [_v4(r, CLOUD_PREFIXES + ["62.{}", "193.{}", "12.{}"]) for _ in range(40)]
        self.vpn = [cloud(r) for _ in range(25)]
        # own stream: the pools above stay as they were
        rc = R(seed, "network-cloud-egress")
        self.cloud_egress = [cloud(rc) for _ in range(self.N_CLOUD_EGRESS)]


def created_before(r: R, first_ts: float, *, old_days: tuple[float, float] = (30, 1400),
                   recent_share: float = 0.12) -> float:
    """Creation time of an ordinary account: usually months or years ago, sometimes recent."""
    if r.maybe(recent_share):
        return first_ts - r.uniform(0.02, 20) * 86400.0
    lo, hi = old_days
    import math

    d = math.exp(r.uniform(math.log(lo), math.log(hi)))
    return first_ts - d * 86400.0 - r.uniform(0, 86400.0)
