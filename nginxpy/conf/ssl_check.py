"""What nginx's SSL context setup rejects at configuration time, in its words.

ngx_http_ssl_merge_srv_conf (and ngx_http_proxy_merge_loc_conf's upstream context) hand
the settings to OpenSSL one by one; the first call that fails ends the check with the
function's name and OpenSSL's error queue.  Python's ``ssl`` runs the same OpenSSL calls
but words their errors its own way, so each check below rebuilds nginx's line.
``ssl`` is imported only when a configuration uses TLS.
"""

from __future__ import annotations

import os

from nginxpy.conf.model import ConfError

NO_CIPHER_MATCH = "(SSL: error:0A0000B9:SSL routines::no cipher match)"
NO_CERTIFICATE = "(SSL: error:05800088:x509 certificate routines::no certificate or crl found)"
NO_DH_PARAMETERS = "(SSL: error:0480006C:PEM routines::no start line:Expecting: DH PARAMETERS)"


def fopen_error(full: str, error: OSError, then: str = "", mode: str = "r") -> str:
    """OpenSSL's queue after BIO_new_file failed to open FULL: system library, BIO, and THEN."""
    errno = error.errno or 0
    reason = {2: "no such file", 13: "Permission denied", 21: "Is a directory"}.get(errno, "system lib")
    return (
        f"(SSL: error:8000{errno:04X}:system library::{os.strerror(errno)}:calling fopen({full}, {mode}) "
        f"error:10000080:BIO routines::{reason}{then})"
    )


def check_ciphers(ciphers: str) -> None:
    """ngx_ssl_ciphers: SSL_CTX_set_cipher_list wants at least one TLS 1.2-or-older cipher."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.set_ciphers(ciphers)
    except ssl.SSLError:
        raise ConfError(f'SSL_CTX_set_cipher_list("{ciphers}") failed {NO_CIPHER_MATCH}') from None


def check_verify_locations(full: str, function: str = "SSL_CTX_load_verify_locations") -> None:
    """ngx_ssl_client_certificate, ngx_ssl_trusted_certificate, ngx_ssl_crl: a PEM file to load."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_verify_locations(cafile=full)
    except ssl.SSLError as error:
        reason = NO_CERTIFICATE if error.reason == "NO_CERTIFICATE_OR_CRL_FOUND" else f"(SSL: {error.reason})"
        raise ConfError(f'{function}("{full}") failed {reason}') from None
    except OSError as error:
        then = " error:05880002:x509 certificate routines::system lib"
        raise ConfError(f'{function}("{full}") failed {fopen_error(full, error, then)}') from None


def check_dhparam(full: str) -> None:
    """ngx_ssl_dhparam: BIO_new_file, then PEM_read_bio_DHparams."""
    import ssl

    try:
        with open(full, "rb"):
            pass
    except IsADirectoryError:
        pass  # fopen opens a directory; reading it finds no PEM
    except OSError as error:
        raise ConfError(f'BIO_new_file("{full}") failed {fopen_error(full, error)}') from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_dh_params(full)
    except ssl.SSLError as error:
        reason = NO_DH_PARAMETERS if error.reason == "NO_START_LINE" else f"(SSL: {error.reason})"
        raise ConfError(f'PEM_read_bio_DHparams("{full}") failed {reason}') from None
    except OSError:
        raise ConfError(f'PEM_read_bio_DHparams("{full}") failed {NO_DH_PARAMETERS}') from None


def check_ecdh_curve(curves: str) -> None:
    """ngx_ssl_ecdh_curve: "auto" or a list SSL_CTX_set1_curves_list takes."""
    if curves == "auto":
        return
    import ssl

    from nginxpy.tls import _openssl

    def accepted(groups: str) -> bool:
        try:
            return _openssl.set_groups_list(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), groups)
        except (ValueError, ssl.SSLError):
            return False

    if accepted(curves):
        return
    # OpenSSL names the first group it cannot set; an empty name fails without a reason.
    for group in curves.split(":"):
        if not group:
            break
        if not accepted(group):
            raise ConfError(
                f'SSL_CTX_set1_curves_list("{curves}") failed (SSL: error:0A080106:SSL routines::'
                f"passed invalid argument:group '{group}' cannot be set)"
            )
    raise ConfError(f'SSL_CTX_set1_curves_list("{curves}") failed')


def ticket_key_error(full: str) -> str | None:
    """ngx_ssl_session_ticket_keys: a file of 48 or 80 bytes."""
    try:
        size = os.path.getsize(full)
    except OSError as error:
        return f'open() "{full}" failed ({error.errno}: {error.strerror})'
    if size not in (48, 80):
        return f'"{full}" must be 48 or 80 bytes'
    return None


def check_stapling_file(full: str) -> None:
    """ngx_ssl_stapling_file: BIO_new_file(.., "rb")."""
    try:
        with open(full, "rb"):
            pass
    except OSError as error:
        raise ConfError(f'BIO_new_file("{full}") failed {fopen_error(full, error, mode="rb")}') from None
