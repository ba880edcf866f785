"""Which addresses requests to user-given URLs (webhooks) may reach: public ones, plus ``CLAW_WEBHOOK_ALLOW``.

Loopback, private, link-local (cloud metadata), shared, reserved and multicast addresses
are refused unless the allow-list names the host or a network holding the address. The
check runs when the request is sent, on every address the host name resolves to, for
every redirect hop; the connection then goes to the address that was checked, so a DNS
answer that changes between the check and the connect (rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from claw_lab.errors import ForbiddenTarget, TransientError

if TYPE_CHECKING:
    import httpx

    from claw_lab.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow(entries: Iterable[str]) -> tuple[list[Network], set[str]]:
    """Split allow-list entries into networks (CIDRs or single addresses) and lower-cased host names."""
    networks: list[Network] = []
    hosts: set[str] = set()
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            if "/" in text or not text.replace("-", "").replace(".", "").replace("_", "").isalnum():
                raise ValueError(f"{text!r} is neither a network (CIDR), an address nor a host name") from None
            hosts.add(text.lower().rstrip("."))
    return networks, hosts


def address_kind(address: Address) -> str | None:
    """Why ``address`` is not a public one ("loopback", "private", ...), or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for kind, hit in checks:
        if hit:
            return kind
    return None if address.is_global else "non-public"


@dataclass(frozen=True)
class EgressPolicy:
    """Public addresses always; non-public ones only when the allow-list names them."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()
    setting: str = "CLAW_WEBHOOK_ALLOW"

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        """The policy ``CLAW_WEBHOOK_ALLOW`` describes."""
        networks, hosts = parse_allow(settings.webhook_allow)
        return cls(tuple(networks), frozenset(hosts))

    def refusal(self, host: str, address: Address) -> str | None:
        """Why ``host`` at ``address`` may not be reached, or None when it may."""
        kind = address_kind(address)
        if kind is None or host.lower().rstrip(".") in self.hosts or any(address in net for net in self.networks):
            return None
        shown = host if host == str(address) else f"{host} ({address})"
        return f"{shown} is a {kind} address; list it in {self.setting} to allow it"

    def check_literal(self, host: str) -> str | None:
        """The refusal for a host given as an IP literal (or ``localhost``), decidable without DNS; else None."""
        if host.lower().rstrip(".") == "localhost" or host.lower().endswith(".localhost"):
            return self.refusal(host, ipaddress.ip_address("127.0.0.1"))
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
        return self.refusal(host, address)

    def resolve(self, host: str, port: int) -> list[Address]:
        """The addresses to connect to for ``host``, in resolver order: every one must be allowed."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            pass
        else:
            return _checked(self, host, [literal])
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:  # DNS may answer on a later attempt
            raise TransientError(f"{host} does not resolve: {exc.strerror}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(answer[4][0]).split("%")[0]) for answer in answers))
        return _checked(self, host, addresses)


def _checked(policy: EgressPolicy, host: str, addresses: list[Address]) -> list[Address]:
    for address in addresses:
        reason = policy.refusal(host, address)
        if reason is not None:
            raise ForbiddenTarget(f"refused to reach {reason}")
    return addresses


def guarded_transport(policy: EgressPolicy, **options: object) -> httpx.HTTPTransport:
    """An httpx transport that checks each request's host against ``policy`` and connects to the checked address."""
    import httpx

    class GuardedTransport(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            host = request.url.host
            addresses = policy.resolve(host, request.url.port or (443 if request.url.scheme == "https" else 80))
            if [str(address) for address in addresses] == [host]:
                return super().handle_request(request)
            # The Host header and the TLS name stay the host's; the socket goes to a checked address,
            # each in turn until one accepts. The URL is put back afterwards, so that redirects
            # resolve against the host, not the address.
            request.extensions = {**request.extensions, "sni_hostname": host}
            original = request.url
            try:
                for address in addresses[:-1]:
                    request.url = original.copy_with(host=str(address))
                    try:
                        return super().handle_request(request)
                    except httpx.ConnectError:
                        continue
                request.url = original.copy_with(host=str(addresses[-1]))
                return super().handle_request(request)
            finally:
                request.url = original

    return GuardedTransport(**options)  # type: ignore[arg-type]
