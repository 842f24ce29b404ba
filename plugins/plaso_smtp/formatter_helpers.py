"""Custom event formatter helpers for the SMTP message formatters.

Registered by the start-up hook. Where plaso-smtp is not installed (a Timesketch
server reading our formatter definitions) plaso skips unknown helpers, and lists then
appear in their Python form, which is still readable.
"""

from plaso.formatters import interface


class SMTPValuesFormatterHelper(interface.CustomEventFormatterHelper):
    """Writes lists as text, the null sender as "<>" and banners on one line.

    plaso removes line breaks from messages without putting a space in their place.
    """

    IDENTIFIER = "smtp_values"

    _LIST_ATTRIBUTES = (
        "attachment_names",
        "attachment_sha256_hashes",
        "mailboxes",
        "recipients",
        "rejected_recipients",
        "tls_alpn",
        "smuggling_indicators",
    )

    def FormatEventValues(self, output_mediator, event_values):
        """Formats event values using the helper.

        Args:
          output_mediator (OutputMediator): output mediator.
          event_values (dict[str, object]): event values.
        """
        for name in self._LIST_ATTRIBUTES:
            value = event_values.get(name)
            if isinstance(value, list):
                event_values[name] = ", ".join(item or "(no name)" for item in value)

        if event_values.get("sender") == "":
            event_values["sender"] = "<>"

        banner = event_values.get("banner")
        if banner:
            event_values["banner"] = " ".join(banner.split())


HELPER_CLASSES = (SMTPValuesFormatterHelper,)
