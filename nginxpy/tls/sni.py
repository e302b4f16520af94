"""SNI: which server's context a handshake uses, and which server a request then goes to.

nginx (ngx_http_ssl_servername, ngx_http_set_virtual_server, ngx_http_process_request):

* a handshake on a TLS address starts with the context of the address's default
  server; protocol versions are chosen before the SNI callback runs (OpenSSL 1.1.1+),
  so the default server's ``ssl_protocols`` apply to every name on a shared port;
* the SNI name, validated and lowercased as a Host header, is looked up among the
  address's server names (exact, leading wildcard, trailing wildcard, regex); a match
  switches to that server's context (certificate, ciphers, client verification);
  no SNI or an unknown one keeps the default server;
* the ``Host`` header then picks the request's server independently; a Host other
  than the SNI name, landing on a server with ``ssl_verify_client``, is refused with
  421; the request's server decides 495/496 for client certificates.
"""

from __future__ import annotations

import ssl
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nginxpy.conf.model import ConfError, ServerScope
from nginxpy.http.servers import validate_host
from nginxpy.tls import _openssl
from nginxpy.tls.server import ServerTls, TlsConfig, build_server_context

# Internal status codes of ngx_http_request.h and their text in nginx's 400 pages.
MISDIRECTED_REQUEST = 421
HTTPS_CERT_ERROR = 495
HTTPS_NO_CERT = 496
HTTP_TO_HTTPS = 497
SPECIAL_400_TEXT = {
    HTTPS_CERT_ERROR: "The SSL certificate error",
    HTTPS_NO_CERT: "No required SSL certificate was sent",
    HTTP_TO_HTTPS: "The plain HTTP request was sent to HTTPS port",
}

FindServer = Callable[[str], ServerScope | None]


class VirtualNames:
    """The server names of one listening address, looked up as ngx_http_find_virtual_server.

    Exact names first, then the longest leading wildcard (``*.example.org``,
    ``.example.org``), then the longest trailing wildcard (``www.example.*``), then
    regular expressions in configuration order.  The first server to claim a name wins.
    """

    def __init__(self, servers: Sequence[ServerScope]) -> None:
        self.exact: dict[str, ServerScope] = {}
        self.head: dict[str, ServerScope] = {}  # ".example.org" -> server (matches "x.example.org")
        self.tail: dict[str, ServerScope] = {}  # "www.example." -> server
        self.regexes: list[tuple[object, ServerScope]] = []
        for server in servers:
            for name in server.names:
                if name.regex is not None:
                    self.regexes.append((name.regex, server))
                elif name.name.startswith("*."):
                    self.head.setdefault(name.name[1:], server)
                elif name.name.startswith("."):
                    self.exact.setdefault(name.name[1:], server)
                    self.head.setdefault(name.name, server)
                elif name.name.endswith(".*"):
                    self.tail.setdefault(name.name[:-1], server)
                else:
                    self.exact.setdefault(name.name, server)

    def find(self, host: str) -> ServerScope | None:
        found = self.exact.get(host)
        if found is not None:
            return found
        best: tuple[int, ServerScope] | None = None
        for suffix, server in self.head.items():
            if host.endswith(suffix) and len(host) > len(suffix) and (best is None or len(suffix) > best[0]):
                best = (len(suffix), server)
        if best is None:
            for prefix, server in self.tail.items():
                rest = host[len(prefix) :]
                if host.startswith(prefix) and rest and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), server)
        if best is not None:
            return best[1]
        for regex, server in self.regexes:
            if regex.search(host):  # type: ignore[attr-defined]
                return server
        return None


@dataclass(slots=True)
class SniState:
    """What the SNI callback learnt about one connection (hc->ssl_servername, hc->conf_ctx)."""

    server_name: str | None = None  # as the client sent it ($ssl_server_name)
    host: str | None = None  # validated and lowercased, set only when it matched a server
    server: ServerScope | None = None  # the server it matched


