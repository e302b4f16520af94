"""Setters the HTTP runtime needs beyond the checker's own (appended by the runtime's owner).

``allow`` and ``deny`` are kept together, in order, as ``access_rules``: nginx checks
them in the order written, and one of them at an inner level replaces the inherited list.
"""

from __future__ import annotations

import ipaddress

from nginxpy.conf.ast import Directive
from nginxpy.conf.check import Loader, handler
from nginxpy.conf.model import Scope
from nginxpy.conf.registry import Spec


@handler("allow", "deny")
def access_rule(loader: Loader, directive: Directive, scope: Scope, spec: Spec) -> None:
    address = directive.args[0].value
    if address not in ("all", "unix:"):
        try:
            network = ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise loader.error(f'invalid parameter "{address}"') from None
        if network.with_prefixlen != address and "/" in address:
            host = ipaddress.ip_interface(address)
            if host.ip != network.network_address:
                loader.warn(f"low address bits of {address} are meaningless")
    scope.values.setdefault("access_rules", []).append((directive.name, address))
    scope.values.setdefault(directive.name, []).append(directive.values)
    scope.set_directive("access_rules", directive)
