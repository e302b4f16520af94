#!/usr/bin/env python3
"""Dev tool: regenerate ``nginxpy/conf/directives.py`` from the nginx source and docs mirrors.

Not run by CI.  It reads the ``ngx_command_t`` tables of nginx 1.22.1 (names, context and
argument bits, setter) and the nginx.org docs XML (default, first sentence, link), and prints
Python data.  Summaries are hand-written paraphrases kept in ``SUMMARIES`` below.

    python tools/gen_directives.py > nginxpy/conf/directives.py
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from dataclasses import dataclass, field

NGINX_GIT = "/work/.mirror/nginx+nginx/repo"
DOCS_GIT = "/work/.mirror/nginx+nginx.org/repo"
TAG = "release-1.22.1"
# Docs as they stood when 1.22.1 was current (defaults changed later, e.g. ssl_protocols);
# directives missing there fall back to the newest docs.
DOCS_REVS = ("c9d3bc746c68c5b677c24c8da421bc070493c658", "HEAD")

# (source file, module type, dynamic, docs page) in nginx's own module order.
# "core": NGX_MAIN_CONF; "event": NGX_EVENT_CONF; http/stream/mail: their conf bits.
SOURCES: list[tuple[str, str, bool, str]] = [
    ("src/core/nginx.c", "core", False, "ngx_core_module"),
    ("src/core/ngx_log.c", "core", False, "ngx_core_module"),
    ("src/core/ngx_conf_file.c", "core", False, "ngx_core_module"),
    ("src/core/ngx_regex.c", "core", False, "ngx_core_module"),
    ("src/event/ngx_event_openssl.c", "core", False, "ngx_core_module"),
    ("src/core/ngx_thread_pool.c", "core", False, "ngx_core_module"),
    ("src/event/ngx_event.c", "event", False, "ngx_core_module"),
    ("src/event/modules/ngx_epoll_module.c", "event", False, "ngx_core_module"),
    ("src/http/ngx_http.c", "http", False, "http/ngx_http_core_module"),
    ("src/http/ngx_http_core_module.c", "http", False, "http/ngx_http_core_module"),
    ("src/http/ngx_http_upstream.c", "http", False, "http/ngx_http_upstream_module"),
    ("src/http/v2/ngx_http_v2_module.c", "http", False, "http/ngx_http_v2_module"),
    ("src/http/modules/ngx_http_gzip_static_module.c", "http", False, "http/ngx_http_gzip_static_module"),
    ("src/http/modules/ngx_http_dav_module.c", "http", False, "http/ngx_http_dav_module"),
    ("src/http/modules/ngx_http_autoindex_module.c", "http", False, "http/ngx_http_autoindex_module"),
    ("src/http/modules/ngx_http_index_module.c", "http", False, "http/ngx_http_index_module"),
    ("src/http/modules/ngx_http_random_index_module.c", "http", False, "http/ngx_http_random_index_module"),
    ("src/http/modules/ngx_http_mirror_module.c", "http", False, "http/ngx_http_mirror_module"),
    ("src/http/modules/ngx_http_try_files_module.c", "http", False, "http/ngx_http_core_module"),
    ("src/http/modules/ngx_http_auth_request_module.c", "http", False, "http/ngx_http_auth_request_module"),
    ("src/http/modules/ngx_http_auth_basic_module.c", "http", False, "http/ngx_http_auth_basic_module"),
    ("src/http/modules/ngx_http_access_module.c", "http", False, "http/ngx_http_access_module"),
    ("src/http/modules/ngx_http_limit_conn_module.c", "http", False, "http/ngx_http_limit_conn_module"),
    ("src/http/modules/ngx_http_limit_req_module.c", "http", False, "http/ngx_http_limit_req_module"),
    ("src/http/modules/ngx_http_realip_module.c", "http", False, "http/ngx_http_realip_module"),
    ("src/http/modules/ngx_http_geo_module.c", "http", False, "http/ngx_http_geo_module"),
    ("src/http/modules/ngx_http_map_module.c", "http", False, "http/ngx_http_map_module"),
    ("src/http/modules/ngx_http_split_clients_module.c", "http", False, "http/ngx_http_split_clients_module"),
    ("src/http/modules/ngx_http_referer_module.c", "http", False, "http/ngx_http_referer_module"),
    ("src/http/modules/ngx_http_rewrite_module.c", "http", False, "http/ngx_http_rewrite_module"),
    ("src/http/modules/ngx_http_ssl_module.c", "http", False, "http/ngx_http_ssl_module"),
    ("src/http/modules/ngx_http_proxy_module.c", "http", False, "http/ngx_http_proxy_module"),
    ("src/http/modules/ngx_http_fastcgi_module.c", "http", False, "http/ngx_http_fastcgi_module"),
    ("src/http/modules/ngx_http_uwsgi_module.c", "http", False, "http/ngx_http_uwsgi_module"),
    ("src/http/modules/ngx_http_scgi_module.c", "http", False, "http/ngx_http_scgi_module"),
    ("src/http/modules/ngx_http_grpc_module.c", "http", False, "http/ngx_http_grpc_module"),
    ("src/http/modules/ngx_http_memcached_module.c", "http", False, "http/ngx_http_memcached_module"),
    ("src/http/modules/ngx_http_empty_gif_module.c", "http", False, "http/ngx_http_empty_gif_module"),
    ("src/http/modules/ngx_http_browser_module.c", "http", False, "http/ngx_http_browser_module"),
    ("src/http/modules/ngx_http_secure_link_module.c", "http", False, "http/ngx_http_secure_link_module"),
    ("src/http/modules/ngx_http_flv_module.c", "http", False, "http/ngx_http_flv_module"),
    ("src/http/modules/ngx_http_mp4_module.c", "http", False, "http/ngx_http_mp4_module"),
    ("src/http/modules/ngx_http_upstream_hash_module.c", "http", False, "http/ngx_http_upstream_module"),
    ("src/http/modules/ngx_http_upstream_ip_hash_module.c", "http", False, "http/ngx_http_upstream_module"),
    (
        "src/http/modules/ngx_http_upstream_least_conn_module.c",
        "http",
        False,
        "http/ngx_http_upstream_module",
    ),
    ("src/http/modules/ngx_http_upstream_random_module.c", "http", False, "http/ngx_http_upstream_module"),
    ("src/http/modules/ngx_http_upstream_keepalive_module.c", "http", False, "http/ngx_http_upstream_module"),
    ("src/http/modules/ngx_http_upstream_zone_module.c", "http", False, "http/ngx_http_upstream_module"),
    ("src/http/modules/ngx_http_stub_status_module.c", "http", False, "http/ngx_http_stub_status_module"),
    ("src/http/modules/ngx_http_log_module.c", "http", False, "http/ngx_http_log_module"),
    ("src/http/modules/ngx_http_gzip_filter_module.c", "http", False, "http/ngx_http_gzip_module"),
    ("src/http/modules/ngx_http_ssi_filter_module.c", "http", False, "http/ngx_http_ssi_module"),
    ("src/http/modules/ngx_http_charset_filter_module.c", "http", False, "http/ngx_http_charset_module"),
    ("src/http/modules/ngx_http_sub_filter_module.c", "http", False, "http/ngx_http_sub_module"),
    ("src/http/modules/ngx_http_addition_filter_module.c", "http", False, "http/ngx_http_addition_module"),
    ("src/http/modules/ngx_http_gunzip_filter_module.c", "http", False, "http/ngx_http_gunzip_module"),
    ("src/http/modules/ngx_http_userid_filter_module.c", "http", False, "http/ngx_http_userid_module"),
    ("src/http/modules/ngx_http_headers_filter_module.c", "http", False, "http/ngx_http_headers_module"),
    ("src/http/ngx_http_copy_filter_module.c", "http", False, "http/ngx_http_core_module"),
    ("src/http/modules/ngx_http_slice_filter_module.c", "http", False, "http/ngx_http_slice_module"),
    # Debian: --with-mail=dynamic --with-mail_ssl_module
    ("src/mail/ngx_mail.c", "mail", True, "mail/ngx_mail_core_module"),
    ("src/mail/ngx_mail_core_module.c", "mail", True, "mail/ngx_mail_core_module"),
    ("src/mail/ngx_mail_ssl_module.c", "mail", True, "mail/ngx_mail_ssl_module"),
    ("src/mail/ngx_mail_pop3_module.c", "mail", True, "mail/ngx_mail_pop3_module"),
    ("src/mail/ngx_mail_imap_module.c", "mail", True, "mail/ngx_mail_imap_module"),
    ("src/mail/ngx_mail_smtp_module.c", "mail", True, "mail/ngx_mail_smtp_module"),
    ("src/mail/ngx_mail_auth_http_module.c", "mail", True, "mail/ngx_mail_auth_http_module"),
    ("src/mail/ngx_mail_proxy_module.c", "mail", True, "mail/ngx_mail_proxy_module"),
    ("src/mail/ngx_mail_realip_module.c", "mail", True, "mail/ngx_mail_realip_module"),
    # Debian: --with-stream=dynamic --with-stream_ssl_module --with-stream_ssl_preread_module
    # --with-stream_realip_module --with-stream_geoip_module=dynamic
    ("src/stream/ngx_stream.c", "stream", True, "stream/ngx_stream_core_module"),
    ("src/stream/ngx_stream_core_module.c", "stream", True, "stream/ngx_stream_core_module"),
    ("src/stream/ngx_stream_log_module.c", "stream", True, "stream/ngx_stream_log_module"),
    ("src/stream/ngx_stream_proxy_module.c", "stream", True, "stream/ngx_stream_proxy_module"),
    ("src/stream/ngx_stream_upstream.c", "stream", True, "stream/ngx_stream_upstream_module"),
    ("src/stream/ngx_stream_ssl_module.c", "stream", True, "stream/ngx_stream_ssl_module"),
    ("src/stream/ngx_stream_realip_module.c", "stream", True, "stream/ngx_stream_realip_module"),
    ("src/stream/ngx_stream_limit_conn_module.c", "stream", True, "stream/ngx_stream_limit_conn_module"),
    ("src/stream/ngx_stream_access_module.c", "stream", True, "stream/ngx_stream_access_module"),
    ("src/stream/ngx_stream_geo_module.c", "stream", True, "stream/ngx_stream_geo_module"),
    ("src/stream/ngx_stream_geoip_module.c", "stream", True, "stream/ngx_stream_geoip_module"),
    ("src/stream/ngx_stream_map_module.c", "stream", True, "stream/ngx_stream_map_module"),
    (
        "src/stream/ngx_stream_split_clients_module.c",
        "stream",
        True,
        "stream/ngx_stream_split_clients_module",
    ),
    ("src/stream/ngx_stream_return_module.c", "stream", True, "stream/ngx_stream_return_module"),
    ("src/stream/ngx_stream_set_module.c", "stream", True, "stream/ngx_stream_set_module"),
    ("src/stream/ngx_stream_upstream_hash_module.c", "stream", True, "stream/ngx_stream_upstream_module"),
    (
        "src/stream/ngx_stream_upstream_least_conn_module.c",
        "stream",
        True,
        "stream/ngx_stream_upstream_module",
    ),
    ("src/stream/ngx_stream_upstream_random_module.c", "stream", True, "stream/ngx_stream_upstream_module"),
    ("src/stream/ngx_stream_upstream_zone_module.c", "stream", True, "stream/ngx_stream_upstream_module"),
    ("src/stream/ngx_stream_ssl_preread_module.c", "stream", True, "stream/ngx_stream_ssl_preread_module"),
]

# Macros tested inside command tables; all hold for Debian's Linux build.
DEFINED = {"NGX_HTTP_CACHE", "NGX_HTTP_SSL", "NGX_HTTP_GZIP", "NGX_HAVE_OPENAT", "NGX_STREAM_SSL"}

CTX_BITS: dict[str, dict[str, str | None]] = {
    "core": {"NGX_MAIN_CONF": "MAIN", "NGX_DIRECT_CONF": None},
    "event": {"NGX_EVENT_CONF": "EVENTS", "NGX_MAIN_CONF": "MAIN"},
    "http": {
        "NGX_MAIN_CONF": "MAIN",
        "NGX_HTTP_MAIN_CONF": "HTTP",
        "NGX_HTTP_SRV_CONF": "SERVER",
        "NGX_HTTP_LOC_CONF": "LOCATION",
        "NGX_HTTP_UPS_CONF": "UPSTREAM",
        "NGX_HTTP_SIF_CONF": "SERVER_IF",
        "NGX_HTTP_LIF_CONF": "LOCATION_IF",
        "NGX_HTTP_LMT_CONF": "LIMIT_EXCEPT",
    },
    "stream": {
        "NGX_MAIN_CONF": "MAIN",
        "NGX_STREAM_MAIN_CONF": "STREAM",
        "NGX_STREAM_SRV_CONF": "STREAM_SERVER",
        "NGX_STREAM_UPS_CONF": "STREAM_UPSTREAM",
    },
    "mail": {"NGX_MAIN_CONF": "MAIN", "NGX_MAIL_MAIN_CONF": "MAIL", "NGX_MAIL_SRV_CONF": "MAIL_SERVER"},
}
ALL_CTX = (
    "MAIN EVENTS HTTP SERVER LOCATION UPSTREAM SERVER_IF LOCATION_IF LIMIT_EXCEPT "
    "STREAM STREAM_SERVER STREAM_UPSTREAM MAIL MAIL_SERVER"
).split()
ARG_BITS = {
    "NGX_CONF_NOARGS": ["NOARGS"],
    "NGX_CONF_TAKE1": ["TAKE1"],
    "NGX_CONF_TAKE2": ["TAKE2"],
    "NGX_CONF_TAKE3": ["TAKE3"],
    "NGX_CONF_TAKE4": ["TAKE4"],
    "NGX_CONF_TAKE5": ["TAKE5"],
    "NGX_CONF_TAKE6": ["TAKE6"],
    "NGX_CONF_TAKE7": ["TAKE7"],
    "NGX_CONF_TAKE12": ["TAKE12"],
    "NGX_CONF_TAKE13": ["TAKE13"],
    "NGX_CONF_TAKE23": ["TAKE23"],
    "NGX_CONF_TAKE123": ["TAKE123"],
    "NGX_CONF_TAKE1234": ["TAKE1234"],
    "NGX_CONF_BLOCK": ["BLOCK"],
    "NGX_CONF_FLAG": ["FLAG"],
    "NGX_CONF_ANY": ["ANY"],
    "NGX_CONF_1MORE": ["ONEMORE"],
    "NGX_CONF_2MORE": ["TWOMORE"],
}
SETTERS = {
    "ngx_conf_set_flag_slot": "flag",
    "ngx_conf_set_num_slot": "num",
    "ngx_conf_set_size_slot": "size",
    "ngx_conf_set_off_slot": "off",
    "ngx_conf_set_msec_slot": "msec",
    "ngx_conf_set_sec_slot": "sec",
    "ngx_conf_set_str_slot": "str",
    "ngx_conf_set_str_array_slot": "str_array",
    "ngx_conf_set_keyval_slot": "keyval",
    "ngx_conf_set_enum_slot": "enum",
    "ngx_conf_set_bitmask_slot": "bitmask",
    "ngx_conf_set_path_slot": "path",
    "ngx_conf_set_bufs_slot": "bufs",
}

# Merge.  Arrays an inner level replaces wholesale (checked against the merge functions:
# ngx_conf_merge_ptr_value on arrays, or "if (conf->x == NULL) conf->x = prev->x").
REPLACE = {
    "add_header", "add_trailer", "allow", "deny", "access_log", "error_log", "error_page",
    "index", "fastcgi_param", "uwsgi_param", "scgi_param", "limit_req", "limit_conn",
    "mirror", "sub_filter", "set_real_ip_from", "auth_request_set", "valid_referers",
    "modern_browser", "ancient_browser", "proxy_redirect", "proxy_cookie_domain",
    "proxy_cookie_path", "proxy_cookie_flags", "gzip_disable", "types",
    "proxy_cache_valid", "fastcgi_cache_valid", "uwsgi_cache_valid", "scgi_cache_valid",
    "proxy_cache_bypass", "fastcgi_cache_bypass", "uwsgi_cache_bypass", "scgi_cache_bypass",
    "proxy_no_cache", "fastcgi_no_cache", "uwsgi_no_cache", "scgi_no_cache",
    "http2_push", "auth_http_header", "pop3_capabilities", "imap_capabilities",
    "smtp_capabilities",
}  # fmt: skip
# Directives that act on the level they are written in and are never inherited.
NO_MERGE = {
    "include", "rewrite", "return", "set", "break", "if", "try_files", "stub_status",
    "proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass",
}  # fmt: skip


@dataclass
class Cmd:
    name: str
    module: str
    mtype: str
    ctx: list[str]
    args: list[str]
    kind: str
    values: list[str] = field(default_factory=list)
    dynamic: bool = False
    page: str = ""
    default: str | None = None
    summary: str = ""
    merge: str = "INHERIT"
    source: str = ""
    anchor: bool = True  # the docs have an entry for it


def git_show(repo: str, rev: str, path: str) -> str | None:
    r = subprocess.run(["git", "-C", repo, "show", f"{rev}:{path}"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def strip_cpp(text: str) -> str:
    """Drop #if blocks whose condition is false (only the simple forms nginx uses)."""
    out: list[str] = []
    stack: list[bool] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#if"):
            cond = s[3:].strip()
            if cond.startswith("def"):
                cond = cond.split(None, 1)[1]
                val = cond in DEFINED
            elif cond.startswith("ndef"):
                val = cond.split(None, 1)[1] not in DEFINED
            else:
                expr = re.sub(r"\b(NGX_\w+)\b", lambda m: str(m.group(1) in DEFINED), cond)
                expr = expr.replace("&&", " and ").replace("||", " or ").replace("!", " not ")
                expr = expr.replace("defined", "")
                try:
                    val = bool(eval(expr))  # dev tool, trusted input
                except (SyntaxError, NameError):
                    val = True  # library version tests (OpenSSL etc.): assume a modern one
            stack.append(val)
            continue
        if s.startswith("#else"):
            stack[-1] = not stack[-1]
            continue
        if s.startswith("#endif"):
            stack.pop()
            continue
        if all(stack):
            out.append(line)
    return "\n".join(out)


