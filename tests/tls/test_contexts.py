"""Server contexts built from ssl_* directives: handshakes over memory BIOs, no sockets."""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import replace
from pathlib import Path

import pytest
from tls_harness import HandshakeFailed, Pki, build, client_context, memory_handshake, servers

from nginxpy import versions
from nginxpy.conf.model import ConfError
from nginxpy.tls import _openssl
from nginxpy.tls.server import build_server_context, server_tls

V = ssl.TLSVersion
# RFC 7919's ffdhe2048 group: DH parameters without a slow generation in the test.
FFDHE2048_P = int(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FBCC939DCE249B3EF97D2FE363"
    "630C75D8F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935984F0C70E0E68B77"
    "E2A689DAF3EFE8721DF158A136ADE73530ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3"
    "DE394DF4AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F619172FE9CE98583FF8E4F1232EEF28183"
    "C3FE3B1B4C6FAD733BB5FCBC2EC22005C58EF1837D1683B2C6F34A26C1B2EFFA886B423861285C97FFFFFFFFFFFFFFFF",
    16,
)
ALL_VERSIONS = [V.TLSv1, V.TLSv1_1, V.TLSv1_2, V.TLSv1_3]


def _server(pki: Pki, extra: str = "", cert: str = "a") -> str:
    return f"""
    server {{
        listen 127.0.0.1:8443 ssl;
        ssl_certificate {pki.path(cert + ".crt")};
        ssl_certificate_key {pki.path(cert + ".key")};
        {extra}
    }}
    """


def _context(tmp_path: Path, body: str) -> ssl.SSLContext:
    main, config = build(tmp_path, body)
    context = config.context(servers(main)[0])
    assert context is not None
    return context


def _negotiated(context: ssl.SSLContext) -> list[str]:
    """The versions a client pinned to each one can agree on with this server."""
    found = []
    for version in ALL_VERSIONS:
        try:
            client, _ = memory_handshake(client_context(version=version), context)
        except HandshakeFailed:
            continue
        found.append(client.version() or "")
    return found


def _security_level_zero() -> bool:
    """Can this OpenSSL still speak TLSv1 when a cipher string lowers the security level?"""
    return ssl.HAS_TLSv1


def test_default_protocols_are_nginx_1_22s(pki: Pki, tmp_path: Path) -> None:
    # nginx 1.22's default is "TLSv1 TLSv1.1 TLSv1.2": no TLSv1.3; the system policy drops 1.0/1.1.
    assert versions.DEFAULT_SSL_PROTOCOLS == ("TLSv1", "TLSv1.1", "TLSv1.2")
    context = _context(tmp_path, _server(pki))
    assert _negotiated(context) == ["TLSv1.2"]


@pytest.mark.parametrize(
    ("protocols", "expected"),
    [
        ("TLSv1.2", ["TLSv1.2"]),
        ("TLSv1.3", ["TLSv1.3"]),
        ("TLSv1.2 TLSv1.3", ["TLSv1.2", "TLSv1.3"]),
        ("TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", ["TLSv1.2", "TLSv1.3"]),
    ],
)
def test_protocols(pki: Pki, tmp_path: Path, protocols: str, expected: list[str]) -> None:
    context = _context(tmp_path, _server(pki, f"ssl_protocols {protocols};"))
    assert _negotiated(context) == expected


def test_protocol_hole_and_low_security_level(pki: Pki, tmp_path: Path) -> None:
    # With @SECLEVEL=0 OpenSSL 3 offers TLSv1 again; a hole (no TLSv1.1) stays a hole.
    body = _server(pki, "ssl_protocols TLSv1 TLSv1.2; ssl_ciphers DEFAULT:@SECLEVEL=0;")
    context = _context(tmp_path, body)
    expected = ["TLSv1", "TLSv1.2"] if _security_level_zero() else ["TLSv1.2"]
    assert _negotiated(context) == expected


def test_unofferable_protocols_are_reported_once(pki: Pki, tmp_path: Path) -> None:
    body = (
        "ssl_protocols TLSv1 TLSv1.1 TLSv1.2;\n"
        + _server(pki)
        + _server(pki, cert="b").replace("8443", "8444")
    )
    _, config = build(tmp_path, body)
    warnings = [m for m in config.messages if "ssl_protocols" in m.text]
    assert len(warnings) == 1
    message = warnings[0]
    assert message.level == "warn"
    assert message.line == 3
    assert message.text.startswith('"ssl_protocols": TLSv1 TLSv1.1 cannot be offered by OpenSSL')
    assert "only TLSv1.2 will be negotiated" in message.text


