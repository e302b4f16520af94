"""The few OpenSSL calls nginx makes that Python's ``ssl`` module does not expose.

nginx never fails a handshake over a client certificate: its verify callback
accepts every chain and the HTTP layer later answers 495 or 496 from
``SSL_get_verify_result``.  ``ssl_verify_client optional_no_ca``, the
``$ssl_client_verify`` reason, ``ssl_verify_depth``, the session cache modes and
the SNI switch (``SSL_set_SSL_CTX`` followed by copying the verify mode, depth and
options, as ``ngx_http_ssl_servername`` does) need calls into libssl itself.

They are made with ``ctypes`` on the ``libssl`` that CPython's ``_ssl`` module is
linked against, using the ``SSL_CTX *`` and ``SSL *`` pointers stored right after
the object header of ``_ssl._SSLContext`` and ``_ssl._SSLSocket``.  That layout is
checked once at import (``SSL_get_SSL_CTX`` of a fresh connection must be its
context's pointer); when the check fails ``AVAILABLE`` is false and every function
here degrades to a no-op, so nginxpy still runs, with Python's own verification
(a bad client certificate then fails the handshake instead of giving a 495).
"""

from __future__ import annotations

import ctypes
import ssl
from typing import Any

SSL_VERIFY_NONE = 0
SSL_VERIFY_PEER = 1
SSL_VERIFY_CLIENT_ONCE = 4

SSL_SESS_CACHE_OFF = 0x0000
SSL_SESS_CACHE_SERVER = 0x0002
SSL_SESS_CACHE_NO_AUTO_CLEAR = 0x0080
SSL_SESS_CACHE_NO_INTERNAL_STORE = 0x0200

_SSL_CTRL_SET_SESS_CACHE_SIZE = 42
_SSL_CTRL_SET_SESS_CACHE_MODE = 44
_SSL_CTRL_SET_GROUPS_LIST = 92

X509_V_OK = 0

_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept_any_chain(preverify_ok: int, store: int | None) -> int:
    """ngx_ssl_verify_callback: the verdict is read after the handshake, never fatal in it."""
    return 1


# Kept for the life of the process: OpenSSL holds the raw function pointer.
_ACCEPT_ANY_CHAIN = _VERIFY_CB(_accept_any_chain)


def _load() -> Any:
    import _ssl

    lib = ctypes.CDLL(_ssl.__file__)
    p, i, long, u64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_uint64
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "SSL_get_SSL_CTX": (p, [p]),
        "SSL_CTX_set_verify": (None, [p, i, _VERIFY_CB]),
        "SSL_CTX_get_verify_mode": (i, [p]),
        "SSL_CTX_get_verify_depth": (i, [p]),
        "SSL_CTX_set_verify_depth": (None, [p, i]),
        "SSL_CTX_get_verify_callback": (p, [p]),
        "SSL_set_verify": (None, [p, i, p]),
        "SSL_set_verify_depth": (None, [p, i]),
        "SSL_CTX_get_options": (u64, [p]),
        "SSL_get_options": (u64, [p]),
        "SSL_set_options": (u64, [p, u64]),
        "SSL_clear_options": (u64, [p, u64]),
        "SSL_get_verify_result": (long, [p]),
        "X509_verify_cert_error_string": (ctypes.c_char_p, [long]),
        "SSL_CTX_ctrl": (long, [p, i, long, p]),
        "SSL_CTX_set_timeout": (long, [p, long]),
        "SSL_load_client_CA_file": (p, [ctypes.c_char_p]),
        "SSL_CTX_set_client_CA_list": (None, [p, p]),
        "ERR_clear_error": (None, []),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def _pointer(obj: object) -> int:
    """The C pointer stored right after a CPython object header (16 bytes on 64-bit)."""
    value = ctypes.c_void_p.from_address(id(obj) + object.__basicsize__).value
    return int(value or 0)


def ctx_pointer(context: ssl.SSLContext) -> int:
    return _pointer(context)


def ssl_pointer(sslobj: ssl.SSLObject) -> int:
    # _ssl._SSLSocket: the object header, a weak reference to the socket, then SSL *.
    inner = sslobj._sslobj  # type: ignore[attr-defined]
    value = ctypes.c_void_p.from_address(id(inner) + object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p))
    return int(value.value or 0)