def parse_tables(text: str, table_type: str) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for m in re.finditer(rf"{table_type}\s+(\w+)\[\]\s*=\s*\{{(.*?)\}};", text, re.S):
        tables[m.group(1)] = re.findall(r'ngx_string\("([^"]*)"\)', m.group(2))
    return tables


def parse_source(path: str, mtype: str, dynamic: bool, page: str) -> list[Cmd]:
    raw = git_show(NGINX_GIT, TAG, path)
    assert raw is not None, path
    text = re.sub(r"/\*.*?\*/", "", strip_cpp(raw), flags=re.S)
    enums = ENUMS
    masks = MASKS
    # commands array -> module name
    owner: dict[str, str] = {}
    for m in re.finditer(r"ngx_module_t\s+(\w+)\s*=\s*\{\s*NGX_MODULE_V1,\s*[^,]+,\s*(\w+),", text):
        owner[m.group(2)] = m.group(1)
    cmds: list[Cmd] = []
    for m in re.finditer(r"ngx_command_t\s+(\w+)\[\]\s*=\s*\{(.*?)ngx_null_command", text, re.S):
        module = owner[m.group(1)]
        for e in re.finditer(r"\{\s*(ngx_string\(.*?)\s*\}", m.group(2), re.S):
            fields = split_top(e.group(1))
            assert len(fields) == 6, fields
            name = re.fullmatch(r'ngx_string\("([^"]+)"\)', fields[0]).group(1)  # type: ignore[union-attr]
            bits, handler, post = fields[1], fields[2], fields[5]
            ctx: list[str] = []
            args: list[str] = []
            for bit in re.sub(r"[()\s]", "", bits).split("|"):
                if bit in ARG_BITS:
                    args += ARG_BITS[bit]
                elif bit == "NGX_ANY_CONF":
                    ctx += ALL_CTX
                elif bit in CTX_BITS[mtype]:
                    ctx_name = CTX_BITS[mtype][bit]
                    if ctx_name:
                        ctx.append(ctx_name)
                else:
                    raise SystemExit(f"{path}: {name}: unknown bit {bit}")
            kind = SETTERS.get(handler, "custom")
            values: list[str] = []
            table = post.lstrip("&")
            if kind == "enum":
                values = enums[table]
            elif kind == "bitmask":
                values = masks[table]
            cmds.append(Cmd(name, module, mtype, ctx, args, kind, values, dynamic, page, source=path))
    return cmds


