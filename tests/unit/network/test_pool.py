"""The address pool's maths: sizes, reservations, first free address, map and counts."""

from __future__ import annotations

import pytest

from gnt.errors import ECODE_INVAL, ECODE_NORES, ECODE_NOTUNIQUE, OpPrereqError
from gnt.network.pool import AddressPool
from gnt.objects import Network


def _pool(cidr: str = "10.0.0.0/29", gateway: str | None = None) -> AddressPool:
    return AddressPool.initialise(Network(name="net1", network=cidr, gateway=gateway))


def test_a_new_pool_reserves_network_broadcast_and_gateway_externally() -> None:
    pool = _pool(gateway="10.0.0.1")
    assert pool.external_reservations() == ["10.0.0.0", "10.0.0.1", "10.0.0.7"]
    assert pool.net.ext_reservations == "11000001" and pool.net.reservations == "00000000"
    assert (pool.reserved_count(), pool.free_count()) == (3, 5)
    assert pool.map() == "XX.....X"


def test_first_free_skips_instance_external_and_held_addresses() -> None:
    pool = _pool(gateway="10.0.0.1")
    assert pool.first_free() == "10.0.0.2"
    pool.reserve("10.0.0.2")
    pool.reserve("10.0.0.3", external=True)
    assert pool.first_free() == "10.0.0.4"
    assert pool.first_free({"10.0.0.4", "192.0.2.9"}) == "10.0.0.5"
    assert pool.instance_reservations() == ["10.0.0.2"]


def test_reservations_survive_the_round_trip_through_the_object() -> None:
    pool = _pool("10.1.0.0/16")
    pool.reserve("10.1.200.7")
    again = AddressPool(pool.net)
    assert again.is_reserved("10.1.200.7") and not again.is_reserved("10.1.200.8")
    assert len(pool.net.reservations) == 65536


def test_a_full_pool_is_a_clear_insufficient_resources_error() -> None:
    pool = _pool("10.0.0.0/30")
    pool.reserve(pool.first_free())
    pool.reserve(pool.first_free())
    with pytest.raises(OpPrereqError, match=r"has no free IP address") as err:
        pool.first_free()
    assert err.value.code == ECODE_NORES


def test_release_frees_and_double_reserve_is_refused() -> None:
    pool = _pool()
    pool.reserve("10.0.0.4")
    with pytest.raises(OpPrereqError, match="already used by an instance") as err:
        pool.reserve("10.0.0.4")
    assert err.value.code == ECODE_NOTUNIQUE
    with pytest.raises(OpPrereqError, match="is reserved in network net1"):
        pool.reserve("10.0.0.0")
    pool.release("10.0.0.4")
    assert pool.first_free() == "10.0.0.1"


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.0.0.0/8", "at most a /16"),
        ("10.0.0.0/31", "at least a /30"),
        ("10.0.0.1/24", "host bits set"),
        ("nonsense", "Invalid IPv4 network"),
    ],
)
def test_bad_networks_are_refused(cidr: str, message: str) -> None:
    with pytest.raises(OpPrereqError, match=message) as err:
        _pool(cidr)
    assert err.value.code == ECODE_INVAL


def test_addresses_outside_the_network_are_refused() -> None:
    pool = _pool()
    assert not pool.contains("10.0.1.1") and not pool.contains("junk") and not pool.contains(None)
    with pytest.raises(OpPrereqError, match="does not belong to network net1"):
        pool.reserve("10.0.1.1")


def test_allocation_in_a_nearly_full_16_is_direct() -> None:
    """60,000 addresses taken: the next one comes from bit arithmetic, not a walk over the pool."""
    pool = _pool("10.2.0.0/16")
    pool.reservations = (1 << 60000) - 1
    pool.update()
    assert AddressPool(pool.net).first_free() == str(pool.network.network_address + 60000)
