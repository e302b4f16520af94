"""Certificates (trustme) and small helpers shared by the TLS tests (the fixture is re-exported by conftest)."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import textwrap
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from nginxpy.conf.check import load
from nginxpy.conf.model import MainScope, ServerScope
from nginxpy.tls.server import TlsConfig, build_tls
from nginxpy.tls.sni import TlsAddress, TlsConnection


@dataclass
class Pki:
    """Files in one directory: a CA, server certificates (RSA and ECDSA), client certificates."""

    dir: Path
    ca: trustme.CA
    other_ca: trustme.CA

    def path(self, name: str) -> str:
        return str(self.dir / name)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA(organization_name="nginxpy test CA")
    other = trustme.CA(organization_name="someone else")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    other.cert_pem.write_to_path(str(directory / "other-ca.pem"))
    issued = {
        "a": ca.issue_cert("a.test", "*.a.test", key_type=trustme.KeyType.ECDSA),
        "b": ca.issue_cert("b.test", key_type=trustme.KeyType.ECDSA),
        "c": ca.issue_cert("c.test", "localhost", "127.0.0.1", key_type=trustme.KeyType.ECDSA),
        "rsa": ca.issue_cert("both.test", key_type=trustme.KeyType.RSA),
        "ecdsa": ca.issue_cert("both.test", key_type=trustme.KeyType.ECDSA),
        "client": ca.issue_cert(
            "client.test",
            common_name="client one",
            organization_name="Example, Inc.",
            key_type=trustme.KeyType.ECDSA,
        ),
        "stranger": other.issue_cert("client.test", common_name="stranger", key_type=trustme.KeyType.ECDSA),
    }
    for name, cert in issued.items():
        cert.cert_chain_pems[0].write_to_path(str(directory / f"{name}.crt"))
        cert.private_key_pem.write_to_path(str(directory / f"{name}.key"))
        cert.private_key_and_cert_chain_pem.write_to_path(str(directory / f"{name}.pem"))
    return Pki(directory, ca, other)


def write_conf(directory: Path, http_body: str) -> Path:
    conf = directory / "nginx.conf"
    body = textwrap.indent(textwrap.dedent(http_body), "    ")
    conf.write_text(f"events {{}}\nhttp {{\n{body}\n}}\n")
    return conf


def load_main(conf: Path) -> MainScope:
    result = load(str(conf))
    assert result.error is None, str(result.error)
    return result.main


def build(directory: Path, http_body: str, probe: bool = True) -> tuple[MainScope, TlsConfig]:
    main = load_main(write_conf(directory, http_body))
    return main, build_tls(main, str(directory) + "/", probe=probe)


def servers(main: MainScope) -> list[ServerScope]:
    assert main.http is not None
    return main.http.servers


def client_context(
    pki: Pki | None = None,
    version: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
    cert: str | None = None,
) -> ssl.SSLContext:
    """A client that trusts the test CA (or nothing), optionally pinned to one protocol version."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if pki is None:
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(pki.path("ca.pem"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if version is not None:
            context.minimum_version = version
            context.maximum_version = version
        else:
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    if ciphers is not None:
        context.set_ciphers(ciphers)
    elif version is not None and version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("ALL:@SECLEVEL=0")
    if cert is not None and pki is not None:
        context.load_cert_chain(pki.path(f"{cert}.pem"))
    return context


class HandshakeFailed(Exception):
    pass


def memory_handshake(
    client: ssl.SSLContext, server: ssl.SSLContext, server_name: str | None = None
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """A full handshake over memory BIOs; returns (client, server) SSL objects."""
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
                except ssl.SSLError as exc:
                    raise HandshakeFailed(str(exc)) from exc
            data = out.read()
            if data:
                peer_in.write(data)
        if all(done):
            # TLS 1.3: let the client read the server's tickets (and the server a late alert).
            for obj in (c, s):
                try:
                    obj.read(1)
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    pass
                except ssl.SSLError as exc:
                    raise HandshakeFailed(str(exc)) from exc
                data = (c_out if obj is c else s_out).read()
                if data:
                    (s_in if obj is c else c_in).write(data)
            return c, s
    raise HandshakeFailed("handshake did not finish")


def connect(
    address: TlsAddress, client: ssl.SSLContext, server_name: str | None = None
) -> tuple[ssl.SSLObject, TlsConnection]:
    """A handshake with a listening address's context, as accept_tls makes it (in memory)."""
    c, s = memory_handshake(client, address.context, server_name)
    return c, TlsConnection(address, s, address.state(s))


def served_name(sslobj: ssl.SSLObject) -> str:
    """The first DNS name of the certificate the server presented."""
    der = sslobj.getpeercert(binary_form=True)
    assert der is not None
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return str(names.get_values_for_type(x509.DNSName)[0])


# -- servers on loopback: real nginx (the oracle) and nginxpy, same configuration ----------

NGINX = "/usr/sbin/nginx"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    """One server process in its own prefix, stopped by PID."""

    name: str
    prefix: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text() if path.exists() else ""


def start_server(name: str, prefix: Path, conf: str, ports: list[int]) -> Running:
    """Start nginx ("nginx") or nginxpy ("nginxpy") on conf; wait (with a deadline) for every port."""
    import socket
    import sys

    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    program = [NGINX] if name == "nginx" else [sys.executable, "-m", "nginxpy"]
    command = [
        *program,
        "-p",
        f"{prefix}/",
        "-c",
        str(prefix / "nginx.conf"),
        "-e",
        str(prefix / "error.log"),
        "-g",
        f"daemon off; master_process off; pid {prefix}/nginx.pid;",
    ]
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=root)
    running = Running(name, prefix, proc)
    deadline = time.monotonic() + 15
    for port in ports:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: {running.error_log()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    running.stop()
                    raise TimeoutError(f"{name}: port {port} not ready") from None
                time.sleep(0.02)
    return running


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    protocol: str | None = None  # the negotiated TLS version
    cert_name: str | None = None  # the first DNS name of the server's certificate


def request(
    port: int,
    path: str = "/",
    host: str = "localhost",
    tls: ssl.SSLContext | None = None,
    sni: str | None = None,
) -> Reply:
    """One HTTP/1.0 request on loopback, plain or over TLS; reads to EOF."""
    import socket

    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock: socket.socket = raw
    protocol = cert_name = None
    try:
        if tls is not None:
            sock = tls.wrap_socket(raw, server_hostname=sni)
            protocol = sock.version()  # type: ignore[attr-defined]
            der = sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
            if der:
                from cryptography import x509

                cert = x509.load_der_x509_certificate(der)
                ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                cert_name = str(ext.get_values_for_type(x509.DNSName)[0])
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
        raw.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    headers.pop("date", None)  # the only header allowed to differ between two servers
    return Reply(int(lines[0].split()[1]), headers, body, protocol, cert_name)