def split_top(entry: str) -> list[str]:
    fields, depth, cur = [], 0, ""
    for ch in entry:
        if ch == "," and depth == 0:
            fields.append(cur.strip())
            cur = ""
            continue
        depth += (ch == "(") - (ch == ")")
        cur += ch
    return [*fields, cur.strip()]


def text_of(xml: str) -> str:
    xml = re.sub(r"<[^>]+>", "", xml)
    return re.sub(r"\s+", " ", html.unescape(xml)).strip()


def parse_docs(page: str) -> dict[str, tuple[str | None, str]]:
    """directive name -> (default, first sentence) from the first docs revision that has it."""
    found: dict[str, tuple[str | None, str]] = {}
    for rev in reversed(DOCS_REVS):
        xml = git_show(DOCS_GIT, rev, f"xml/en/docs/{page}.xml")
        if xml is None:
            continue
        for m in re.finditer(r'<directive name="([^"]+)"[^>]*>(.*?)</directive>', xml, re.S):
            name, body = m.groups()
            defaults = re.findall(r"<default>(.*?)</default>", body, re.S)
            default = "; ".join(text_of(d) for d in defaults) if defaults else None
            para = re.search(r"<para>(.*?)</para>", body, re.S)
            first = text_of(para.group(1)) if para else ""
            found[name] = (default or None, first)
    return found


