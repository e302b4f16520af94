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
    """.split()
)
