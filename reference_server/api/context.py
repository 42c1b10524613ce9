"""What a request handler reaches through the app: the services, the settings, the caller."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from quart import current_app, request

if TYPE_CHECKING:
    from ..app import Services


def services() -> Services:
    return current_app.extensions["smsgate"]  # type: ignore[no-any-return]


def client_ip() -> str:
    """The peer address, or the first X-Forwarded-For hop when the peer is a trusted proxy."""
    peer = (request.remote_addr or "").strip("[]")
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and _trusted(peer, services().settings.http.proxies):
        return forwarded.split(",")[0].strip()
    return peer


def _trusted(peer: str, proxies: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if address in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:
            continue
    return False