def test_default_protocols_are_not_reported(pki: Pki, tmp_path: Path) -> None:
    _, config = build(tmp_path, _server(pki))
    assert config.messages == []


def test_ssl_stapling_is_accepted_and_warned(pki: Pki, tmp_path: Path) -> None:
    _, config = build(tmp_path, _server(pki, "ssl_stapling on;"))
    assert [m.text for m in config.messages] == ['"ssl_stapling" is not supported by nginxpy, ignored']


def test_ciphers_restrict_tls12_not_tls13(pki: Pki, tmp_path: Path) -> None:
    body = _server(pki, "ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;")
    context = _context(tmp_path, body)
    client, _ = memory_handshake(client_context(version=V.TLSv1_2), context)
    assert client.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"  # type: ignore[index]
    client, _ = memory_handshake(client_context(version=V.TLSv1_3), context)
    assert client.cipher()[0].startswith("TLS_")  # type: ignore[index]


def test_prefer_server_ciphers(pki: Pki, tmp_path: Path) -> None:
    order = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
    client_order = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"
    for prefer, expected in (
        ("off", "ECDHE-ECDSA-AES256-GCM-SHA384"),
        ("on", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    ):
        body = _server(pki, f"ssl_ciphers {order}; ssl_prefer_server_ciphers {prefer};")
        context = _context(tmp_path, body)
        client, _ = memory_handshake(client_context(version=V.TLSv1_2, ciphers=client_order), context)
        assert client.cipher()[0] == expected  # type: ignore[index]


def test_rsa_and_ecdsa_side_by_side(pki: Pki, tmp_path: Path) -> None:
    body = f"""
    server {{
        listen 127.0.0.1:8443 ssl;
        ssl_certificate {pki.path("rsa.crt")};
        ssl_certificate_key {pki.path("rsa.key")};
        ssl_certificate {pki.path("ecdsa.crt")};
        ssl_certificate_key {pki.path("ecdsa.key")};
    }}
    """
    context = _context(tmp_path, body)
    rsa, _ = memory_handshake(
        client_context(version=V.TLSv1_2, ciphers="ECDHE-RSA-AES128-GCM-SHA256"), context
    )
    ecdsa, _ = memory_handshake(
        client_context(version=V.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"), context
    )
    assert rsa.cipher()[0] == "ECDHE-RSA-AES128-GCM-SHA256"  # type: ignore[index]
    assert ecdsa.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"  # type: ignore[index]
    assert rsa.getpeercert(binary_form=True) != ecdsa.getpeercert(binary_form=True)


def test_password_file(pki: Pki, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(Path(pki.path("a.key")).read_bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"second"),
    )
    (tmp_path / "enc.key").write_bytes(encrypted)
    (tmp_path / "passwords").write_text("first\r\n\nsecond\n")
    # Built from the settings directly: the checker's own -t pass over certificates is not under test.
    main, _ = build(tmp_path, _server(pki), probe=False)
    settings = replace(
        server_tls(servers(main)[0], str(tmp_path) + "/"),
        keys=(str(tmp_path / "enc.key"),),
        password_file=str(tmp_path / "passwords"),
    )
    memory_handshake(client_context(pki), build_server_context(settings))
    (tmp_path / "passwords").write_text("wrong\n")
    with pytest.raises(
        ConfError, match=r'cannot load certificate key ".*enc.key": PEM_read_bio_PrivateKey\(\) failed'
    ):
        build_server_context(settings)


def test_certificate_errors(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "garbage.crt").write_text("not a certificate\n")
    main, _ = build(tmp_path, _server(pki), probe=False)
    server = servers(main)[0]
    prefix = str(tmp_path) + "/"

    def settings_with(**changes: object) -> object:
        return replace(server_tls(server, prefix), **changes)

    cases = [
        (
            {"certificates": (prefix + "missing.crt",)},
            r'cannot load certificate ".*missing.crt": BIO_new_file\(\) failed',
        ),
        ({"certificates": (prefix + "garbage.crt",)}, r"PEM_read_bio_X509_AUX\(\) failed"),
        ({"keys": (pki.path("b.key"),)}, r'SSL_CTX_use_PrivateKey\(".*b.key"\) failed'),
        ({"ciphers": "NOTHING-AT-ALL"}, r'SSL_CTX_set_cipher_list\("NOTHING-AT-ALL"\) failed'),
        ({"verify_client": "on"}, r"no ssl_client_certificate for ssl_verify_client"),
        ({"ecdh_curve": "no-such-curve"}, r'SSL_CTX_set1_curves_list\("no-such-curve"\) failed'),
    ]
    for changes, message in cases:
        with pytest.raises(ConfError, match=message):
            build_server_context(settings_with(**changes))  # type: ignore[arg-type]


def test_ecdh_curve_list(pki: Pki, tmp_path: Path) -> None:
    context = _context(tmp_path, _server(pki, "ssl_ecdh_curve X25519:prime256v1;"))
    memory_handshake(client_context(pki), context)


@pytest.mark.skipif(not _openssl.AVAILABLE, reason="session cache modes need libssl through ctypes")
@pytest.mark.parametrize(
    ("settings", "reused"),
    [
        ("", True),  # tickets (on by default) need no server-side cache
        ("ssl_session_tickets off;", False),  # ssl_session_cache none: announced, never stored
        ("ssl_session_cache off; ssl_session_tickets off;", False),
        ("ssl_session_cache builtin:100; ssl_session_tickets off;", True),
        ("ssl_session_cache shared:SSL:1m; ssl_session_tickets off;", True),
    ],
)
def test_session_resumption(pki: Pki, tmp_path: Path, settings: str, reused: bool) -> None:
    context = _context(tmp_path, _server(pki, "ssl_protocols TLSv1.2; " + settings))
    client = client_context(pki)
    # The first server connection stays alive: OpenSSL drops the session of one freed without a shutdown.
    first, first_server = memory_handshake(client, context)
    session = first.session
    assert session is not None
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, session=session)
    s = context.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(6):
        for obj, out, peer in ((c, c_out, s_in), (s, s_out, c_in)):
            with contextlib.suppress(ssl.SSLWantReadError):
                obj.do_handshake()
            peer.write(out.read())
    assert c.session_reused is reused
    del first_server


def test_session_tickets_off_sets_op_no_ticket(pki: Pki, tmp_path: Path) -> None:
    context = _context(tmp_path, _server(pki, "ssl_session_tickets off;"))
    assert context.options & ssl.OP_NO_TICKET
    context = _context(tmp_path, _server(pki))
    assert not context.options & ssl.OP_NO_TICKET


def test_dhparam(pki: Pki, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dh

    params = dh.DHParameterNumbers(FFDHE2048_P, 2).parameters()
    pem = params.parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)
    (tmp_path / "dh.pem").write_bytes(pem)
    body = f"""
    server {{
        listen 127.0.0.1:8443 ssl;
        ssl_certificate {pki.path("rsa.crt")};
        ssl_certificate_key {pki.path("rsa.key")};
        ssl_protocols TLSv1.2;
        ssl_ciphers DHE-RSA-AES128-GCM-SHA256;
        ssl_dhparam dh.pem;
    }}
    """
    context = _context(tmp_path, body)
    client, _ = memory_handshake(client_context(ciphers="DHE-RSA-AES128-GCM-SHA256"), context)
    assert client.cipher()[0] == "DHE-RSA-AES128-GCM-SHA256"  # type: ignore[index]
    main, _ = build(tmp_path, body)
    (tmp_path / "dh.pem").write_text("junk\n")
    # The runtime's builder on its own: loading the configuration now rejects the junk first.
    with pytest.raises(ConfError, match=r'PEM_read_bio_DHparams\(".*dh.pem"\) failed'):
        build_server_context(server_tls(servers(main)[0], str(tmp_path) + "/"))


def test_alpn_offers_http11(pki: Pki, tmp_path: Path) -> None:
    context = _context(tmp_path, _server(pki))
    client = client_context(pki)
    client.set_alpn_protocols(["h2", "http/1.1"])
    c, _ = memory_handshake(client, context)
    assert c.selected_alpn_protocol() == "http/1.1"
