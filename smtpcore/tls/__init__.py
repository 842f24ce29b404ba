"""TLS between TCP reassembly and the protocol machines (sans-IO).

`layer.TlsConnection` is fed the bytes and gaps of both directions of one
connection, describes the session (`TlsInfo`) and, given secrets from a
`keylog.KeyLog` for the session's client random, hands out the plaintext of both
directions. Nothing here does I/O except `keylog.KeyLog.add_file`.
"""
