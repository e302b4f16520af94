"""The trio layer of TLS: accepting on a TLS address, connecting to an https:// upstream.

Everything here only moves bytes; what to do with them is decided in the pure
modules (:mod:`nginxpy.tls.sni`, :mod:`nginxpy.tls.upstream`).
"""

from __future__ import annotations

import ssl
from collections.abc import Hashable
from dataclasses import dataclass

import trio

from nginxpy.tls.sni import TlsAddress, TlsConnection
from nginxpy.tls.upstream import UpstreamTls, UpstreamTlsError, check_upstream, sni_name, ssl_name

_FIRST_READ = 16384


def is_tls_handshake(first: bytes | bytearray) -> bool:
    """ngx_http_ssl_handshake's peek: a TLS handshake record (0x16) or an SSLv2-style hello."""
    return bool(first) and (first[0] == 0x16 or bool(first[0] & 0x80))


class PrefixedStream(trio.abc.Stream):
    """A stream whose first bytes have been read already: they are received again first."""

    def __init__(self, stream: trio.abc.Stream, prefix: bytes | bytearray) -> None:
        self.stream = stream
        self._prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._prefix:
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            await trio.lowlevel.checkpoint()
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.stream.aclose()


@dataclass(slots=True)
class Accepted:
    """A connection on a TLS address after the first bytes.

    ``tls`` is None when the client spoke plain HTTP: the runtime reads the request
    header from ``stream`` as usual and answers it with 497 (nginx's "The plain HTTP
    request was sent to HTTPS port"), which ``error_page 497`` may catch.
    """

    stream: trio.abc.Stream
    tls: TlsConnection | None


async def accept_tls(address: TlsAddress, stream: trio.abc.Stream) -> Accepted | None:
    """Peek, then handshake; None when the client went away or the handshake failed (nginx closes)."""
    try:
        first = await stream.receive_some(_FIRST_READ)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        first = b""
    if not first:
        await stream.aclose()
        return None
    prefixed = PrefixedStream(stream, first)
    if not is_tls_handshake(first):
        return Accepted(prefixed, None)
    # Not "https_compatible": aclose sends close_notify (nginx's SSL_shutdown), which also keeps
    # the session in OpenSSL's cache; a client's missing close_notify still reads as a plain EOF
    # because the contexts set OP_IGNORE_UNEXPECTED_EOF, as nginx does.
    tls_stream = trio.SSLStream(prefixed, address.context, server_side=True)
    try:
        await tls_stream.do_handshake()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        await trio.aclose_forcefully(tls_stream)
        return None
    sslobj = tls_stream._ssl_object
    return Accepted(tls_stream, TlsConnection(address, sslobj, address.state(sslobj)))


async def connect_upstream(
    transport: trio.abc.Stream, tls: UpstreamTls, name: str, peer: Hashable | None = None
) -> trio.SSLStream[trio.abc.Stream]:
    """Wrap a connected upstream stream in TLS as ngx_http_upstream_ssl_init_connection.

    ``name`` is the evaluated ``proxy_ssl_name`` (``$proxy_host`` unless set), ``peer``
    the upstream server's address (the key of ``proxy_ssl_session_reuse``).  Raises
    UpstreamTlsError, whose text is nginx's error-log line, when nginx would give up
    on this upstream (the caller then tries the next one or answers 502).
    """
    name = ssl_name(name)
    stream = trio.SSLStream(
        transport,
        tls.context,
        server_hostname=sni_name(name) if tls.server_name else None,
    )
    saved = tls.sessions.get(peer) if tls.session_reuse and peer is not None else None
    if saved is not None:
        stream.session = saved
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(stream)
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise UpstreamTlsError(
                f"upstream SSL certificate verify error: ({cause.verify_code}:{cause.verify_message})"
            ) from None
        reason = getattr(cause, "reason", None) or cause or "connection closed"
        raise UpstreamTlsError(
            f"SSL_do_handshake() failed ({reason}) while SSL handshaking to upstream"
        ) from None
    try:
        check_upstream(stream._ssl_object, tls, name)
    except UpstreamTlsError:
        await trio.aclose_forcefully(stream)
        raise
    remember_session(stream, tls, peer)
    return stream


def remember_session(
    stream: trio.SSLStream[trio.abc.Stream], tls: UpstreamTls, peer: Hashable | None
) -> None:
    """Keep the upstream session for the next connection (call again before closing: TLS 1.3
    delivers its tickets after the handshake)."""
    if tls.session_reuse and peer is not None:
        session = stream.session
        if session is not None:
            tls.sessions[peer] = session
