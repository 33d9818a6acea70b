"""A network's IPv4 address pool: which addresses are taken, and the first free one.

The pool is kept as Ganeti keeps it, on the `Network` config object: two strings of '0'/'1', one
character per address of the network. `reservations` marks addresses held by instance NICs,
`ext_reservations` those reserved outside gnt's control (by hand with `--add-reserved-ips`, the
gateway, the network and broadcast addresses). The strings persist and replicate like any field.

Finding a free address turns both strings into integers (one bit per address, bit i for
address i) and takes the lowest bit clear in their union: a few C-level passes over at most
8 KiB for a /16, never a Python loop over the pool, so allocation stays fast with 60,000
addresses taken.
"""

from __future__ import annotations

import ipaddress

from gnt.errors import ECODE_INVAL, ECODE_NORES, ECODE_NOTUNIQUE, ECODE_STATE, OpPrereqError
from gnt.objects import Network

__all__ = ["MAX_PREFIX", "MIN_PREFIX", "AddressPool", "parse_network"]

#: Ganeti's limits: at least a /30 (two usable addresses), at most a /16 (the bitmap's size)
MIN_PREFIX = 16
MAX_PREFIX = 30


def parse_network(text: str) -> ipaddress.IPv4Network:
    """An IPv4 network in CIDR form of a size gnt pools, or OpPrereqError (wrong_input)."""
    try:
        net = ipaddress.IPv4Network(text)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError) as err:
        raise OpPrereqError(f"Invalid IPv4 network '{text}': {err}", ECODE_INVAL) from None
    if net.prefixlen < MIN_PREFIX:
        raise OpPrereqError(
            f"A big network with {net.num_addresses} host(s) is currently not supported."
            f" please specify at most a /{MIN_PREFIX} network",
            ECODE_INVAL,
        )
    if net.prefixlen > MAX_PREFIX:
        raise OpPrereqError(
            f"A network with only {net.num_addresses} host(s) is too small, please specify at least a /{MAX_PREFIX}"
            " network",
            ECODE_INVAL,
        )
    return net


def _bits(text: str) -> int:
    """'0'/'1' string -> int with bit i set when character i is '1'."""
    return int(text[::-1], 2) if text else 0


def _text(bits: int, size: int) -> str:
    return format(bits, f"0{size}b")[::-1]


class AddressPool:
    """The pool of one `Network`; every change is written back to the object at once."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.network = parse_network(net.network)
        self.size = self.network.num_addresses
        self.reservations = _bits(net.reservations)
        self.ext_reservations = _bits(net.ext_reservations)
        if (net.reservations and len(net.reservations) != self.size) or (
            net.ext_reservations and len(net.ext_reservations) != self.size
        ):
            raise OpPrereqError(f"The address pool of network {net.name} does not match {net.network}", ECODE_STATE)

    @classmethod
    def initialise(cls, net: Network) -> AddressPool:
        """A new network's pool: network, broadcast and gateway addresses reserved externally."""
        net.reservations = net.ext_reservations = ""
        pool = cls(net)
        for addr in (pool.network.network_address, pool.network.broadcast_address):
            pool.reserve(str(addr), external=True)
        if net.gateway:
            pool.reserve(net.gateway, external=True)
        pool.update()
        return pool

    def update(self) -> None:
        self.net.reservations = _text(self.reservations, self.size)
        self.net.ext_reservations = _text(self.ext_reservations, self.size)

    # -- addresses ---------------------------------------------------------------------------
    def contains(self, address: str | None) -> bool:
        if not address:
            return False
        try:
            return ipaddress.ip_address(address) in self.network
        except ValueError:
            return False

    def index(self, address: str) -> int:
        try:
            addr = ipaddress.ip_address(address)
        except ValueError:
            raise OpPrereqError(f"Invalid IP address '{address}'", ECODE_INVAL) from None
        if addr not in self.network:
            raise OpPrereqError(f"IP address {address} does not belong to network {self.net.name}", ECODE_INVAL)
        return int(addr) - int(self.network.network_address)

    def is_reserved(self, address: str, external: bool = False) -> bool:
        bits = self.ext_reservations if external else self.reservations
        return bool(bits >> self.index(address) & 1)

    def is_taken(self, address: str) -> bool:
        """Reserved either way: by an instance or externally."""
        return bool((self.reservations | self.ext_reservations) >> self.index(address) & 1)

    def reserve(self, address: str, external: bool = False) -> None:
        if self.is_reserved(address, external):
            what = "externally reserved" if external else "used by an instance"
            raise OpPrereqError(f"IP {address} is already {what}", ECODE_NOTUNIQUE)
        if not external and self.is_reserved(address, external=True):
            raise OpPrereqError(f"IP {address} is reserved in network {self.net.name}", ECODE_NOTUNIQUE)
        bit = 1 << self.index(address)
        if external:
            self.ext_reservations |= bit
        else:
            self.reservations |= bit
        self.update()

    def release(self, address: str, external: bool = False) -> None:
        if not self.is_reserved(address, external):
            what = "externally reserved" if external else "used by an instance"
            raise OpPrereqError(f"IP {address} is not {what}", ECODE_STATE)
        bit = 1 << self.index(address)
        if external:
            self.ext_reservations &= ~bit
        else:
            self.reservations &= ~bit
        self.update()

    def first_free(self, held: frozenset[str] | set[str] = frozenset()) -> str:
        """The lowest address neither reserved nor in `held` (addresses other jobs hold for now)."""
        taken = self.reservations | self.ext_reservations
        for address in held:
            if self.contains(address):
                taken |= 1 << self.index(address)
        free = ~taken & (taken + 1)  # the lowest clear bit
        position = free.bit_length() - 1
        if position >= self.size:
            raise OpPrereqError(f"Network {self.net.name} ({self.network}) has no free IP address", ECODE_NORES)
        return str(self.network.network_address + position)

    # -- views -------------------------------------------------------------------------------
    def reserved_count(self) -> int:
        return (self.reservations | self.ext_reservations).bit_count()

    def free_count(self) -> int:
        return self.size - self.reserved_count()

    def map(self) -> str:
        """Ganeti's occupation map: 'X' taken, '.' free, one character per address."""
        return _text(self.reservations | self.ext_reservations, self.size).replace("1", "X").replace("0", ".")

    def external_reservations(self) -> list[str]:
        return self._addresses(self.ext_reservations)

    def instance_reservations(self) -> list[str]:
        return self._addresses(self.reservations)

    def _addresses(self, bits: int) -> list[str]:
        base = self.network.network_address
        text = _text(bits, self.size)
        result, position = [], text.find("1")
        while position != -1:
            result.append(str(base + position))
            position = text.find("1", position + 1)
        return result
