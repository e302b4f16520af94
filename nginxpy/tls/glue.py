"""Where TLS meets the HTTP runtime (nginxpy.http): the few calls it makes into nginxpy.tls.

* ``TlsRuntime(http)``: built with the HTTP configuration; ``address(addr)`` is the
  TlsAddress of a listening address that takes TLS, else None.
* ``accept(addr, stream, info)``: on a TLS address, peek and handshake; fills
  ``info.ssl``/``info.tls``/``info.tls_runtime``; returns the stream to speak HTTP on.
* ``process_request(r)``: the TLS part of ngx_http_set_virtual_server and
  ngx_http_process_request once the request header is read: the SNI server when
  there is no Host, 421, then 497 (plain HTTP), 495, 496 — raised as BadRequest so
  that error_page applies.
* ``upstream_tls(r, scope)`` and ``wrap_upstream``: proxy_pass https://.
"""

from __future__ import annotations

import os
from typing import Any

import trio

from nginxpy.conf.model import ServerScope
from nginxpy.http.parse import BadRequest
from nginxpy.tls.server import TlsConfig, build_tls
from nginxpy.tls.sni import (
    HTTP_TO_HTTPS,
    HTTPS_CERT_ERROR,
    HTTPS_NO_CERT,
    MISDIRECTED_REQUEST,
    TlsAddress,
    TlsConnection,
)
from nginxpy.tls.streams import accept_tls, connect_upstream
from nginxpy.tls.upstream import UpstreamTls, build_upstream_tls


def _servers_of(addr: Any) -> list[Any]:
    """The ServerConfs of one AddrConf, default first, then in name-table order."""
    found = [addr.default]
    for server in [*addr.exact.values(), *(s for _, s in addr.wc_head), *(s for _, s in addr.wc_tail)]:
        if server not in found:
            found.append(server)
    for _, server in addr.regexes:
        if server not in found:
            found.append(server)
    return found


def _find_in(addr: Any) -> Any:
    """find_virtual_server over the runtime's name tables, None when no name matches."""

    def find(host: str) -> ServerScope | None:
        found = addr.exact.get(host)
        if found is None:
            for suffix, server in addr.wc_head:
                if host.endswith(suffix) and len(host) > len(suffix):
                    found = server
                    break
        if found is None:
            for prefix, server in addr.wc_tail:
                if host.startswith(prefix) and len(host) > len(prefix):
                    found = server
                    break
        if found is None:
            for regex, server in addr.regexes:
                if regex.search(host):
                    found = server
                    break
        return found.scope if found is not None else None

    return find


class TlsRuntime:
    """The TLS side of one HttpConf (built again on reload, with it)."""

    def __init__(self, http: Any) -> None:
        self.http = http
        # ngx_conf_full_name(..., 1): relative certificate paths are under the directory of the
        # main file; the runtime keeps the http block, whose directive knows its file.
        directive = http.scope.directive
        conf_file = directive.file if directive is not None else ""
        self.conf_prefix = os.path.dirname(conf_file) + os.sep if conf_file else http.prefix
        self.config: TlsConfig = build_tls(http.scope, self.conf_prefix)
        self._addresses: dict[int, TlsAddress | None] = {}
        self._confs: dict[int, Any] = {}
        self._upstreams: dict[int, UpstreamTls] = {}
        for listener in http.listeners:  # every context now: certificate errors stop the start-up
            for addr in listener.addrs.values():
                self.address(addr)

    @property
    def messages(self) -> list[Any]:
        return self.config.messages

    def is_tls(self, addr: Any) -> bool:
        """Does the address take TLS: "listen ... ssl" in any of its servers, or "ssl on" in its default?"""
        key = (addr.address, addr.port)
        for server in self.http.servers:
            if any(listen.ssl and listen.key == key for listen in server.scope.listens):
                return True
        return bool(addr.default.scope.get("ssl"))

    def address(self, addr: Any) -> TlsAddress | None:
        key = id(addr)
        if key not in self._addresses:
            found = None
            if self.is_tls(addr):
                servers = _servers_of(addr)
                for server in servers:
                    self._confs[id(server.scope)] = server
                found = TlsAddress(
                    self.config, [s.scope for s in servers], addr.default.scope, _find_in(addr)
                )
            self._addresses[key] = found
        return self._addresses[key]

    def server_conf(self, scope: ServerScope) -> Any:
        return self._confs.get(id(scope))

    async def accept(self, addr: Any, stream: trio.abc.Stream, info: Any) -> trio.abc.Stream | None:
        """The stream to speak HTTP on, or None when the connection is over (nginx closed it)."""
        address = self.address(addr)
        if address is None:
            return stream
        timeout = addr.default.client_header_timeout / 1000
        with trio.move_on_after(timeout):
            accepted = await accept_tls(address, stream)
            if accepted is None:
                return None
            info.tls_runtime = self
            info.tls = accepted.tls
            info.ssl = accepted.tls is not None
            return accepted.stream
        await trio.aclose_forcefully(stream)
        return None

    def upstream(self, scope: Any) -> UpstreamTls:
        """The client context of a location's proxy_pass https:// (built once per location)."""
        key = id(scope)
        found = self._upstreams.get(key)
        if found is None:
            found = self._upstreams[key] = build_upstream_tls(scope, self.conf_prefix)
        return found


def process_request(r: Any) -> None:
    """After the request header on a TLS address; raises BadRequest(421/495/496/497)."""
    info = r.conn
    runtime: TlsRuntime | None = getattr(info, "tls_runtime", None)
    if runtime is None:
        return
    tls: TlsConnection | None = info.tls
    if tls is None:
        raise BadRequest(HTTP_TO_HTTPS, "client sent plain HTTP request to HTTPS port")
    server, status = tls.select_server(r.host or None)
    conf = runtime.server_conf(server)
    if conf is not None and conf is not r.server and (not r.host or status is not None):
        r.server = conf
        r.loc = conf.loc
    if status == MISDIRECTED_REQUEST:
        raise BadRequest(
            MISDIRECTED_REQUEST,
            "client attempted to request the server name different from the one that was negotiated",
        )
    status = tls.verify_status(r.server.scope)
    if status in (HTTPS_CERT_ERROR, HTTPS_NO_CERT):
        raise BadRequest(status, tls.verify_log(status))


async def wrap_upstream(
    stream: trio.abc.Stream, runtime: TlsRuntime, scope: Any, name: str, peer: Any
) -> trio.abc.Stream:
    """TLS over a connected upstream stream; raises UpstreamTlsError (log line) on failure."""
    return await connect_upstream(stream, runtime.upstream(scope), name, peer)
