"""The HTTP runtime: pure matching and evaluation (parse, config, servers, locations,
variables, maps, rewrite, static, response), then the trio layer (connection, server).

``IMPLEMENTED`` names the directives the runtime acts on; the config checker consults
it so that ``nginxpy -t`` does not report them as "recognised but not acted on".
"""

IMPLEMENTED = frozenset(
    """
    daemon pid error_log events worker_connections worker_processes include http server listen server_name
    location root alias index try_files autoindex autoindex_exact_size autoindex_format autoindex_localtime
    types default_type charset error_page recursive_error_pages add_header expires etag if_modified_since
    server_tokens msie_padding absolute_redirect port_in_redirect server_name_in_redirect keepalive_timeout
    keepalive_requests client_max_body_size client_body_timeout client_header_timeout send_timeout
    client_header_buffer_size large_client_header_buffers merge_slashes ignore_invalid_headers
    underscores_in_headers chunked_transfer_encoding max_ranges log_not_found access_log log_format
    allow deny internal limit_except return rewrite set if break map
    proxy_pass proxy_http_version proxy_set_header proxy_pass_request_headers proxy_pass_request_body
    proxy_hide_header proxy_pass_header proxy_redirect proxy_intercept_errors proxy_method proxy_set_body
    proxy_buffering proxy_buffer_size proxy_connect_timeout proxy_send_timeout proxy_read_timeout
    proxy_request_buffering client_body_buffer_size client_body_temp_path resolver resolver_timeout proxy_next_upstream proxy_next_upstream_tries proxy_next_upstream_timeout proxy_ssl_verify
    proxy_ssl_trusted_certificate proxy_ssl_verify_depth proxy_ssl_server_name proxy_ssl_name
    proxy_ssl_protocols proxy_ssl_ciphers proxy_ssl_certificate proxy_ssl_certificate_key
    proxy_ssl_session_reuse proxy_ssl_password_file upstream keepalive keepalive_timeout least_conn ip_hash
    hash random ssl ssl_certificate ssl_certificate_key ssl_protocols ssl_ciphers ssl_prefer_server_ciphers
    ssl_session_cache ssl_session_timeout ssl_session_tickets ssl_dhparam ssl_ecdh_curve ssl_password_file
    ssl_client_certificate ssl_verify_client ssl_verify_depth ssl_trusted_certificate ssl_crl
    ssl_reject_handshake
    """.split()
)
