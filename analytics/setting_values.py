"""The values settings take: numbers in a range, and host:port ("[v6]:port" for IPv6).

Standard library only: analytics, the web's and worker's settings and the metrics server
read values with it, so one value is good or bad for all of them alike. A bad one raises
ValueError naming the setting; each caller raises its own kind of error with that text.
"""
from __future__ import annotations


def number_parse(name: str, raw: str, cast: type, low: float, high: float):
    """raw as an int or float (cast) from low to high."""
    try:
        value = cast(raw)
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        raise ValueError(f"{name}={raw!r} is not {kind}") from None
    if not low <= value <= high:
        raise ValueError(f"{name}={raw!r} is outside {low}..{high}")
    return value


def host_port_split(address: str, *, listening: bool = False) -> tuple[str, int]:
    """(host, port), or ValueError. Port 0 (any free one) only where listening: no client
    can connect to it. Only ASCII digits: int() would read "١" as 1."""
    host, _, port = address.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if (not host or "[" in host or "]" in host or any(c.isspace() for c in host)
            or not (port.isascii() and port.isdigit()) or not 0 <= int(port) < 65536):
        raise ValueError(f"{address!r} is not host:port")
    if int(port) == 0 and not listening:
        raise ValueError(f"{address!r}: port 0 is for listening, not for connecting to")
    return host, int(port)