# Backend named in the summaries of the proxy-like modules ("X_" keys below).
BACKENDS = {
    "ngx_http_proxy_module": ("proxy_", "the proxied server"),
    "ngx_http_fastcgi_module": ("fastcgi_", "the FastCGI server"),
    "ngx_http_uwsgi_module": ("uwsgi_", "the uwsgi server"),
    "ngx_http_scgi_module": ("scgi_", "the SCGI server"),
    "ngx_http_grpc_module": ("grpc_", "the gRPC server"),
    "ngx_http_memcached_module": ("memcached_", "the memcached server"),
    "ngx_stream_proxy_module": ("proxy_", "the upstream server"),
}
# Docs page for directives documented outside their module's page.
DOC_PAGE = {
    ("ngx_http_core_module", "error_log"): "ngx_core_module",
    ("ngx_stream_core_module", "error_log"): "ngx_core_module",
    ("ngx_mail_core_module", "error_log"): "ngx_core_module",
    ("ngx_http_core_module", "gzip_vary"): "http/ngx_http_gzip_module",
    ("ngx_http_core_module", "gzip_http_version"): "http/ngx_http_gzip_module",
    ("ngx_http_core_module", "gzip_proxied"): "http/ngx_http_gzip_module",
    ("ngx_http_core_module", "gzip_disable"): "http/ngx_http_gzip_module",
}

