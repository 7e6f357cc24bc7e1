"""Which callback URLs we post to: HTTPS to public addresses only, so a key's callback cannot make
this server reach its own network (SSRF). Loopback hosts are allowed, over plain HTTP too, only
when ``API_CALLBACKS_ALLOW_LOOPBACK`` is on (tests and the demo).

Checked when the URL is saved and again before every delivery (a name may resolve elsewhere later).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


def check_callback_url(url: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Raise ``ValidationError`` saying what is wrong with ``url`` as a callback target; else the
    addresses its host resolved to, all checked: the deliverer connects to one of these and to
    nothing else, so a name that resolves elsewhere a moment later (DNS rebinding) changes nothing."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise ValidationError("The callback URL needs a host.", code="callback_url_host")
    if parts.username or parts.password:
        raise ValidationError(
            "The callback URL may not carry a user name or password.", code="callback_url_auth"
        )
    addresses = resolve(host)
    loopback = addresses and all(address.is_loopback for address in addresses)
    if loopback and settings.API_CALLBACKS_ALLOW_LOOPBACK:
        if parts.scheme not in ("http", "https"):
            raise ValidationError("The callback URL must be http or https.", code="callback_url_scheme")
        return addresses
    if parts.scheme != "https":
        raise ValidationError("The callback URL must use HTTPS.", code="callback_url_scheme")
    if not addresses:
        raise ValidationError(f"The host “{host}” does not resolve.", code="callback_url_unresolved")
    private = [address for address in addresses if not is_public(address)]
    if private:
        raise ValidationError(
            f"The host “{host}” resolves to a private, loopback or link-local address ({private[0]}):"
            " callbacks go only to public addresses.",
            code="callback_url_private",
        )
    return addresses


NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global, and so is any IPv4 address it carries: ``is_global`` (Python 3.11) does not look
    inside NAT64, 6to4, Teredo or IPv4-mapped addresses, which a gateway on the way turns into
    that IPv4 address — ``64:ff9b::7f00:1`` would reach 127.0.0.1."""
    return address.is_global and all(inner.is_global for inner in embedded_ipv4(address))


def embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (Teredo carries its server's and its client's)."""
    if address.version == 4:
        return []
    inner = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if any(address in network for network in NAT64):
        inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ipv4 for ipv4 in inner if ipv4 is not None]


def resolve(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` names (a literal address is itself); empty when it does not resolve."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
