"""The ngx_http_ssl_module variables, as functions of one TLS connection (ngx_ssl_get_*).

Each getter takes the connection (``TlsConnection``, or None on a plain connection)
and returns the value, or None for "not found" (nginx's empty, not_found value).
``$https`` and ``$scheme`` belong to the core module but only depend on TLS.
"""

from __future__ import annotations

import calendar
import hashlib
import ssl
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from nginxpy.tls import _openssl
from nginxpy.tls.sni import TlsConnection

# OpenSSL's short names for the attributes Python reports by long name.
_SHORT_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "street",
    "domainComponent": "DC",
    "userId": "UID",
    "serialNumber": "serialNumber",
    "emailAddress": "emailAddress",
    "givenName": "GN",
    "surname": "SN",
    "title": "title",
    "name": "name",
    "initials": "initials",
    "pseudonym": "pseudonym",
    "dnQualifier": "dnQualifier",
    "generationQualifier": "generationQualifier",
    "description": "description",
    "postalCode": "postalCode",
    "businessCategory": "businessCategory",
}

_RFC2253_SPECIAL = ',+"\\<>;'


def _escape_rfc2253(value: str) -> str:
    out = []
    for index, ch in enumerate(value):
        if ch in _RFC2253_SPECIAL or (index == 0 and ch in "# ") or (index == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out)


def format_dn(rdns: Any) -> str:
    """X509_NAME_print_ex(..., XN_FLAG_RFC2253): last RDN first, "+" inside an RDN."""
    parts = []
    for rdn in reversed(list(rdns)):
        parts.append("+".join(f"{_SHORT_NAMES.get(key, key)}={_escape_rfc2253(value)}" for key, value in rdn))
    return ",".join(parts)


def format_dn_legacy(rdns: Any) -> str:
    """The pre-1.11.6 format ($ssl_client_s_dn_legacy): "/C=../CN=..", in certificate order."""
    return "".join(
        "/" + "+".join(f"{_SHORT_NAMES.get(key, key)}={value}" for key, value in rdn) for rdn in rdns
    )


def _peer(conn: TlsConnection) -> dict[str, Any] | None:
    if not conn.sslobj.getpeercert(binary_form=True):
        return None
    decoded = conn.sslobj.getpeercert()
    return decoded if decoded else None


def _der(conn: TlsConnection) -> bytes | None:
    der = conn.sslobj.getpeercert(binary_form=True)
    return der or None


def ssl_protocol(conn: TlsConnection) -> str | None:
    return conn.sslobj.version()


def ssl_cipher(conn: TlsConnection) -> str | None:
    cipher = conn.sslobj.cipher()
    return cipher[0] if cipher else None


def ssl_ciphers(conn: TlsConnection) -> str | None:
    """The ciphers both sides support (nginx lists the client's; Python only knows the shared ones)."""
    shared = conn.sslobj.shared_ciphers()
    return ":".join(name for name, _, _ in shared) if shared else None


def ssl_server_name(conn: TlsConnection) -> str | None:
    return conn.sni.server_name or None


def ssl_session_id(conn: TlsConnection) -> str | None:
    session = conn.sslobj.session
    return session.id.hex() if session is not None else ""


def ssl_session_reused(conn: TlsConnection) -> str | None:
    return "r" if conn.sslobj.session_reused else "."


def ssl_alpn_protocol(conn: TlsConnection) -> str | None:
    return conn.sslobj.selected_alpn_protocol() or ""


def ssl_early_data(conn: TlsConnection) -> str | None:
    return ""


def ssl_client_verify(conn: TlsConnection) -> str | None:
    if _der(conn) is None:
        return "NONE"
    code = _openssl.verify_result(conn.sslobj)
    if code == _openssl.X509_V_OK:
        return "SUCCESS"
    return "FAILED:" + _openssl.verify_error_string(code)


def ssl_client_s_dn(conn: TlsConnection) -> str | None:
    peer = _peer(conn)
    return format_dn(peer.get("subject", ())) if peer else ""