def _self_check(lib: Any) -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sslobj = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
    ctx = ctx_pointer(context)
    return ctx != 0 and lib.SSL_get_SSL_CTX(ssl_pointer(sslobj)) == ctx


try:
    _LIB: Any = _load()
    AVAILABLE = _self_check(_LIB)
except (OSError, AttributeError, ValueError):  # pragma: no cover - another CPython or libssl
    _LIB = None
    AVAILABLE = False


def accept_any_client_chain(context: ssl.SSLContext, depth: int) -> bool:
    """SSL_CTX_set_verify(PEER, accept all) + SSL_CTX_set_verify_depth, as ngx_ssl_client_certificate."""
    if not AVAILABLE:
        return False
    ctx = ctx_pointer(context)
    _LIB.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, _ACCEPT_ANY_CHAIN)
    _LIB.SSL_CTX_set_verify_depth(ctx, depth)
    return True


def set_verify_depth(context: ssl.SSLContext, depth: int) -> None:
    if AVAILABLE:
        _LIB.SSL_CTX_set_verify_depth(ctx_pointer(context), depth)


def set_client_ca_list(context: ssl.SSLContext, path: str) -> bool:
    """The CA names a server sends in its CertificateRequest (SSL_load_client_CA_file)."""
    if not AVAILABLE:
        return False
    names = _LIB.SSL_load_client_CA_file(path.encode())
    _LIB.ERR_clear_error()
    if not names:
        return False
    _LIB.SSL_CTX_set_client_CA_list(ctx_pointer(context), names)
    return True


def set_session_cache(context: ssl.SSLContext, mode: int, size: int | None, timeout: int) -> None:
    if not AVAILABLE:
        return
    ctx = ctx_pointer(context)
    _LIB.SSL_CTX_set_timeout(ctx, timeout)
    _LIB.SSL_CTX_ctrl(ctx, _SSL_CTRL_SET_SESS_CACHE_MODE, mode, None)
    if size is not None:
        _LIB.SSL_CTX_ctrl(ctx, _SSL_CTRL_SET_SESS_CACHE_SIZE, size, None)


def set_groups_list(context: ssl.SSLContext, groups: str) -> bool:
    """SSL_CTX_set1_curves_list; False if OpenSSL rejects the list."""
    if not AVAILABLE:
        context.set_ecdh_curve(groups)
        return True
    buffer = ctypes.create_string_buffer(groups.encode())
    ok = _LIB.SSL_CTX_ctrl(
        ctx_pointer(context), _SSL_CTRL_SET_GROUPS_LIST, 0, ctypes.cast(buffer, ctypes.c_void_p)
    )
    _LIB.ERR_clear_error()
    return bool(ok)


def switch_context(sslobj: ssl.SSLObject, context: ssl.SSLContext) -> None:
    """ngx_http_ssl_servername after SSL_set_SSL_CTX: take the new server's verify mode, depth, options."""
    sslobj.context = context
    if not AVAILABLE:
        return
    ssl_ptr, ctx = ssl_pointer(sslobj), ctx_pointer(context)
    _LIB.SSL_set_verify(ssl_ptr, _LIB.SSL_CTX_get_verify_mode(ctx), _LIB.SSL_CTX_get_verify_callback(ctx))
    _LIB.SSL_set_verify_depth(ssl_ptr, _LIB.SSL_CTX_get_verify_depth(ctx))
    wanted = _LIB.SSL_CTX_get_options(ctx)
    _LIB.SSL_clear_options(ssl_ptr, _LIB.SSL_get_options(ssl_ptr) & ~wanted)
    _LIB.SSL_set_options(ssl_ptr, wanted)


def verify_result(sslobj: ssl.SSLObject) -> int:
    """SSL_get_verify_result of a finished handshake (X509_V_OK when unknown)."""
    if not AVAILABLE:
        return X509_V_OK
    return int(_LIB.SSL_get_verify_result(ssl_pointer(sslobj)))


def verify_error_string(code: int) -> str:
    if not AVAILABLE:
        return f"error {code}"
    text: bytes | None = _LIB.X509_verify_cert_error_string(code)
    return (text or b"").decode("ascii", "replace")
