"""Who may read Prometheus metrics: METRICS_ALLOWED_CIDRS and the checks on a request.

Standard library only: settings parse with it (in gunicorn's master too, where importing
prometheus_client before PROMETHEUS_MULTIPROC_DIR is set would fix its mode wrongly), and
analytics, the web tier and the worker share the same rule.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Loopback and the private ranges: a scraper inside the VPC, never the internet.
DEFAULT_ALLOWED_CIDRS = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


def cidrs_parse(raw: str) -> tuple[Network, ...]:
    """A comma-separated list of CIDRs; ValueError names the entry that is not one."""
    networks = []
    for entry in (one.strip() for one in raw.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an address range (CIDR)") from None
    return tuple(networks)


def address_allowed(address: str, networks: Iterable[Network]) -> bool:
    """Whether a client address lies in one of the networks; False for anything unparsable."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    # A dual-stack socket shows an IPv4 client as ::ffff:a.b.c.d.
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks if network.version == ip.version)


def forwarded_allowed(forwarded_for: str | None, networks: Iterable[Network]) -> bool:
    """Every hop a load balancer reported (X-Forwarded-For) must be allowed too.

    Behind the ELB every request comes from the balancer's private address; the client the
    balancer appends is what tells an outside request apart. Entries a client wrote itself
    can only make this stricter, never open it.
    """
    if not forwarded_for:
        return True
    networks = tuple(networks)
    return all(address_allowed(hop, networks) for hop in forwarded_for.split(","))