# One line each, own words.  Keys: "module:name" (module without ngx_/_module), a plain
# name, or "X_rest" for the proxy-like modules with {b} standing for the backend.
SUMMARIES_TEXT = """
daemon | Whether nginx detaches and runs in the background as a daemon
master_process | Whether a master process starts worker processes (off is for development)
timer_resolution | Coarsen the worker clock to cut down on gettimeofday() calls
pid | File where the master process writes its process ID
lock_file | Prefix of the lock file used to serialize access to shared memory
worker_processes | How many worker processes to run (a number or auto)
debug_points | What nginx does at internal debug points: stop or abort (for debugging)
user | User and group the worker processes run as
worker_priority | Nice value (scheduling priority) of the worker processes
worker_cpu_affinity | Pin worker processes to sets of CPUs
worker_rlimit_nofile | RLIMIT_NOFILE (max open files) for worker processes
worker_rlimit_core | RLIMIT_CORE (max core file size) for worker processes
worker_shutdown_timeout | Time limit for a graceful shutdown of worker processes
working_directory | Current working directory of worker processes (where core files go)
env | Keep, change or create an environment variable passed to workers
load_module | Load a dynamic module from a shared object file
core:error_log | Where the error log goes and the minimum level to log
http_core:error_log | Error log file and level for this http, server or location level
stream_core:error_log | Error log file and level for the stream server
mail_core:error_log | Error log file and level for the mail server
include | Pull another file, or files matching a glob, into the configuration
pcre_jit | Use PCRE JIT for regular expressions known at configuration time
ssl_engine | Name of the hardware SSL accelerator (OpenSSL engine)
thread_pool | Name and size of a thread pool for blocking file I/O
events | Block for directives that control connection processing
worker_connections | Maximum simultaneous connections per worker process
use | Connection processing method (epoll, poll, select, ...)
multi_accept | Accept all pending connections at once instead of one at a time
accept_mutex | Let worker processes take turns accepting new connections
accept_mutex_delay | How long a worker waits before retrying to take the accept mutex
debug_connection | Turn on debug logging for the given client addresses
epoll_events | Number of events fetched by one epoll_wait() call (undocumented)
worker_aio_requests | Maximum outstanding AIO operations per worker (with epoll)
http | Block holding the HTTP server configuration
variables_hash_max_size | Maximum size of the variables hash table
variables_hash_bucket_size | Bucket size of the variables hash table
server_names_hash_max_size | Maximum size of the server names hash tables
server_names_hash_bucket_size | Bucket size of the server names hash tables
http_core:server | Block defining an HTTP virtual server
http_upstream:server | Address and parameters of one server in an upstream group
stream_core:server | Block defining a stream (TCP/UDP) virtual server
stream_upstream:server | Address and parameters of one server in a stream upstream group
mail_core:server | Block defining a mail proxy server
connection_pool_size | Memory allocated per connection (fine tuning)
request_pool_size | Memory allocated per request (fine tuning)
client_header_timeout | Time allowed for reading the client request header
client_header_buffer_size | Buffer size for reading the client request header
large_client_header_buffers | Number and size of buffers for large client request headers
ignore_invalid_headers | Ignore request header fields with invalid names
merge_slashes | Collapse runs of adjacent slashes in the URI into one
underscores_in_headers | Accept underscores in client request header field names
location | Block with settings for requests whose URI matches a prefix or regex
http_core:listen | Address and port (or UNIX socket) the server accepts requests on
stream_core:listen | Address and port (or UNIX socket) the stream server accepts connections on
mail_core:listen | Address and port (or UNIX socket) the mail server accepts connections on
http_core:server_name | Names of the virtual server (exact, wildcard or regex)
mail_core:server_name | Server name used in greetings and SASL/auth exchanges
types_hash_max_size | Maximum size of the MIME types hash tables
types_hash_bucket_size | Bucket size of the MIME types hash tables
types | Block mapping file name extensions to MIME types
default_type | MIME type for responses whose type is not found by extension
root | Document root directory for requests
alias | Replacement path for the matched location prefix
limit_except | Block restricting which HTTP methods are allowed in a location
client_max_body_size | Largest client request body accepted (0 disables the check)
client_body_buffer_size | Buffer size for reading the client request body
client_body_timeout | Time allowed between two reads of the client request body
client_body_temp_path | Directory for temporary files with client request bodies
client_body_in_file_only | Always save the client request body to a file
client_body_in_single_buffer | Keep the whole client request body in one buffer
sendfile | Use sendfile() to send files
sendfile_max_chunk | Upper bound on the data sent by one sendfile() call
subrequest_output_buffer_size | Buffer size for storing a subrequest's response body
aio | Use asynchronous file I/O (on, off, or threads with a pool)
aio_write | Also use aio when writing temporary files
read_ahead | Kernel read-ahead amount for files
directio | Use O_DIRECT for files at least this large
directio_alignment | Alignment used with directio
tcp_nopush | Use TCP_CORK (Linux) / TCP_NOPUSH (FreeBSD) with sendfile
tcp_nodelay | Set TCP_NODELAY on connections
send_timeout | Time allowed between two writes of a response to the client
send_lowat | Low-water mark for sends on client sockets (SO_SNDLOWAT / NOTE_LOWAT)
postpone_output | Hold client output until at least this many bytes are ready
limit_rate | Cap the response transmission rate per request
limit_rate_after | Amount sent at full speed before limit_rate applies
http_core:keepalive_time | Maximum lifetime of a client keep-alive connection
http_core:keepalive_timeout | Idle timeout of client keep-alive connections (and Keep-Alive header)
http_core:keepalive_requests | Maximum requests served over one client keep-alive connection
http_upstream_keepalive:keepalive_time | Maximum lifetime of a keep-alive connection to an upstream server
http_upstream_keepalive:keepalive_timeout | Idle timeout of cached keep-alive connections to upstream servers
http_upstream_keepalive:keepalive_requests | Maximum requests over one keep-alive connection to an upstream server
keepalive_disable | Turn off keep-alive for the listed misbehaving browsers
satisfy | Require all access checks to pass, or any one of them
auth_delay | Delay 401 responses to blunt timing attacks on authentication
internal | Make the location reachable only by internal requests
lingering_close | How nginx closes client connections (lingering close)
lingering_time | Longest time to keep reading and discarding client data at close
lingering_timeout | Wait for more client data during a lingering close
reset_timedout_connection | Reset (RST) timed-out connections instead of closing them normally
absolute_redirect | Emit absolute rather than relative redirects
server_name_in_redirect | Use the primary server name in absolute redirects
port_in_redirect | Include the port in absolute redirects
msie_padding | Pad error responses for MSIE so they are at least 512 bytes
msie_refresh | Send refreshes instead of redirects to MSIE clients
log_not_found | Log "file not found" errors to the error log
log_subrequest | Write subrequests to the access log
recursive_error_pages | Allow error_page redirects to chain
server_tokens | Show the nginx version on error pages and in the Server header
if_modified_since | How to compare the response time with If-Modified-Since
max_ranges | Maximum number of ranges allowed in a byte-range request
chunked_transfer_encoding | Allow chunked transfer encoding in HTTP/1.1 responses
etag | Generate ETag headers for static files
error_page | URI (or redirect) to show for the given error status codes
post_action | Issue a subrequest after the request completes (undocumented)
open_file_cache | Cache open file descriptors, sizes, mtimes and lookup errors
open_file_cache_valid | How often cached open_file_cache entries are revalidated
open_file_cache_min_uses | Accesses needed to keep a descriptor open in open_file_cache
open_file_cache_errors | Also cache file lookup errors in open_file_cache
open_file_cache_events | Use kernel events to validate open_file_cache entries
resolver | DNS servers used to resolve upstream names
resolver_timeout | Time allowed for a DNS resolution
gzip_vary | Add "Vary: Accept-Encoding" when gzip or gzip_static is in use
gzip_http_version | Minimum HTTP version of a request for its response to be compressed
gzip_proxied | Which proxied requests may get compressed responses
gzip_disable | Do not compress for clients whose User-Agent matches a regex
disable_symlinks | How symbolic links are treated when opening files
http_upstream:upstream | Block defining a named group of upstream servers
stream_upstream:upstream | Block defining a named group of stream upstream servers
http2_recv_buffer_size | Per-worker input buffer size for HTTP/2
http2_pool_size | Memory pool size per HTTP/2 connection (obsolete)
http2_max_concurrent_streams | Maximum concurrent HTTP/2 streams per connection
http2_max_concurrent_pushes | Maximum concurrent HTTP/2 push requests per connection
http2_max_requests | Obsolete since 1.19.7: use keepalive_requests
http2_max_field_size | Obsolete since 1.19.7: use large_client_header_buffers
http2_max_header_size | Obsolete since 1.19.7: use large_client_header_buffers
http2_body_preread_size | Per-request buffer for the body before it is processed (HTTP/2)
http2_streams_index_size | Size of the HTTP/2 streams index (undocumented)
http2_recv_timeout | Obsolete since 1.19.7: use client_header_timeout
http2_idle_timeout | Obsolete since 1.19.7: use keepalive_timeout
http2_chunk_size | Largest chunk the HTTP/2 response body is sliced into
http2_push_preload | Turn preload Link response headers into HTTP/2 pushes
http2_push | Push the given URI along with the response (HTTP/2 server push)
gzip_static | Serve precompressed .gz files when they exist
dav_methods | WebDAV/HTTP methods to allow (PUT, DELETE, MKCOL, COPY, MOVE)
create_full_put_path | Let PUT create any missing intermediate directories
min_delete_depth | Minimum number of path elements for DELETE to be allowed
dav_access | Permissions for files and directories created by WebDAV
autoindex | Produce directory listings
autoindex_format | Output format of directory listings (html, xml, json, jsonp)
autoindex_localtime | Show local time instead of UTC in HTML directory listings
autoindex_exact_size | Show exact file sizes in HTML listings rather than rounded ones
index | Files tried as the index of a directory request
random_index | Serve a random file from the directory for requests ending in /
mirror | URI to which a copy of the request is sent (mirror subrequest)
mirror_request_body | Whether the client request body is mirrored too
try_files | Try files in order and serve the first that exists, else the fallback
auth_request | Authorize requests with a subrequest to the given URI
auth_request_set | Set a variable from the authorization subrequest's results
auth_basic | Require HTTP Basic authentication with the given realm (or off)
auth_basic_user_file | File with user names and password hashes for Basic auth
allow | Allow access from an address, network, or unix:
deny | Deny access from an address, network, or unix:
limit_conn_zone | Shared memory zone holding per-key connection counts
limit_conn | Maximum concurrent connections per key in a zone
limit_conn_log_level | Log level for connections refused by limit_conn
limit_conn_status | Status code returned to requests refused by limit_conn
limit_conn_dry_run | Count connections against limits without rejecting any
limit_req_zone | Shared memory zone and rate for per-key request limiting
limit_req | Apply a request rate zone, with optional burst and delay
limit_req_log_level | Log level for requests rejected or delayed by limit_req
limit_req_status | Status code returned to requests rejected by limit_req
limit_req_dry_run | Count requests against limits without rejecting any
set_real_ip_from | Trusted addresses whose forwarded client address is believed
http_realip:real_ip_header | Request header (or proxy_protocol) holding the real client address
real_ip_recursive | Skip trusted addresses recursively when finding the client address
geo | Variable whose value depends on the client IP address
map | Variable whose value is looked up from another value
map_hash_max_size | Maximum size of the map variables hash tables
map_hash_bucket_size | Bucket size of the map variables hash tables
split_clients | Variable for A/B testing that splits clients by hashed percentages
valid_referers | Referer values that leave $invalid_referer empty
referer_hash_max_size | Maximum size of the valid referers hash tables
referer_hash_bucket_size | Bucket size of the valid referers hash tables
rewrite | Rewrite the URI when a regex matches, optionally redirecting
http_rewrite:return | Stop processing and return a status code, redirect or text
stream_return:return | Send the given value to the client and close the connection
break | Stop processing the current set of rewrite module directives
if | Block applied when a condition on variables holds
http_rewrite:set | Set a variable to a value
stream_set:set | Set a variable to a value
rewrite_log | Log rewrite module processing at the notice level
uninitialized_variable_warn | Warn in the log about use of uninitialized variables
http_ssl:ssl | Obsolete since 1.15.0: use the ssl parameter of listen
mail_ssl:ssl | Obsolete since 1.15.0: use the ssl parameter of listen
ssl_certificate | PEM certificate file of the server
ssl_certificate_key | PEM secret key file of the server
ssl_password_file | File with passphrases for secret keys, one per line
ssl_dhparam | File with DH parameters for DHE ciphers
ssl_ecdh_curve | Curve(s) for ECDHE ciphers
ssl_protocols | TLS protocol versions to enable
ssl_ciphers | Enabled ciphers, in OpenSSL cipher list format
ssl_buffer_size | Buffer size used for sending data over TLS
ssl_verify_client | Verify client certificates (on, off, optional, optional_no_ca)
ssl_verify_depth | Maximum depth of the client certificate chain check
ssl_client_certificate | Trusted CA file for client certificate verification (sent to clients)
ssl_trusted_certificate | Trusted CA file for verification, not sent to clients
ssl_prefer_server_ciphers | Prefer the server's cipher order over the client's
ssl_session_cache | Type and size of the TLS session cache
ssl_session_tickets | Allow session resumption with TLS session tickets
ssl_session_ticket_key | File with the key that encrypts TLS session tickets
ssl_session_timeout | How long a client may reuse TLS session parameters
ssl_crl | PEM file with revoked certificates for client verification
ssl_ocsp | Validate the client certificate chain with OCSP
ssl_ocsp_responder | OCSP responder URL for client certificate validation
ssl_ocsp_cache | Cache for client certificate OCSP statuses
ssl_stapling | Staple OCSP responses in the TLS handshake
ssl_stapling_file | Take the stapled OCSP response from a file
ssl_stapling_responder | OCSP responder URL used for stapling
ssl_stapling_verify | Verify OCSP responses before stapling them
ssl_early_data | Accept TLS 1.3 early data (0-RTT)
ssl_conf_command | Raw OpenSSL configuration command
ssl_reject_handshake | Reject TLS handshakes in this server
X_pass | Hand the request to {b} at the given address
X_redirect | Rewrite Location and Refresh headers from {b}
X_cookie_domain | Rewrite the domain attribute of Set-Cookie from {b}
X_cookie_path | Rewrite the path attribute of Set-Cookie from {b}
X_cookie_flags | Add or remove flags on Set-Cookie from {b}
X_store | Save responses from {b} as files on disk
X_store_access | Permissions for files and directories created by *_store
X_buffering | Buffer responses from {b}
X_request_buffering | Read the whole client body before sending it to {b}
X_ignore_client_abort | Keep talking to {b} when the client goes away
X_bind | Local address for outgoing connections to {b}
X_socket_keepalive | Set SO_KEEPALIVE on connections to {b}
X_connect_timeout | Time allowed to connect to {b}
X_send_timeout | Time allowed between two writes of a request to {b}
X_send_lowat | Low-water mark for sends to {b}
X_intercept_errors | Handle status >= 300 from {b} with error_page
X_set_header | Set or add a request header field sent to {b}
X_headers_hash_max_size | Maximum size of the hide/pass header hash tables
X_headers_hash_bucket_size | Bucket size of the hide/pass header hash tables
X_set_body | Replace the request body sent to {b}
X_method | HTTP method used for requests to {b}
X_pass_request_headers | Pass the original request header fields to {b}
X_pass_request_body | Pass the original request body to {b}
X_buffer_size | Buffer for the first part (header) of the response from {b}
X_read_timeout | Time allowed between two reads of the response from {b}
X_buffers | Number and size of buffers for a response from {b}
X_busy_buffers_size | Limit on buffers busy sending to the client while buffering
X_force_ranges | Allow byte ranges for responses from {b} regardless of Accept-Ranges
X_limit_rate | Cap the rate of reading the response from {b}
X_cache | Shared memory zone used for caching (or off)
X_cache_key | Key that identifies cached responses
X_cache_path | Cache directory, key zone and other cache parameters
X_cache_bypass | Conditions under which the response is not taken from cache
X_no_cache | Conditions under which the response is not stored in cache
X_cache_valid | Cache lifetime per response status code
X_cache_min_uses | Requests needed before a response is cached
X_cache_max_range_offset | Byte offset above which range requests skip the cache
X_cache_use_stale | When a stale cached response may be served
X_cache_methods | Request methods whose responses are cached
X_cache_lock | Let only one request at a time populate a cache element
X_cache_lock_timeout | How long a request waits for the cache lock
X_cache_lock_age | After how long another request may try to populate a locked element
X_cache_revalidate | Revalidate expired items with conditional requests
X_cache_convert_head | Turn HEAD into GET for caching
X_cache_background_update | Refresh expired items in the background while serving stale ones
X_temp_path | Directory for temporary files with responses from {b}
X_max_temp_file_size | Largest temporary file for a buffered response from {b}
X_temp_file_write_size | Data written to a temporary file at a time
X_next_upstream | Cases in which the request goes to the next server
X_next_upstream_tries | Maximum tries when passing a request to the next server
X_next_upstream_timeout | Time limit for passing a request to the next server
X_pass_header | Pass an otherwise hidden header field from {b} to the client
X_hide_header | Header field from {b} not to pass to the client
X_ignore_headers | Response header fields from {b} not to act on
X_http_version | HTTP version used when proxying
X_ssl_session_reuse | Reuse TLS sessions with {b}
X_ssl_protocols | TLS protocol versions for connections to {b}
X_ssl_ciphers | Ciphers for connections to {b}
X_ssl_name | Server name for SNI and certificate checks of {b}
X_ssl_server_name | Send SNI when connecting to {b}
X_ssl_verify | Verify the certificate of {b}
X_ssl_verify_depth | Maximum depth of the certificate chain check of {b}
X_ssl_trusted_certificate | Trusted CA file for verifying {b}
X_ssl_crl | PEM file with revoked certificates for verifying {b}
X_ssl_certificate | Client certificate presented to {b}
X_ssl_certificate_key | Secret key of the client certificate for {b}
X_ssl_password_file | File with passphrases for secret keys, one per line
X_ssl_conf_command | Raw OpenSSL configuration command for connections to {b}
X_index | File name appended to URIs ending in / in $fastcgi_script_name
X_split_path_info | Regex that splits the URI into script name and $fastcgi_path_info
X_param | Parameter passed to {b}
X_catch_stderr | Treat a response as failed if its stderr contains this string
X_keep_conn | Ask the FastCGI server to keep the connection open
X_modifier1 | Value of the modifier1 field in the uwsgi packet header
X_modifier2 | Value of the modifier2 field in the uwsgi packet header
X_string | Extra string appended to the uwsgi request (undocumented)
X_gzip_flag | Memcached flag that marks a value as gzipped
empty_gif | Serve a 1x1 transparent GIF from this location
modern_browser | Minimum version of a browser to count as modern
ancient_browser | User-Agent substrings that mark a browser as ancient
modern_browser_value | Value of $modern_browser
ancient_browser_value | Value of $ancient_browser
secure_link | Where the checksum and expiry of a secured link are taken from
secure_link_md5 | Expression whose MD5 must match the link checksum
secure_link_secret | Secret word for checking links (old, simple mode)
flv | Serve FLV files with pseudo-streaming (start= argument)
mp4 | Serve MP4 files with pseudo-streaming (start=/end= arguments)
mp4_buffer_size | Initial buffer size for processing MP4 files
mp4_max_buffer_size | Largest buffer allowed for MP4 metadata
mp4_start_key_frame | Always start video output at a key frame
hash | Balance by a hash of the given key (optionally consistent)
ip_hash | Balance by client IP address
least_conn | Send to the server with the fewest active connections
random | Pick a random server (optionally the better of two)
keepalive | Number of idle keep-alive connections to upstream servers per worker
zone | Shared memory zone for the group's configuration and state
stub_status | Serve basic status counters from this location
log_format | Named format for access log lines
access_log | Access log path, format and buffering (or off)
open_log_file_cache | Cache descriptors of log files whose names contain variables
gzip | Compress responses with gzip
gzip_buffers | Number and size of buffers used to compress a response
gzip_types | MIME types to compress besides text/html
gzip_comp_level | gzip compression level (1-9)
gzip_window | zlib window size for gzip (undocumented)
gzip_hash | zlib memory level for gzip (undocumented)
postpone_gzipping | Collect this much data before compressing (undocumented)
gzip_no_buffer | Compress without buffering (undocumented)
gzip_min_length | Smallest response (by Content-Length) that gets compressed
ssi | Process SSI commands in responses
ssi_silent_errors | Hide the error text when an SSI command fails
ssi_ignore_recycled_buffers | Do not reuse recycled buffers in SSI (undocumented)
ssi_min_file_chunk | Smallest on-disk part of a response sent with sendfile
ssi_value_length | Maximum length of SSI command parameter values
ssi_types | MIME types to process for SSI besides text/html
ssi_last_modified | Keep Last-Modified of the original response during SSI
charset | Charset added to the Content-Type header (and converted to)
source_charset | Charset of the original response
override_charset | Convert responses from backends that already declare a charset
charset_types | MIME types the charset module acts on
charset_map | Block with a conversion table between two charsets
sub_filter | String to replace and its replacement in responses
sub_filter_types | MIME types to do replacements in besides text/html
sub_filter_once | Replace only the first match rather than all of them
sub_filter_last_modified | Keep Last-Modified of the original response during sub_filter
add_before_body | Subrequest whose output is inserted before the response body
add_after_body | Subrequest whose output is appended after the response body
addition_types | MIME types to add text to besides text/html
gunzip | Decompress gzipped responses for clients without gzip support
gunzip_buffers | Number and size of buffers used to decompress a response
userid | Set and/or log client identification cookies
userid_service | Service number embedded in issued client identifiers
userid_name | Name of the identification cookie
userid_domain | Domain attribute of the identification cookie
userid_path | Path attribute of the identification cookie
userid_expires | Lifetime of the identification cookie
userid_flags | Extra flags for the identification cookie (secure, httponly, ...)
userid_p3p | P3P header sent with the identification cookie
userid_mark | Character used to mark cookies (for reissuing them)
expires | Set Expires and Cache-Control max-age on responses
add_header | Add a response header field
add_trailer | Add a trailer field at the end of the response
output_buffers | Number and size of buffers for reading a response from disk
slice | Size of the slices a request is split into for caching
mail | Block holding the mail proxy configuration
protocol | Protocol of the mail server (pop3, imap or smtp)
timeout | Time allowed before proxying to the backend starts
max_errors | Protocol errors after which the connection is closed
starttls | Allow or require STARTTLS / STLS
pop3_capabilities | POP3 extensions announced in reply to CAPA
pop3_auth | Allowed POP3 authentication methods
imap_client_buffer | Buffer size for reading IMAP commands
imap_capabilities | IMAP extensions announced in reply to CAPABILITY
imap_auth | Allowed IMAP authentication methods
smtp_client_buffer | Buffer size for reading SMTP commands
smtp_greeting_delay | Delay before the SMTP greeting to catch impatient clients
smtp_capabilities | SMTP extensions announced in reply to EHLO
smtp_auth | Allowed SMTP SASL authentication methods
auth_http | URL of the HTTP authentication server
auth_http_timeout | Time allowed for talking to the authentication server
auth_http_header | Extra header sent to the authentication server
auth_http_pass_client_cert | Send the client certificate to the authentication server
mail_proxy:proxy | Turn on proxying (undocumented)
mail_proxy:proxy_buffer | Buffer size used for proxying mail
mail_proxy:proxy_timeout | Timeout between two reads or writes on client or backend
stream_proxy:proxy_timeout | Timeout between two reads or writes on client or upstream
proxy_pass_error_message | Pass the backend's authentication error message to the client
xclient | Send XCLIENT with client parameters to the SMTP backend
proxy_smtp_auth | Authenticate on the SMTP backend with AUTH
mail_proxy:proxy_protocol | Send the PROXY protocol header to the backend
stream_proxy:proxy_protocol | Send the PROXY protocol header to the upstream
stream | Block holding the stream (TCP/UDP) configuration
proxy_protocol_timeout | Time allowed for reading the PROXY protocol header
preread_buffer_size | Size of the preread buffer
preread_timeout | Time allowed for the preread phase
stream_proxy:proxy_pass | Address or upstream group to proxy the connection to
stream_proxy:proxy_buffer_size | Buffer size for data from the client and from the upstream
proxy_downstream_buffer | Obsolete alias of proxy_buffer_size
proxy_upstream_buffer | Obsolete alias of proxy_buffer_size
proxy_upload_rate | Cap the rate of reading data from the client
proxy_download_rate | Cap the rate of reading data from the upstream
proxy_requests | Client datagrams after which a UDP session binding is dropped
proxy_responses | Datagrams expected from the upstream per client datagram (UDP)
stream_proxy:proxy_next_upstream | Try the next server when a connection cannot be established
stream_proxy:proxy_next_upstream_tries | Maximum tries when passing a connection to the next server
stream_proxy:proxy_next_upstream_timeout | Time limit for passing a connection to the next server
proxy_half_close | Close each direction of a TCP connection independently
proxy_ssl | Use TLS for connections to the upstream
ssl_handshake_timeout | Time allowed for the TLS handshake
ssl_alpn | ALPN protocols offered
geoip_country | GeoIP country database for client IP lookups
geoip_org | GeoIP organization database for client IP lookups
geoip_city | GeoIP city database for client IP lookups
ssl_preread | Read SNI and ALPN from the ClientHello in the preread phase
stream_realip:set_real_ip_from | Trusted addresses whose PROXY protocol client address is believed
mail_realip:set_real_ip_from | Trusted addresses whose PROXY protocol client address is believed
max_headers | Maximum number of header lines in a client request (Debian backport)
"""
SUMMARIES = dict(line.split(" | ", 1) for line in SUMMARIES_TEXT.strip().splitlines() if line.strip())


