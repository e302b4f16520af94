"""Everything that depends on which nginx nginxpy imitates, in one place.

The reference is nginx 1.22.1 as Debian 12 ships it.  Later nginx versions changed
some behaviour (for example 1.29.7 made HTTP/1.1 the default upstream protocol);
such differences are listed here so that one switch could follow them.
"""

from __future__ import annotations

NGINX_VERSION = "1.22.1"
NGINXPY_VERSION = "0.1.0"

# `nginx -v` says "nginx version: nginx/1.22.1"; tools match "nginx/X.Y.Z".
VERSION_LINE = f"nginx version: nginx/{NGINX_VERSION} (nginxpy/{NGINXPY_VERSION})"

# Upstream protocol when proxy_http_version is not set: "1.0" until nginx 1.29.7, "1.1" after.
DEFAULT_PROXY_HTTP_VERSION = "1.0"

# Debian's build: --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --error-log-path=stderr.
# One extension: a relative -c that does not exist under the default prefix (where nginx would fail to
# open it) is taken relative to the current directory, so `nginxpy -t -c examples/nginx.conf` works
# from a checkout; with -p, or when the file is there, paths resolve exactly as nginx's.
DEFAULT_PREFIX = "/usr/share/nginx/"
DEFAULT_CONF_PATH = "/etc/nginx/nginx.conf"
DEFAULT_PID_PATH = "/run/nginx.pid"
DEFAULT_ERROR_LOG = "stderr"
DEFAULT_ACCESS_LOG = "/var/log/nginx/access.log"

# `ssl_protocols` (and `proxy_ssl_protocols`) default in nginx 1.22: no TLSv1.3 (1.23.4 added
# TLSv1.3 and dropped TLSv1 and TLSv1.1).  Checked against Debian's nginx 1.22.1 in tests/tls.
DEFAULT_SSL_PROTOCOLS = ("TLSv1", "TLSv1.1", "TLSv1.2")
DEFAULT_SSL_CIPHERS = "HIGH:!aNULL:!MD5"
DEFAULT_PROXY_SSL_PROTOCOLS = ("TLSv1", "TLSv1.1", "TLSv1.2")
DEFAULT_PROXY_SSL_CIPHERS = "DEFAULT"

# Modules nginxpy implements, named as `nginx -V` names their configure switches.
IMPLEMENTED_MODULES = ("http_ssl_module",)
# Default nginx modules nginxpy does not implement yet (they appear as --without-...).
NOT_IMPLEMENTED_DEFAULT_MODULES = (
    "http_charset_module",
    "http_gzip_module",
    "http_ssi_module",
    "http_userid_module",
    "http_auth_basic_module",
    "http_mirror_module",
    "http_geo_module",
    "http_split_clients_module",
    "http_referer_module",
    "http_fastcgi_module",
    "http_uwsgi_module",
    "http_scgi_module",
    "http_grpc_module",
    "http_memcached_module",
    "http_limit_conn_module",
    "http_limit_req_module",
    "http_empty_gif_module",
    "http_browser_module",
    "http_upstream_hash_module",
    "http_upstream_ip_hash_module",
    "http_upstream_least_conn_module",
    "http_upstream_random_module",
    "http_upstream_keepalive_module",
    "http_upstream_zone_module",
)


def configure_arguments(prefix: str) -> str:
    parts = [
        f"--prefix={prefix}",
        f"--conf-path={DEFAULT_CONF_PATH}",
        f"--error-log-path={DEFAULT_ERROR_LOG}",
    ]
    parts += [f"--with-{module}" for module in IMPLEMENTED_MODULES]
    parts += [f"--without-{module}" for module in NOT_IMPLEMENTED_DEFAULT_MODULES]
    return " ".join(parts)
