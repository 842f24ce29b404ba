"""TLS between TCP reassembly and the protocol machines (sans-IO).

`layer.TlsConnection` is fed the bytes and gaps of both directions of one
connection, describes the session (`TlsInfo`) and, given secrets from a
`keylog.KeyLog` for the session's client random, hands out the plaintext of both
directions. Nothing here does I/O except `keylog.KeyLog.add_file`.
"""


def load_layer():
    """`smtpcore.tls.layer`, imported with the first TLS session of a run.

    The layer needs the cryptography package, tens of milliseconds to import, which
    most runs (no TLS, or no key log) never use.
    """
    from smtpcore.tls import layer

    return layer