def summary_for(c: Cmd) -> str:
    short = c.module.removeprefix("ngx_").removesuffix("_module")
    keys = [f"{short}:{c.name}"]
    if c.module in ("ngx_core_module", "ngx_errlog_module"):
        keys.insert(0, f"core:{c.name}")
    backend = BACKENDS.get(c.module)
    if backend and c.name.startswith(backend[0]):
        keys.append("X_" + c.name[len(backend[0]) :])
    keys.append(c.name)
    for key in keys:
        if key in SUMMARIES:
            return SUMMARIES[key].format(b=backend[1] if backend else "")
    raise SystemExit(f"no summary for {c.module} {c.name}")


def decide_merge(c: Cmd) -> str:
    ctx = set(c.ctx)
    is_array = c.name in REPLACE or c.kind in ("str_array", "keyval")
    if is_array and (len(levels(ctx)) > 1 or c.name == "types"):
        return "REPLACE_ARRAY"
    if "BLOCK" in c.args or c.name in NO_MERGE:
        return "NONE"
    if len(levels(ctx)) < 2:
        return "NONE"
    if c.kind == "custom" and c.name in ("empty_gif", "flv", "mp4"):
        return "NONE"
    return "INHERIT"


def levels(ctx: set[str]) -> set[str]:
    fam = {
        "HTTP": "h",
        "SERVER": "s",
        "SERVER_IF": "s",
        "LOCATION": "l",
        "LOCATION_IF": "l",
        "LIMIT_EXCEPT": "l",
        "STREAM": "sm",
        "STREAM_SERVER": "ss",
        "MAIL": "mm",
        "MAIL_SERVER": "ms",
    }
    return {fam[c] for c in ctx if c in fam}


