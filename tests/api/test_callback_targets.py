"""Which callback URLs are refused: an IPv6 address that carries a private IPv4 address (NAT64,
6to4, Teredo, IPv4-mapped) is private, as ``is_global`` alone does not see on Python 3.11."""

import ipaddress

import pytest
from django.core.exceptions import ValidationError

from api.callbacks.targets import check_callback_url, embedded_ipv4, is_public


@pytest.mark.parametrize(
    ("literal", "carried"),
    [
        ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64
        ("64:ff9b::a00:8", "10.0.0.8"),
        ("64:ff9b:1::a9fe:a9fe", "169.254.169.254"),  # local-use NAT64, the cloud metadata address
        ("2002:7f00:1::", "127.0.0.1"),  # 6to4
        ("2002:c0a8:101::1", "192.168.1.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),  # Teredo: the client is 127.0.0.1
    ],
)
def test_an_ipv6_address_carrying_a_private_ipv4_address_is_refused(settings, literal, carried):
    settings.API_CALLBACKS_ALLOW_LOOPBACK = False
    assert ipaddress.IPv4Address(carried) in embedded_ipv4(ipaddress.ip_address(literal))
    with pytest.raises(ValidationError) as refused:
        check_callback_url(f"https://[{literal}]/cb")
    assert refused.value.code == "callback_url_private"
    assert literal.split("::")[0] in refused.value.messages[0]


@pytest.mark.parametrize("literal", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700:4700::1111"])
def test_an_ipv6_address_carrying_a_public_ipv4_address_or_none_is_accepted(literal):
    address = ipaddress.ip_address(literal)
    assert is_public(address)
    assert check_callback_url(f"https://[{literal}]/cb") == [address]


def test_plain_ipv4_addresses_are_judged_as_before():
    assert is_public(ipaddress.ip_address("8.8.8.8"))
    assert not is_public(ipaddress.ip_address("10.1.2.3"))
    assert embedded_ipv4(ipaddress.ip_address("8.8.8.8")) == []