class TlsAddress:
    """TLS on one listening address: the handshake context and the SNI switch.

    ``servers`` are the server blocks of the address, ``default`` its default server;
    ``find`` looks a validated name up among them (nginx's find_virtual_server;
    :class:`VirtualNames` unless the HTTP runtime passes its own).
    """

    def __init__(
        self,
        config: TlsConfig,
        servers: Sequence[ServerScope],
        default: ServerScope,
        find: FindServer | None = None,
    ) -> None:
        self.config = config
        self.servers = list(servers)
        self.default = default
        self.find = find or VirtualNames(self.servers).find
        tls = config.tls(default)
        if not tls.has_context:
            raise ConfError(
                'no "ssl_certificate" is defined for the "listen ... ssl" directive',
                default.file,
                default.line,
            )
        # A context of its own (same settings as the default server's) so that its SNI
        # callback knows this address even when the default server listens on several.
        self.context = build_server_context(tls)
        self.context.sni_callback = self._servername
        self._states: weakref.WeakKeyDictionary[ssl.SSLObject, SniState] = weakref.WeakKeyDictionary()

    def settings(self, server: ServerScope) -> ServerTls:
        return self.config.tls(server)

    def state(self, sslobj: ssl.SSLObject) -> SniState:
        found = self._states.get(sslobj)
        if found is None:
            found = self._states[sslobj] = SniState()
        return found

    def _servername(
        self, sslobj: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext
    ) -> int | None:
        """ngx_http_ssl_servername."""
        try:
            return self._switch(sslobj, server_name)
        except Exception:  # an exception here would only be printed by OpenSSL's caller
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR

    def _switch(self, sslobj: ssl.SSLObject, server_name: str | None) -> int | None:
        state = self.state(sslobj)
        state.server_name = server_name
        server = self.default
        host = validate_host(server_name) if server_name else None
        found = self.find(host) if host else None
        if host is not None and found is not None:
            state.host, state.server, server = host, found, found
            context = self.config.context(found)
            if context is not None and found is not self.default:
                _openssl.switch_context(sslobj, context)
        if self.config.tls(server).reject_handshake:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        return None


@dataclass(slots=True)
class TlsConnection:
    """One accepted TLS connection: its SSL object and what SNI chose."""

    address: TlsAddress
    sslobj: ssl.SSLObject
    sni: SniState

    @property
    def server(self) -> ServerScope:
        """hc->conf_ctx after the handshake: the SNI server, else the address's default."""
        return self.sni.server or self.address.default

    def select_server(
        self, host: str | None, find: FindServer | None = None
    ) -> tuple[ServerScope, int | None]:
        """ngx_http_set_virtual_server on a TLS connection: (server, 421 or None).

        ``host`` is the validated, lowercased Host (None without one); ``find`` the
        address's name lookup (defaults to the one the handshake used).
        """
        if host is None:
            return self.server, None
        if self.sni.host is not None and host == self.sni.host:
            return self.server, None
        found = (find or self.address.find)(host)
        if self.sni.host is not None:
            target = found or self.address.default
            if self.address.settings(target).verify:
                return target, MISDIRECTED_REQUEST
            return target, None
        return found or self.server, None

    def verify_status(self, server: ServerScope) -> int | None:
        """ngx_http_process_request's client certificate check: 495, 496 or None."""
        verify = self.address.settings(server).verify
        if not verify:
            return None
        code = _openssl.verify_result(self.sslobj)
        if code != _openssl.X509_V_OK and (verify != 3 or not verify_error_optional(code)):
            return HTTPS_CERT_ERROR
        if verify == 1 and not self.sslobj.getpeercert(binary_form=True):
            return HTTPS_NO_CERT
        return None

    def verify_log(self, status: int) -> str:
        """The info-level line nginx logs with a 495 or 496."""
        if status == HTTPS_NO_CERT:
            return "client sent no required SSL certificate"
        code = _openssl.verify_result(self.sslobj)
        return f"client SSL certificate verify error: ({code}:{_openssl.verify_error_string(code)})"


# ngx_ssl_verify_error_optional: the errors "optional_no_ca" lets through.
_OPTIONAL_ERRORS = {
    18,  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    19,  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    20,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21,  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
    27,  # X509_V_ERR_CERT_UNTRUSTED
}


def verify_error_optional(code: int) -> bool:
    return code in _OPTIONAL_ERRORS


def tls_address_needed(servers: Sequence[ServerScope], default: ServerScope, ssl_listen: bool) -> bool:
    """Is this address TLS? "listen ... ssl" on it (any server), or "ssl on" in its default server."""
    return ssl_listen or bool(default.get("ssl"))
