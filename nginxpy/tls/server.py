"""Server-side TLS contexts, built as nginx builds its ``SSL_CTX`` (ngx_http_ssl_merge_srv_conf).

Pure with respect to sockets: a ``ServerScope`` goes in, an ``ssl.SSLContext`` comes
out.  Reading the settings (``server_tls``) touches no file; building the context
(``build_server_context``) reads the certificate, key, CA and DH files, exactly the
files nginx reads at start-up, and raises ``ConfError`` with nginx's message when one
cannot be used.

One SSLContext per server block with certificates, as nginx has one ``SSL_CTX`` per
``server { }``; the listening address starts every handshake with its default server's
context and SNI (see :mod:`nginxpy.tls.sni`) may switch to another server's.
"""

from __future__ import annotations

import os
import ssl
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

from nginxpy import versions
from nginxpy.conf.ast import Directive
from nginxpy.conf.model import ConfError, HttpScope, MainScope, Message, Scope, ServerScope
from nginxpy.tls import _openssl

# ssl_protocols words, oldest first, and what Python calls them.
PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "SSLv3": ssl.TLSVersion.SSLv3,
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
_OP_NO: dict[str, int] = {
    "SSLv3": ssl.OP_NO_SSLv3,
    "TLSv1": ssl.OP_NO_TLSv1,
    "TLSv1.1": ssl.OP_NO_TLSv1_1,
    "TLSv1.2": ssl.OP_NO_TLSv1_2,
    "TLSv1.3": ssl.OP_NO_TLSv1_3,
}
# Compiled into this OpenSSL at all (SSLv2 has been gone since OpenSSL 1.1.0).
_BUILT: dict[str, bool] = {
    "SSLv2": False,
    "SSLv3": ssl.HAS_SSLv3,
    "TLSv1": ssl.HAS_TLSv1,
    "TLSv1.1": ssl.HAS_TLSv1_1,
    "TLSv1.2": ssl.HAS_TLSv1_2,
    "TLSv1.3": ssl.HAS_TLSv1_3,
}
# NGX_HTTP_ALPN_PROTOS (without HTTP/2, which nginxpy does not speak).
ALPN_PROTOCOLS = ["http/1.1", "http/1.0", "http/0.9"]

VERIFY_CLIENT = {"off": 0, "on": 1, "optional": 2, "optional_no_ca": 3}


@dataclass(frozen=True, slots=True)
class SessionCache:
    """ssl_session_cache: off | none | [builtin[:size]] [shared:name:size]."""

    mode: str = "none"  # off, none, cache
    builtin_size: int | None = None  # None: OpenSSL's default (20480 sessions)

    @classmethod
    def parse(cls, words: Iterable[str]) -> SessionCache:
        mode, size = "none", None
        for word in words:
            if word in ("off", "none"):
                mode = word
            elif word == "builtin" or word.startswith(("builtin:", "shared:")):
                mode = "cache"
                if word.startswith("builtin:"):
                    size = int(word.split(":", 1)[1])
        return cls(mode, size)


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The merged ssl_* settings of one server block, file names resolved (ngx_http_ssl_srv_conf_t)."""

    enable: bool  # the legacy "ssl on;"
    certificates: tuple[str, ...]
    keys: tuple[str, ...]
    password_file: str | None
    protocols: frozenset[str]
    protocols_directive: Directive | None  # None: nginx's default
    ciphers: str
    prefer_server_ciphers: bool
    session_cache: SessionCache
    session_timeout: int
    session_tickets: bool
    dhparam: str | None
    ecdh_curve: str
    verify_client: str
    verify_depth: int
    client_certificate: str | None
    trusted_certificate: str | None
    crl: str | None
    reject_handshake: bool
    unsupported: tuple[Directive, ...] = ()  # accepted, warned as unsupported (ssl_stapling, ...)

    @property
    def verify(self) -> int:
        """nginx's sscf->verify: 0 off, 1 on, 2 optional, 3 optional_no_ca."""
        return VERIFY_CLIENT[self.verify_client]

    @property
    def has_context(self) -> bool:
        """nginx creates an SSL_CTX for a server with certificates (or ssl_reject_handshake)."""
        return bool(self.certificates) or self.reject_handshake


