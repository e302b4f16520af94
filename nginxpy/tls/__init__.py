"""TLS as ngx_http_ssl_module and the proxy module's https:// upstreams do it, on Python's ``ssl``.

* :mod:`.server` — one ``ssl.SSLContext`` per server block, from its ssl_* settings;
  nginxpy's warnings (protocols this OpenSSL cannot offer, directives not acted on).
* :mod:`.sni` — the handshake context of a listening address, the SNI switch, and the
  request-time rules (421, 495, 496; 497 for plain HTTP on a TLS port).
* :mod:`.variables` — ``$ssl_*``, ``$https``, ``$scheme``.
* :mod:`.upstream` — the client context of ``proxy_pass https://`` and its checks.
* :mod:`.streams` — the trio layer: accept (peek, handshake), connect to an upstream.
* :mod:`._openssl` — the libssl calls Python does not expose (ctypes, self-checked).
"""

from __future__ import annotations

from nginxpy.tls.server import ServerTls, TlsConfig, build_server_context, build_tls, server_tls, tls_messages
from nginxpy.tls.sni import (
    HTTP_TO_HTTPS,
    HTTPS_CERT_ERROR,
    HTTPS_NO_CERT,
    MISDIRECTED_REQUEST,
    SPECIAL_400_TEXT,
    TlsAddress,
    TlsConnection,
    VirtualNames,
)
from nginxpy.tls.upstream import UpstreamTls, UpstreamTlsError, build_upstream_tls
from nginxpy.tls.variables import SSL_VARIABLES, tls_variable

__all__ = [
    "HTTPS_CERT_ERROR",
    "HTTPS_NO_CERT",
    "HTTP_TO_HTTPS",
    "MISDIRECTED_REQUEST",
    "SPECIAL_400_TEXT",
    "SSL_VARIABLES",
    "ServerTls",
    "TlsAddress",
    "TlsConfig",
    "TlsConnection",
    "UpstreamTls",
    "UpstreamTlsError",
    "VirtualNames",
    "build_server_context",
    "build_tls",
    "build_upstream_tls",
    "server_tls",
    "tls_messages",
    "tls_variable",
]