# Debian patches add directives the 1.22.1 source lacks (found by asking the binary about
# every word in it).  1.22.1-9+deb12u*: "backport max_headers directive from upstream
# nginx ... move max_headers ... to the ngx_http_header_count_module".  Contexts, argument
# shape and setter ("invalid number" = ngx_conf_set_num_slot) were checked with nginx -t.
DEBIAN_EXTRA = [
    Cmd(
        name="max_headers",
        module="ngx_http_header_count_module",
        mtype="http",
        ctx=["HTTP", "SERVER"],
        args=["TAKE1"],
        kind="num",
        page="http/ngx_http_core_module",
        source="Debian patch, not in the 1.22.1 source",
    )
]

ENUMS: dict[str, list[str]] = {}
MASKS: dict[str, list[str]] = {}


def main() -> None:
    for path, *_ in SOURCES:
        text = re.sub(r"/\*.*?\*/", "", strip_cpp(git_show(NGINX_GIT, TAG, path) or ""), flags=re.S)
        ENUMS.update(parse_tables(text, "ngx_conf_enum_t"))
        MASKS.update(parse_tables(text, "ngx_conf_bitmask_t"))
    cmds: list[Cmd] = []
    cmds_before_mail = 0
    docs_cache: dict[str, dict[str, tuple[str | None, str]]] = {}
    missing: list[str] = []
    for path, mtype, dynamic, page in SOURCES:
        parsed = parse_source(path, mtype, dynamic, page)
        if path == "src/mail/ngx_mail.c":
            cmds_before_mail = len(cmds)
        for c in parsed:
            c.page = DOC_PAGE.get((c.module, c.name), page)
            docs = docs_cache.setdefault(c.page, parse_docs(c.page))
            d = docs.get(c.name)
            if d is None:
                missing.append(f"{c.module}\t{c.name}")
                c.default, c.anchor = None, False
            else:
                c.default = d[0]
            c.summary = summary_for(c)
            c.merge = decide_merge(c)
            cmds.append(c)
    for c in DEBIAN_EXTRA:
        c.default = parse_docs(c.page)[c.name][0]
        c.summary = summary_for(c)
        c.merge = decide_merge(c)
    cmds[cmds_before_mail:cmds_before_mail] = DEBIAN_EXTRA
    if missing:
        print("# no docs for:\n#   " + "\n#   ".join(missing), file=sys.stderr)
    if len(sys.argv) > 1 and sys.argv[1] == "--summaries":
        for c in cmds:
            print(f"{c.module}\t{c.name}\t{c.summary}")
        return
    emit(cmds)


