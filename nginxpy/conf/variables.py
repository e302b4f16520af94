"""Names of the variables nginx 1.22 (Debian's build) defines, for the load-time check.

An unknown ``$name`` is an error at start-up (``unknown "name" variable``); names
with one of the prefixes below are always known.  The runtime's getters live in
:mod:`nginxpy.http.variables`.
"""

from __future__ import annotations

CORE = frozenset(
    """
    http_host http_user_agent http_referer http_via http_x_forwarded_for http_cookie content_length
    content_type host binary_remote_addr remote_addr remote_port proxy_protocol_addr proxy_protocol_port
    proxy_protocol_server_addr proxy_protocol_server_port server_addr server_port server_protocol scheme
    https request_uri uri document_uri request document_root realpath_root query_string args is_args
    request_filename server_name request_method remote_user bytes_sent body_bytes_sent pipe
    request_completion request_body request_body_file request_length request_time request_id status
    sent_http_content_type sent_http_content_length sent_http_location sent_http_last_modified
    sent_http_connection sent_http_keep_alive sent_http_transfer_encoding sent_http_cache_control
    sent_http_link limit_rate connection connection_requests connection_time nginx_version hostname pid
    msec time_iso8601 time_local tcpinfo_rtt tcpinfo_rttvar tcpinfo_snd_cwnd tcpinfo_rcv_space
    """.split()
)

MODULES = frozenset(
    """
    msie modern_browser ancient_browser fastcgi_script_name fastcgi_path_info grpc_internal_trailers
    limit_conn_status limit_req_status proxy_host proxy_port proxy_add_x_forwarded_for proxy_add_via
    proxy_internal_body_length proxy_internal_chunked realip_remote_addr realip_remote_port date_local
    date_gmt ssl_protocol ssl_cipher ssl_ciphers ssl_curve ssl_curves ssl_session_id ssl_session_reused
    ssl_early_data ssl_server_name ssl_alpn_protocol ssl_client_cert ssl_client_raw_cert
    ssl_client_escaped_cert ssl_client_s_dn ssl_client_i_dn ssl_client_s_dn_legacy ssl_client_i_dn_legacy
    ssl_client_serial ssl_client_fingerprint ssl_client_verify ssl_client_v_start ssl_client_v_end
    ssl_client_v_remain connections_active connections_reading connections_writing connections_waiting
    upstream_addr upstream_status upstream_connect_time upstream_header_time upstream_response_time
    upstream_response_length upstream_bytes_received upstream_bytes_sent upstream_cache_status
    upstream_cache_last_modified upstream_cache_etag http2 uid_got uid_set uid_reset secure_link
    secure_link_expires gzip_ratio invalid_referer slice_range
    """.split()
)

PREFIXES = (
    "http_",
    "sent_http_",
    "sent_trailer_",
    "cookie_",
    "arg_",
    "upstream_http_",
    "upstream_trailer_",
    "upstream_cookie_",
)

BUILTIN = CORE | MODULES


def is_builtin(name: str) -> bool:
    return name in BUILTIN or name.isdigit() or name.startswith(PREFIXES)