def ssl_client_i_dn(conn: TlsConnection) -> str | None:
    peer = _peer(conn)
    return format_dn(peer.get("issuer", ())) if peer else ""


def ssl_client_s_dn_legacy(conn: TlsConnection) -> str | None:
    peer = _peer(conn)
    return format_dn_legacy(peer.get("subject", ())) if peer else ""


def ssl_client_i_dn_legacy(conn: TlsConnection) -> str | None:
    peer = _peer(conn)
    return format_dn_legacy(peer.get("issuer", ())) if peer else ""


def ssl_client_serial(conn: TlsConnection) -> str | None:
    peer = _peer(conn)
    return str(peer.get("serialNumber", "")) if peer else ""


def ssl_client_fingerprint(conn: TlsConnection) -> str | None:
    der = _der(conn)
    return hashlib.sha1(der).hexdigest() if der else ""


def ssl_client_raw_cert(conn: TlsConnection) -> str | None:
    der = _der(conn)
    return ssl.DER_cert_to_PEM_cert(der) if der else ""


def ssl_client_cert(conn: TlsConnection) -> str | None:
    """The PEM with a tab before every line but the first (deprecated in nginx, still served)."""
    pem = ssl_client_raw_cert(conn)
    if not pem:
        return ""
    lines = pem.rstrip("\n").split("\n")
    return "\n".join([lines[0]] + ["\t" + line for line in lines[1:]]) + "\n"


def ssl_client_escaped_cert(conn: TlsConnection) -> str | None:
    pem = ssl_client_raw_cert(conn)
    return urllib.parse.quote(pem, safe="") if pem else ""


def ssl_client_v_start(conn: TlsConnection) -> str | None:
    peer = _peer(conn)
    return str(peer.get("notBefore", "")) if peer else ""


def ssl_client_v_end(conn: TlsConnection) -> str | None:
    peer = _peer(conn)
    return str(peer.get("notAfter", "")) if peer else ""


def ssl_client_v_remain(conn: TlsConnection) -> str | None:
    peer = _peer(conn)
    if not peer or "notAfter" not in peer:
        return ""
    end = ssl.cert_time_to_seconds(str(peer["notAfter"]))
    now = calendar.timegm(time.gmtime())
    return str(max(0, (end - now) // 86400))


Getter = Callable[[TlsConnection], str | None]

SSL_VARIABLES: dict[str, Getter] = {
    "ssl_protocol": ssl_protocol,
    "ssl_cipher": ssl_cipher,
    "ssl_ciphers": ssl_ciphers,
    "ssl_server_name": ssl_server_name,
    "ssl_session_id": ssl_session_id,
    "ssl_session_reused": ssl_session_reused,
    "ssl_alpn_protocol": ssl_alpn_protocol,
    "ssl_early_data": ssl_early_data,
    "ssl_client_verify": ssl_client_verify,
    "ssl_client_s_dn": ssl_client_s_dn,
    "ssl_client_i_dn": ssl_client_i_dn,
    "ssl_client_s_dn_legacy": ssl_client_s_dn_legacy,
    "ssl_client_i_dn_legacy": ssl_client_i_dn_legacy,
    "ssl_client_serial": ssl_client_serial,
    "ssl_client_fingerprint": ssl_client_fingerprint,
    "ssl_client_raw_cert": ssl_client_raw_cert,
    "ssl_client_cert": ssl_client_cert,
    "ssl_client_escaped_cert": ssl_client_escaped_cert,
    "ssl_client_v_start": ssl_client_v_start,
    "ssl_client_v_end": ssl_client_v_end,
    "ssl_client_v_remain": ssl_client_v_remain,
}


def tls_variable(conn: TlsConnection | None, name: str) -> str | None:
    """The value of one TLS variable; on a plain connection every $ssl_* is not found.

    Returns None for names this module does not define.
    """
    if name == "https":
        return "on" if conn is not None else ""
    if name == "scheme":
        return "https" if conn is not None else "http"
    getter = SSL_VARIABLES.get(name)
    if getter is None:
        return None
    if conn is None:
        return ""
    value = getter(conn)
    return "" if value is None else value