HEADER = '''"""The directive table: one :class:`Spec` per (directive, module) of Debian's nginx 1.22.1.

Generated by ``tools/gen_directives.py`` from the ``ngx_command_t`` tables of the nginx
1.22.1 source (names, contexts, argument shapes, setters, enum/bitmask words) and the
nginx.org docs (defaults as documented, links); summaries are short paraphrases.
Hand edits are fine; keep the generator's output in mind when regenerating.

Statically built into Debian's ``/usr/sbin/nginx`` (see ``nginx -V``): core, events,
epoll, openssl, regex, thread_pool, and the http modules.  The stream and mail modules
are built as dynamic modules by Debian and are marked dynamic.

One line per spec, tab-separated, in the columns of
:data:`nginxpy.conf.registry.TABLE_COLUMNS` (see :func:`~nginxpy.conf.registry.specs_from_table`):
name, module, contexts, args, kind, merge, default, values, dynamic, doc, summary.
"""

from __future__ import annotations

from nginxpy.conf.registry import Spec, specs_from_table

SPECS: list[Spec] = specs_from_table(
    """
'''


def _field(text: str) -> str:
    assert text and "\t" not in text and "\n" not in text and "\\" not in text and '"""' not in text, text
    return text


def emit(cmds: list[Cmd]) -> None:
    out = [HEADER]
    last = None
    for c in cmds:
        if c.module != last:
            dyn = ", dynamic" if c.dynamic else ""
            out.append(f"# {c.module} ({c.source}{dyn})\n")
            last = c.module
        assert c.default != "-" and "-" not in c.values
        anchor = f"#{c.name}" if c.anchor else ""
        columns = [
            c.name,
            c.module,
            " ".join(dict.fromkeys(c.ctx)),
            " ".join(c.args),
            c.kind,
            c.merge,
            "-" if c.default is None else c.default,
            " ".join(c.values) if c.values else "-",
            "dynamic" if c.dynamic else "-",
            f"{c.page}.html{anchor}",
            c.summary,
        ]
        out.append("\t".join(_field(column) for column in columns) + "\n")
    out.append('"""\n)\n')
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
