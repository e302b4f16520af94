"""SNI selection, request-time rules (421/495/496) and the $ssl_* variables, over memory BIOs."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest
from tls_harness import HandshakeFailed, Pki, build, client_context, connect, served_name, servers

from nginxpy.tls import _openssl
from nginxpy.tls.sni import (
    HTTPS_CERT_ERROR,
    HTTPS_NO_CERT,
    MISDIRECTED_REQUEST,
    TlsAddress,
    VirtualNames,
    validate_host,
)
from nginxpy.tls.streams import is_tls_handshake
from nginxpy.tls.variables import format_dn, tls_variable

V = ssl.TLSVersion
needs_ctypes = pytest.mark.skipif(not _openssl.AVAILABLE, reason="needs libssl through ctypes")


def _three_servers(pki: Pki, extra_b: str = "", extra_c: str = "", extra_a: str = "") -> str:
    return f"""
    server {{
        listen 127.0.0.1:8443 ssl;
        server_name a.test *.a.test;
        ssl_certificate {pki.path("a.crt")};
        ssl_certificate_key {pki.path("a.key")};
        {extra_a}
    }}
    server {{
        listen 127.0.0.1:8443 ssl default_server;
        server_name b.test;
        ssl_certificate {pki.path("b.crt")};
        ssl_certificate_key {pki.path("b.key")};
        {extra_b}
    }}
    server {{
        listen 127.0.0.1:8443 ssl;
        server_name ~^c\\.(test)$ localhost;
        ssl_certificate {pki.path("c.crt")};
        ssl_certificate_key {pki.path("c.key")};
        {extra_c}
    }}
    """


def _address(tmp_path: Path, body: str) -> TlsAddress:
    main, config = build(tmp_path, body)
    found = servers(main)
    default = next(s for s in found if any(listen.default_server for listen in s.listens))
    return TlsAddress(config, found, default)


def test_validate_host() -> None:
    assert validate_host("Example.COM.") == "example.com"
    assert validate_host("example.com:8080") == "example.com"
    assert validate_host("[::1]:443") == "[::1]"
    assert validate_host("a..b") is None
    assert validate_host("a/b") is None
    assert validate_host("a b") is None
    assert validate_host(".") is None


def test_virtual_names_order(tmp_path: Path) -> None:
    body = """
    server { listen 80; server_name ~^www\\.(?<d>.+)$ ; }
    server { listen 80; server_name www.example.*; }
    server { listen 80; server_name *.example.org; }
    server { listen 80; server_name www.example.org; }
    server { listen 80; server_name *.deep.example.org .example.net; }
    """
    main, _ = build(tmp_path, body, probe=False)
    regex, tail, head, exact, deep = servers(main)
    names = VirtualNames(servers(main))
    assert names.find("www.example.org") is exact
    assert names.find("x.example.org") is head
    assert names.find("x.deep.example.org") is deep  # the longest leading wildcard
    assert names.find("example.net") is deep and names.find("a.example.net") is deep
    assert names.find("www.example.com") is tail
    assert names.find("www.other.com") is regex
    assert names.find("example.org") is None


def test_sni_picks_the_certificate(pki: Pki, tmp_path: Path) -> None:
    address = _address(tmp_path, _three_servers(pki))
    a, b, c = servers_of(address)
    cases = {
        "a.test": ("a.test", a),
        "x.a.test": ("a.test", a),
        "c.test": ("c.test", c),
        "LOCALHOST": ("c.test", c),
    }
    for sni, (cert, server) in cases.items():
        client, conn = connect(address, client_context(pki), sni)
        assert served_name(client) == cert
        assert conn.server is server
        assert tls_variable(conn, "ssl_server_name") == sni
    for sni in ("unknown.test", None):
        client, conn = connect(address, client_context(pki), sni)
        assert served_name(client) == "b.test"  # the default server of the address
        assert conn.server is b
        assert conn.sni.server is None


def servers_of(address: TlsAddress) -> list:  # type: ignore[type-arg]
    return address.servers


def test_default_servers_protocols_apply_on_a_shared_port(pki: Pki, tmp_path: Path) -> None:
    # OpenSSL picks the version before the SNI callback: the default server's ssl_protocols rule.
    body = _three_servers(pki, extra_a="ssl_protocols TLSv1.2;", extra_b="ssl_protocols TLSv1.2 TLSv1.3;")
    address = _address(tmp_path, body)
    client, _ = connect(address, client_context(pki, version=V.TLSv1_3), "a.test")
    assert client.version() == "TLSv1.3"
    assert served_name(client) == "a.test"


def test_reject_handshake(pki: Pki, tmp_path: Path) -> None:
    address = _address(tmp_path, _three_servers(pki, extra_b="ssl_reject_handshake on;"))
    with pytest.raises(HandshakeFailed):  # the server's callback fails: alert unrecognized_name
        connect(address, client_context(pki), "unknown.test")
    client, _ = connect(address, client_context(pki), "a.test")
    assert served_name(client) == "a.test"


def test_host_picks_the_server_independently(pki: Pki, tmp_path: Path) -> None:
    address = _address(tmp_path, _three_servers(pki))
    a, b, c = servers_of(address)
    _, conn = connect(address, client_context(pki), "a.test")
    assert conn.select_server("a.test") == (a, None)
    assert conn.select_server("c.test") == (c, None)
    assert conn.select_server("nowhere.test") == (b, None)
    assert conn.select_server(None) == (a, None)  # HTTP/1.0 without Host: the SNI server


def test_misdirected_request_with_client_verification(pki: Pki, tmp_path: Path) -> None:
    verify = f"ssl_verify_client optional; ssl_client_certificate {pki.path('ca.pem')};"
    address = _address(tmp_path, _three_servers(pki, extra_c=verify))
    _a, _b, c = servers_of(address)
    _, conn = connect(address, client_context(pki), "a.test")
    assert conn.select_server("c.test") == (c, MISDIRECTED_REQUEST)
    _, conn = connect(address, client_context(pki), "c.test")
    assert conn.select_server("c.test") == (c, None)
    _, conn = connect(address, client_context(pki), None)  # no SNI: no 421
    assert conn.select_server("c.test") == (c, None)


@needs_ctypes
@pytest.mark.parametrize(
    ("mode", "cert", "status", "verify"),
    [
        ("on", "client", None, "SUCCESS"),
        ("on", None, HTTPS_NO_CERT, "NONE"),
        ("on", "stranger", HTTPS_CERT_ERROR, "FAILED:unable to verify the first certificate"),
        ("optional", None, None, "NONE"),
        ("optional", "stranger", HTTPS_CERT_ERROR, "FAILED:unable to verify the first certificate"),
        ("optional_no_ca", "stranger", None, "FAILED:unable to verify the first certificate"),
    ],
)
def test_client_verification(
    pki: Pki, tmp_path: Path, mode: str, cert: str | None, status: int | None, verify: str
) -> None:
    extra = f"ssl_verify_client {mode}; ssl_client_certificate {pki.path('ca.pem')};"
    address = _address(tmp_path, _three_servers(pki, extra_a=extra))
    a = servers_of(address)[0]
    _, conn = connect(address, client_context(pki, cert=cert), "a.test")
    assert conn.verify_status(a) == status
    assert tls_variable(conn, "ssl_client_verify") == verify
    # The default server (b) does not verify: the same connection is fine there.
    assert conn.verify_status(servers_of(address)[1]) is None


@needs_ctypes
def test_client_certificate_variables(pki: Pki, tmp_path: Path) -> None:
    extra = f"ssl_verify_client on; ssl_client_certificate {pki.path('ca.pem')};"
    address = _address(tmp_path, _three_servers(pki, extra_a=extra))
    _, conn = connect(address, client_context(pki, cert="client"), "a.test")
    # trustme adds a unique "OU=Testing cert #..." to every certificate.
    assert re.fullmatch(
        r"CN=client one,OU=Testing cert #\S+,O=Example\\, Inc\.", tls_variable(conn, "ssl_client_s_dn") or ""
    )
    assert re.fullmatch(r"OU=Testing CA #\S+,O=nginxpy test CA", tls_variable(conn, "ssl_client_i_dn") or "")
    assert re.fullmatch(
        r"/O=Example, Inc\./OU=Testing cert #\S+/CN=client one",
        tls_variable(conn, "ssl_client_s_dn_legacy") or "",
    )
    assert len(tls_variable(conn, "ssl_client_fingerprint") or "") == 40
    assert (tls_variable(conn, "ssl_client_raw_cert") or "").startswith("-----BEGIN CERTIFICATE-----\n")
    assert "\n\t" in (tls_variable(conn, "ssl_client_cert") or "")
    assert int(tls_variable(conn, "ssl_client_v_remain") or "-1") > 0


def test_connection_variables(pki: Pki, tmp_path: Path) -> None:
    address = _address(tmp_path, _three_servers(pki))
    client, conn = connect(address, client_context(pki, version=V.TLSv1_2), "a.test")
    assert tls_variable(conn, "ssl_protocol") == "TLSv1.2"
    assert tls_variable(conn, "ssl_cipher") == client.cipher()[0]  # type: ignore[index]
    assert tls_variable(conn, "https") == "on"
    assert tls_variable(conn, "scheme") == "https"
    assert tls_variable(conn, "ssl_client_verify") == "NONE"
    assert tls_variable(conn, "ssl_session_reused") == "."
    assert tls_variable(None, "https") == ""
    assert tls_variable(None, "scheme") == "http"
    assert tls_variable(None, "ssl_protocol") == ""
    assert tls_variable(conn, "not_a_tls_variable") is None


def test_format_dn_escapes() -> None:
    rdns = ((("countryName", "US"),), (("organizationName", 'A+B "C"'),), (("commonName", " x "),))
    assert format_dn(rdns) == 'CN=\\ x\\ ,O=A\\+B \\"C\\",C=US'


def test_first_byte_tells_tls_from_plain_http() -> None:
    assert is_tls_handshake(b"\x16\x03\x01\x02\x00")
    assert is_tls_handshake(b"\x80\x2e\x01")  # SSLv2-compatible ClientHello
    assert not is_tls_handshake(b"GET / HTTP/1.1\r\n")
    assert not is_tls_handshake(b"")
