"""plaso parser for packet captures: SMTP sessions, authentications and emails.

Kept free of imports: the start-up hook imports this package in every interpreter.
"""
