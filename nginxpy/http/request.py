"""The request: what nginx keeps in ``ngx_http_request_t``, as plain data (no sockets)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nginxpy.http.config import HttpConf, LocConf, ServerConf

MAX_URI_CHANGES = 10


@dataclass(slots=True)
class ConnInfo:
    """One client connection (``ngx_connection_t`` + ``ngx_http_connection_t``)."""

    number: int  # $connection
    local_addr: str  # "127.0.0.1", "::1", "unix:/path"
    local_port: int
    remote_addr: str
    remote_port: int
    family: str = "inet"  # inet, inet6, unix
    ssl: bool = False
    tls: Any = None  # nginxpy.tls.TlsConnection after a handshake
    tls_runtime: Any = None  # nginxpy.tls.glue.TlsRuntime on a TLS address (plain HTTP there: 497)
    requests: int = 0  # $connection_requests
    start: float = field(default_factory=time.time)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl else "http"


@dataclass(slots=True, eq=False)
class Request:
    conn: ConnInfo
    http: HttpConf
    method: str = ""  # "" until the request line is parsed
    request_line: str = ""
    request_uri: str = ""  # $request_uri: the raw target (path and args)
    protocol: str | None = None  # "HTTP/1.1"; None for HTTP/0.9 or before the version ("" after a bad one)
    version: int = 1001
    uri: str = ""
    args: str = ""
    exten: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    headers_in: dict[str, str] = field(default_factory=dict)  # lower-case name -> first value
    host: str = ""  # validated Host (or the request line's host), lower-case, no port
    has_host_header: bool = False
    server: ServerConf | None = None
    loc: LocConf | None = None
    captures: re.Match[str] | None = None
    vars: dict[str, str] = field(default_factory=dict)  # set / named captures / map results
    start: float = field(default_factory=time.time)
    internal: bool = False
    uri_changes: int = MAX_URI_CHANGES + 1
    error_page: bool = False
    # response
    status: int = 0
    err_status: int = 0
    headers_out: list[list[str]] = field(default_factory=list)  # [name, value]; "" value = removed
    content_type: str = ""
    charset: str = ""
    content_length: int = -1
    last_modified: int = -1
    location: str | None = None  # the Location header (made absolute when sent)
    keepalive: bool = True
    header_only: bool = False
    header_sent: bool = False
    chunked: bool = False
    bytes_sent: int = 0
    body_bytes_sent: int = 0
    header_size: int = 0
    request_length: int = 0
    content_length_in: int = -1
    chunked_in: bool = False
    expect_tested: bool = False
    completed: bool = False
    pipelined: bool = False
    log_errors: list[str] = field(default_factory=list)
    # Free slot for content handlers (proxy, ...).
    ctx: dict[str, Any] = field(default_factory=dict)

    @property
    def is_head(self) -> bool:
        return self.method == "HEAD"

    def header(self, name: str) -> str | None:
        return self.headers_in.get(name)

    def header_values(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    def capture(self, number: int) -> str:
        match = self.captures
        if match is None:
            return ""
        try:
            return match.group(number) or ""
        except IndexError:
            return ""

    def set_captures(self, match: re.Match[str]) -> None:
        self.captures = match
        for name, value in match.groupdict().items():
            self.vars[name.lower()] = value or ""

    def add_header(self, name: str, value: str) -> None:
        self.headers_out.append([name, value])

    def clear_headers(self) -> None:
        """ngx_http_clean_header: forget everything about the response so far."""
        self.status = 0
        self.headers_out = []
        self.content_type = ""
        self.charset = ""
        self.content_length = -1
        self.last_modified = -1
        self.location = None
