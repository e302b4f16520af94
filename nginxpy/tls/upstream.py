"""TLS towards proxied servers (``proxy_pass https://``), as ngx_http_proxy_set_ssl builds it.

nginx's client context: ``proxy_ssl_protocols`` (default TLSv1 TLSv1.1 TLSv1.2, so
no TLS 1.3 upstream in 1.22), ``proxy_ssl_ciphers`` (default ``DEFAULT``), an
optional client certificate, and verification that never fails the handshake: the
chain and the name are checked afterwards, only with ``proxy_ssl_verify on``, and a
failure is logged and treated as a failed upstream connection (502).  SNI is sent
only with ``proxy_ssl_server_name on`` and never for an IP address.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from nginxpy import versions
from nginxpy.conf.model import ConfError, Scope
from nginxpy.tls import _openssl
from nginxpy.tls.server import _last_word, _load_locations, _read_passwords, apply_protocols, load_certificate


@dataclass(slots=True, eq=False)
class UpstreamTls:
    """The TLS settings and context of one location's proxy_pass https://."""

    context: ssl.SSLContext
    verify: bool = False
    server_name: bool = False
    session_reuse: bool = True
    name: str | None = None  # proxy_ssl_name as written; None: $proxy_host
    # proxy_ssl_session_reuse: the last session per upstream peer (u->peer.set_session).
    sessions: dict[Any, ssl.SSLSession] = field(default_factory=dict)


def _words(value: object) -> str | None:
    return _last_word(value)


def build_upstream_tls(scope: Scope, conf_prefix: str) -> UpstreamTls:
    """The client context for a location (its proxy_ssl_* settings with nginx's defaults)."""

    def path(name: str | None) -> str | None:
        if not name:
            return None
        return name if name.startswith("/") else os.path.join(conf_prefix, name)

    def flag(name: str, default: bool) -> bool:
        value = scope.get(name)
        return default if value is None else bool(value)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    protocols = scope.get("proxy_ssl_protocols")
    apply_protocols(context, protocols if protocols is not None else versions.DEFAULT_PROXY_SSL_PROTOCOLS)
    context.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    ciphers = scope.get("proxy_ssl_ciphers") or versions.DEFAULT_PROXY_SSL_CIPHERS
    try:
        context.set_ciphers(ciphers)
    except ssl.SSLError:
        raise ConfError(
            f'SSL_CTX_set_cipher_list("{ciphers}") failed (SSL: error:0A0000B9:SSL routines::no cipher match)'
        ) from None
    certificate = path(_words(scope.get("proxy_ssl_certificate")))
    key = path(_words(scope.get("proxy_ssl_certificate_key")))
    if certificate is not None:
        if key is None:
            raise ConfError(f'no "proxy_ssl_certificate_key" is defined for certificate "{certificate}"')
        password_file = path(_words(scope.get("proxy_ssl_password_file")))
        passwords = _read_passwords(password_file) if password_file else None
        load_certificate(context, certificate, key, passwords)
    verify = flag("proxy_ssl_verify", False)
    if verify:
        trusted = path(scope.get("proxy_ssl_trusted_certificate"))
        if trusted is None:
            raise ConfError("no proxy_ssl_trusted_certificate for proxy_ssl_verify")
        _load_locations(context, trusted)
        crl = path(scope.get("proxy_ssl_crl"))
        if crl is not None:
            _load_locations(context, crl, what="X509_LOOKUP_load_file")
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
        # Verify, but decide after the handshake (SSL_get_verify_result), as nginx.
        context.verify_mode = ssl.CERT_OPTIONAL if _openssl.AVAILABLE else ssl.CERT_REQUIRED
        _openssl.accept_any_client_chain(context, int(scope.get("proxy_ssl_verify_depth", 1)))
    return UpstreamTls(
        context=context,
        verify=verify,
        server_name=flag("proxy_ssl_server_name", False),
        session_reuse=flag("proxy_ssl_session_reuse", True),
        name=_words(scope.get("proxy_ssl_name")),
    )


def ssl_name(name: str) -> str:
    """ngx_http_upstream_ssl_name: the name without a port ("[::1]:443" -> "[::1]")."""
    start = 0
    if name.startswith("["):
        close = name.find("]")
        start = close if close >= 0 else 0
    colon = name.find(":", start)
    return name if colon < 0 else name[:colon]


def sni_name(name: str) -> str | None:
    """The name sent as SNI, or None: RFC 6066 forbids literal addresses."""
    if not name or name.startswith("["):
        return None
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name
    return None


def _label_match(pattern: str, label: str) -> bool:
    if "*" not in pattern:
        return pattern == label
    prefix, _, suffix = pattern.partition("*")
    return len(label) >= len(prefix) + len(suffix) and label.startswith(prefix) and label.endswith(suffix)


def _dns_match(pattern: str, name: str) -> bool:
    """X509_check_host's name rules: a wildcard only in the leftmost of at least three labels."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if "*" not in pattern:
        return pattern == name
    p_labels, n_labels = pattern.split("."), name.split(".")
    if len(p_labels) < 3 or "*" in ".".join(p_labels[1:]) or len(p_labels) != len(n_labels):
        return False
    if p_labels[0].count("*") > 1 or (n_labels[0].startswith("xn--") and p_labels[0] != "*"):
        return False
    return _label_match(p_labels[0], n_labels[0]) and p_labels[1:] == n_labels[1:]


def check_host(peer: dict[str, Any] | None, name: str) -> bool:
    """ngx_ssl_check_host (X509_check_host, flags 0): DNS names of subjectAltName, else the CN."""
    if not peer:
        return False
    dns = [value for kind, value in peer.get("subjectAltName", ()) if kind == "DNS"]
    if dns:
        return any(_dns_match(pattern, name) for pattern in dns)
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and _dns_match(value, name):
                return True
    return False


class UpstreamTlsError(Exception):
    """The handshake succeeded but nginx would drop the connection; str() is its error-log line."""


def check_upstream(sslobj: ssl.SSLObject, tls: UpstreamTls, name: str) -> None:
    """ngx_http_upstream_ssl_handshake's checks after the handshake (only with proxy_ssl_verify)."""
    if not tls.verify:
        return
    code = _openssl.verify_result(sslobj)
    if code != _openssl.X509_V_OK:
        raise UpstreamTlsError(
            f"upstream SSL certificate verify error: ({code}:{_openssl.verify_error_string(code)})"
        )
    if not check_host(sslobj.getpeercert(), name):
        raise UpstreamTlsError(f'upstream SSL certificate does not match "{name}"')