# Directives nginxpy accepts but does not act on; each is warned about once.
UNSUPPORTED = ("ssl_stapling", "ssl_session_ticket_key", "ssl_ocsp", "ssl_conf_command", "ssl_early_data")


def _last_word(value: object) -> str | None:
    """The first word of the last occurrence of a directive kept as word lists (custom setters)."""
    if not value:
        return None
    if isinstance(value, str):
        return value
    last = list(value)[-1]  # type: ignore[call-overload]
    return last[0] if isinstance(last, list) else str(last)


def server_tls(server: ServerScope, conf_prefix: str) -> ServerTls:
    """Read one server's ssl_* settings with nginx's defaults (pure: no file is opened)."""

    def path(name: str | None) -> str | None:
        if not name:
            return None
        return name if name.startswith("/") else os.path.join(conf_prefix, name)

    def flag(name: str, default: bool) -> bool:
        value = server.get(name)
        return default if value is None else bool(value)

    cache_words: list[str] = []
    for words in server.get("ssl_session_cache") or []:
        cache_words = list(words) if isinstance(words, list) else [str(words)]
    protocols = server.get("ssl_protocols")
    protocols_directive = _set_by(server, "ssl_protocols") if protocols is not None else None
    unsupported = []
    for name in UNSUPPORTED:
        value = server.get(name)
        if value and value != "off":
            directive = _set_by(server, name)
            if directive is not None:
                unsupported.append(directive)
    return ServerTls(
        enable=flag("ssl", False),
        certificates=tuple(path(name) or "" for name in server.get("ssl_certificate") or ()),
        keys=tuple(path(name) or "" for name in server.get("ssl_certificate_key") or ()),
        password_file=path(_last_word(server.get("ssl_password_file"))),
        protocols=frozenset(protocols)
        if protocols is not None
        else frozenset(versions.DEFAULT_SSL_PROTOCOLS),
        protocols_directive=protocols_directive,
        ciphers=server.get("ssl_ciphers") or versions.DEFAULT_SSL_CIPHERS,
        prefer_server_ciphers=flag("ssl_prefer_server_ciphers", False),
        session_cache=SessionCache.parse(cache_words),
        session_timeout=int(server.get("ssl_session_timeout", 300)),
        session_tickets=flag("ssl_session_tickets", True),
        dhparam=path(server.get("ssl_dhparam")),
        ecdh_curve=server.get("ssl_ecdh_curve") or "auto",
        verify_client=server.get("ssl_verify_client") or "off",
        verify_depth=int(server.get("ssl_verify_depth", 1)),
        client_certificate=path(server.get("ssl_client_certificate")),
        trusted_certificate=path(server.get("ssl_trusted_certificate")),
        crl=path(server.get("ssl_crl")),
        reject_handshake=flag("ssl_reject_handshake", False),
        unsupported=tuple(unsupported),
    )


def _set_by(server: ServerScope, name: str) -> Directive | None:
    scope: Scope | None = server
    while scope is not None:
        if name in scope.set_by:
            return scope.set_by[name]
        scope = scope.parent
    return None


def is_tls_server(server: ServerScope) -> bool:
    """Does this server take TLS on any of its addresses ("listen ... ssl" or the legacy "ssl on")?"""
    return bool(server.get("ssl")) or any(listen.ssl for listen in server.listens)


# -- building an SSLContext -----------------------------------------------------------


