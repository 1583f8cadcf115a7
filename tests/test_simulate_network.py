"""Unit tests for targeting.simulate.network: client addresses from shared prefixes, the shared
pools (carrier NAT, corporate, VPN, cloud egress) and account creation times."""

from __future__ import annotations

import ipaddress

import pytest

from targeting.simulate import network as N
from targeting.simulate.rand import R


def first_octets(prefixes: list[str]) -> set[str]:
    return {p.split(".")[0] for p in prefixes}


def v4(addr: str) -> ipaddress.IPv4Address:
    ip = ipaddress.ip_address(addr)
    assert ip.version == 4, addr
    return ip


def test_residential_v4_from_residential_prefixes():
    r = R(1, "res")
    addrs = [N.residential(r) for _ in range(300)]
    assert all(v4(a) for a in addrs)
    assert {a.split(".")[0] for a in addrs} <= first_octets(N.RESIDENTIAL_PREFIXES)
    assert all(1 <= int(a.split(".")[3]) <= 254 for a in addrs)


def test_residential_v6_share():
    r = R(1, "res6")
    six = [N.residential(r, v6=1.0) for _ in range(100)]
    assert all(ipaddress.ip_address(a).version == 6 for a in six)
    assert {a.split(":")[0] for a in six} <= {p.split(":")[0] for p in N.V6_PREFIXES}
    mixed = [ipaddress.ip_address(N.residential(r, v6=0.3)).version for _ in range(1000)]
    assert 0.22 < mixed.count(6) / 1000 < 0.38


def test_cloud_and_gateway_prefixes():
    r = R(2, "cloud")
    assert {N.cloud(r).split(".")[0] for _ in range(300)} <= first_octets(N.CLOUD_PREFIXES)
    gw = [N.gateway(r) for _ in range(300)]
    assert all(v4(a) for a in gw)
    assert {a.split(".")[0] for a in gw} <= first_octets(N.CORPORATE_PREFIXES)


def test_subnet_and_addresses_in_it():
    r = R(3, "net")
    net = N.subnet24(r)
    assert len(net.split(".")) == 3 and net.split(".")[0] in first_octets(N.CAMPUS_PREFIXES)
    for _ in range(50):
        addr = N.in_subnet(r, net)
        assert addr.rsplit(".", 1)[0] == net and 2 <= int(addr.rsplit(".", 1)[1]) <= 250
        assert v4(addr) in ipaddress.ip_network(net + ".0/24")


def test_shared_pools_sizes_and_valid_addresses():
    pools = N.SharedPools(7)
    assert (len(pools.cgnat), len(pools.corporate), len(pools.vpn)) == (60, 40, 25)
    assert len(pools.cloud_egress) == N.SharedPools.N_CLOUD_EGRESS == 24
    for addr in pools.cgnat + pools.corporate + pools.vpn + pools.cloud_egress:
        v4(addr)  # three-octet prefixes ("172.56.{}") still give four octets


def test_shared_pools_deterministic_by_seed():
    a, b, c = N.SharedPools(7), N.SharedPools(7), N.SharedPools(8)
    assert a.cgnat == b.cgnat and a.cloud_egress == b.cloud_egress and a.vpn == b.vpn
    assert a.cgnat != c.cgnat and a.cloud_egress != c.cloud_egress


def test_cloud_egress_is_a_small_pool_of_cloud_addresses():
    pools = N.SharedPools(7)
    assert {a.split(".")[0] for a in pools.cloud_egress} <= first_octets(N.CLOUD_PREFIXES)


def test_shared_cloud_exits_come_from_the_egress_pool_and_repeat():
    pools = N.SharedPools(7)
    r = R(4, "exit")
    shared = [N.cloud_exit(r, pools, shared=True) for _ in range(200)]
    assert set(shared) <= set(pools.cloud_egress)
    assert len(set(shared)) < len(shared) / 5  # many apps behind few addresses


def test_two_apps_on_shared_egress_meet_on_an_exact_address():
    pools = N.SharedPools(7)
    r1, r2 = R(5, "app1"), R(5, "app2")
    app1 = {N.cloud_exit(r1, pools, shared=True) for _ in range(30)}
    app2 = {N.cloud_exit(r2, pools, shared=True) for _ in range(30)}
    assert app1 & app2


def test_dedicated_cloud_exits_are_mostly_their_own():
    pools = N.SharedPools(7)
    r = R(4, "dedicated")
    own = [N.cloud_exit(r, pools, shared=False) for _ in range(200)]
    assert sum(a in pools.cloud_egress for a in own) <= 2
    assert len(set(own)) > 190


@pytest.mark.parametrize("seed", range(5))
def test_created_before_the_first_request(seed):
    r = R(seed, "created")
    first = 1.7e9
    for _ in range(100):
        assert N.created_before(r, first) < first


def test_created_recent_or_old():
    r = R(6, "created")
    first = 1.7e9
    recent = [(first - N.created_before(r, first, recent_share=1.0)) / 86400 for _ in range(300)]
    assert 0.02 <= min(recent) and max(recent) <= 20
    old = [(first - N.created_before(r, first, old_days=(30, 60), recent_share=0.0)) / 86400
           for _ in range(300)]
    assert 30 <= min(old) and max(old) <= 61


def test_same_seed_same_addresses():
    make = lambda seed: [N.residential(R(seed, "a"), v6=0.5), N.cloud(R(seed, "b")),
                         N.gateway(R(seed, "c")), N.created_before(R(seed, "d"), 1.7e9)]
    assert make(1) == make(1)
    assert make(1) != make(2)