def _ssl_error(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return f"(SSL: {reason})"


def _bio_check(kind: str, name: str) -> None:
    if not os.path.isfile(name) or not os.access(name, os.R_OK):
        raise ConfError(f'cannot load {kind} "{name}": BIO_new_file() failed')


def _read_passwords(name: str) -> list[bytes]:
    """ngx_ssl_read_password_file: one password a line, CR LF or LF, empty lines skipped."""
    try:
        with open(name, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise ConfError(f'open() "{name}" failed ({exc.errno}: {exc.strerror})') from None
    lines = [line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n")]
    return [line for line in lines if line] or [b""]


def _looks_like_certificate(name: str) -> bool:
    try:
        with open(name, encoding="ascii", errors="replace") as file:
            text = file.read()
    except OSError:
        return False
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        return False
    try:
        ssl.PEM_cert_to_DER_cert(text[begin : end + len("-----END CERTIFICATE-----")])
    except ValueError:
        return False
    return True


def load_certificate(
    context: ssl.SSLContext, certificate: str, key: str, passwords: list[bytes] | None
) -> None:
    """ngx_ssl_certificate: one certificate chain and its key; RSA and ECDSA may share a context."""
    _bio_check("certificate", certificate)
    if not _looks_like_certificate(certificate):
        raise ConfError(f'cannot load certificate "{certificate}": PEM_read_bio_X509_AUX() failed')
    _bio_check("certificate key", key)
    tries = passwords if passwords else [b""]  # never let OpenSSL prompt on a terminal
    last: BaseException | None = None
    for password in tries:
        try:
            context.load_cert_chain(certificate, key, password=lambda p=password: p)  # type: ignore[misc]
            return
        except ssl.SSLError as exc:
            last = exc
            if getattr(exc, "reason", "") == "KEY_VALUES_MISMATCH":
                raise ConfError(f'SSL_CTX_use_PrivateKey("{key}") failed {_ssl_error(exc)}') from None
    assert last is not None
    raise ConfError(
        f'cannot load certificate key "{key}": PEM_read_bio_PrivateKey() failed {_ssl_error(last)}'
    ) from None


def apply_protocols(context: ssl.SSLContext, protocols: Iterable[str]) -> None:
    """ngx_ssl_create's protocol options, as minimum/maximum versions plus OP_NO_* for holes."""
    wanted = [name for name in PROTOCOLS if name in set(protocols) and _BUILT[name]]
    with warnings.catch_warnings():
        # TLS 1.0/1.1 and the OP_NO_* options are deprecated in Python; nginx 1.22 still offers them.
        warnings.simplefilter("ignore", DeprecationWarning)
        if not wanted:
            # Nothing this OpenSSL can speak: every handshake fails, as nginx's would.
            context.minimum_version = ssl.TLSVersion.TLSv1_3
            context.maximum_version = ssl.TLSVersion.TLSv1_3
            context.options |= ssl.OP_NO_TLSv1_3
            return
        context.minimum_version = TLS_VERSIONS[wanted[0]]
        context.maximum_version = TLS_VERSIONS[wanted[-1]]
        first, last = PROTOCOLS.index(wanted[0]), PROTOCOLS.index(wanted[-1])
        for name in PROTOCOLS[first : last + 1]:
            if name not in wanted:
                context.options |= _OP_NO[name]


def build_server_context(tls: ServerTls) -> ssl.SSLContext:
    """One server's SSL_CTX, configured in the order of ngx_http_ssl_merge_srv_conf."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    apply_protocols(context, tls.protocols)
    # Python turns on server cipher preference by default; nginx only with ssl_prefer_server_ciphers.
    options = context.options & ~ssl.OP_CIPHER_SERVER_PREFERENCE
    options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    if tls.prefer_server_ciphers:
        options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    if not tls.session_tickets:
        options |= ssl.OP_NO_TICKET
    context.options = options
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    try:
        context.set_ciphers(tls.ciphers)
    except ssl.SSLError:
        raise ConfError(
            f'SSL_CTX_set_cipher_list("{tls.ciphers}") failed (SSL: error:0A0000B9:SSL routines::no cipher match)'
        ) from None
    passwords = _read_passwords(tls.password_file) if tls.password_file else None
    for certificate, key in zip(tls.certificates, tls.keys, strict=False):
        if "$" in certificate or "$" in key:
            raise ConfError(
                f'variables in "ssl_certificate" and "ssl_certificate_key" are not supported by nginxpy: "{certificate}"'
            )
        load_certificate(context, certificate, key, passwords)
    if tls.verify:
        if tls.client_certificate is None and tls.verify != 3:
            raise ConfError("no ssl_client_certificate for ssl_verify_client")
        context.verify_mode = ssl.CERT_OPTIONAL
        if tls.client_certificate is not None:
            _load_locations(context, tls.client_certificate)
            _openssl.set_client_ca_list(context, tls.client_certificate)
        _openssl.accept_any_client_chain(context, tls.verify_depth)
    if tls.trusted_certificate is not None:
        _load_locations(context, tls.trusted_certificate)
        _openssl.set_verify_depth(context, tls.verify_depth)
    if tls.crl is not None:
        _load_locations(context, tls.crl, what="X509_LOOKUP_load_file")
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    if tls.dhparam is not None:
        if not os.path.isfile(tls.dhparam):
            raise ConfError(f'BIO_new_file("{tls.dhparam}") failed')
        try:
            context.load_dh_params(tls.dhparam)
        except (ssl.SSLError, OSError) as exc:
            raise ConfError(f'PEM_read_bio_DHparams("{tls.dhparam}") failed {_ssl_error(exc)}') from None
    if tls.ecdh_curve != "auto":
        try:
            ok = _openssl.set_groups_list(context, tls.ecdh_curve)
        except (ValueError, ssl.SSLError):
            ok = False
        if not ok:
            raise ConfError(f'SSL_CTX_set1_curves_list("{tls.ecdh_curve}") failed')
    cache = tls.session_cache
    if cache.mode == "off":
        _openssl.set_session_cache(context, _openssl.SSL_SESS_CACHE_OFF, None, tls.session_timeout)
    elif cache.mode == "none":
        mode = (
            _openssl.SSL_SESS_CACHE_SERVER
            | _openssl.SSL_SESS_CACHE_NO_AUTO_CLEAR
            | _openssl.SSL_SESS_CACHE_NO_INTERNAL_STORE
        )
        _openssl.set_session_cache(context, mode, 1, tls.session_timeout)
    else:
        # One process: a "shared" zone is OpenSSL's internal store.
        _openssl.set_session_cache(
            context, _openssl.SSL_SESS_CACHE_SERVER, cache.builtin_size, tls.session_timeout
        )
    return context


def _load_locations(context: ssl.SSLContext, name: str, what: str = "SSL_CTX_load_verify_locations") -> None:
    try:
        context.load_verify_locations(cafile=name)
    except (ssl.SSLError, OSError) as exc:
        raise ConfError(f'{what}("{name}") failed {_ssl_error(exc)}') from None


# -- what this OpenSSL can actually offer -------------------------------------------


def _probe_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = version
        client.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_3:
        client.set_ciphers("ALL:@SECLEVEL=0")
    return client


def handshake_in_memory(
    client: ssl.SSLContext, server: ssl.SSLContext, server_name: str | None = None
) -> bool:
    """A complete handshake between two contexts over memory BIOs; True if it succeeds."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname=server_name)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    for _ in range(10):
        for index, (obj, out, peer_in) in enumerate(((c, c_out, s_in), (s, s_out, c_in))):
            if not done[index]:
                try:
                    obj.do_handshake()
                    done[index] = True
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError:
                    return False
            data = out.read()
            if data:
                peer_in.write(data)
        if all(done):
            return True
    return False


def offered_protocols(context: ssl.SSLContext, protocols: Iterable[str]) -> set[str]:
    """The protocols of ``protocols`` a real handshake with ``context`` can use here."""
    offered = set()
    for name in protocols:
        if _BUILT.get(name) and handshake_in_memory(_probe_client(TLS_VERSIONS[name]), context):
            offered.add(name)
    return offered


def _security_level(context: ssl.SSLContext) -> int | None:
    level = getattr(context, "security_level", None)
    return level if isinstance(level, int) else None


def protocols_message(tls: ServerTls, context: ssl.SSLContext) -> Message | None:
    """The warning for an explicit ssl_protocols this OpenSSL cannot fully honour, or None."""
    directive = tls.protocols_directive
    if directive is None:
        return None  # nginx's own default: as quiet as nginx
    asked = [name for name in PROTOCOLS if name in tls.protocols]
    missing = [name for name in asked if name not in offered_protocols(context, asked)]
    if not missing:
        return None
    level = _security_level(context)
    why = "not built in" if all(not _BUILT[name] for name in missing) else "system policy"
    if level is not None and why == "system policy":
        why += f", security level {level}"
    left = [name for name in asked if name not in missing]
    outcome = f"only {' '.join(left)} will be negotiated" if left else "every handshake will fail"
    text = (
        f'"ssl_protocols": {" ".join(missing)} cannot be offered by {ssl.OPENSSL_VERSION} ({why}); {outcome}'
    )
    return Message("warn", text, directive.file, directive.end_line)


# -- the whole configuration ----------------------------------------------------------


@dataclass(slots=True)
class TlsConfig:
    """Every TLS server of an http block: its settings and its context."""

    conf_prefix: str
    settings: dict[ServerScope, ServerTls] = field(default_factory=dict)
    contexts: dict[ServerScope, ssl.SSLContext] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)

    def context(self, server: ServerScope) -> ssl.SSLContext | None:
        return self.contexts.get(server)

    def tls(self, server: ServerScope) -> ServerTls:
        found = self.settings.get(server)
        if found is None:
            found = self.settings[server] = server_tls(server, self.conf_prefix)
        return found


def build_tls(main: MainScope | HttpScope, conf_prefix: str, probe: bool = True) -> TlsConfig:
    """Build the SSLContext of every server that has certificates, as nginx does at start-up.

    Raises ConfError (nginx's [emerg]) for a file or setting OpenSSL rejects; collects
    nginxpy's warnings (protocols this OpenSSL cannot offer, directives accepted but not
    acted upon) in ``messages``, each once.
    """
    config = TlsConfig(conf_prefix)
    http = main if isinstance(main, HttpScope) else main.http
    if http is None:
        return config
    seen: set[tuple[str | None, int | None, str]] = set()

    def warn(message: Message) -> None:
        key = (message.file, message.line, message.text)
        if key not in seen:
            seen.add(key)
            config.messages.append(message)

    probed: dict[tuple[object, ...], Message | None] = {}
    for server in http.servers:
        tls = config.tls(server)
        if not tls.has_context:
            continue
        context = build_server_context(tls)
        config.contexts[server] = context
        if probe and (is_tls_server(server) or tls.enable):
            key = (
                tls.protocols,
                tls.ciphers,
                tls.certificates,
                tls.protocols_directive and id(tls.protocols_directive),
            )
            if key not in probed:
                probed[key] = protocols_message(tls, context)
            message = probed[key]
            if message is not None:
                warn(message)
        for directive in tls.unsupported:
            warn(
                Message(
                    "warn",
                    f'"{directive.name}" is not supported by nginxpy, ignored',
                    directive.file,
                    directive.end_line,
                )
            )
    if config.contexts and not _openssl.AVAILABLE:
        warn(
            Message(
                "notice",
                "nginxpy: libssl is not reachable through ctypes; a bad client certificate "
                "fails the handshake instead of giving 495",
            )
        )
    return config


def tls_messages(main: MainScope, conf_prefix: str) -> list[Message]:
    """nginxpy's TLS warnings for -t and start-up (empty when every setting is honoured)."""
    return build_tls(main, conf_prefix).messages
