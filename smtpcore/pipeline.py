"""The one-way flow from a capture to model objects, as a generator.

capture → packets → TCP streams → SMTP, POP3 or IMAP sessions (classified by
content; a connection that starts with TLS by its decrypted greeting) → messages (+ MIME), credentials.
Objects are yielded as soon as they are complete, so nothing waits for the end of
the capture and memory stays flat whatever its size.
"""

from __future__ import annotations

from typing import BinaryIO, Callable, Iterable, Iterator, Optional, Union

from smtpcore import flowskip
from smtpcore.capture import DSB_TLS_KEY_LOG, CaptureReader
from smtpcore.detect import SERVER_PORTS, Classifier
from smtpcore.diagnostics import AggregatedWarnings, incomplete
from smtpcore.model import Credential, Endpoints, Message, Session
from smtpcore.packets import PacketDecoder, Segment
from smtpcore.reassembly import Closed, Data, Gap, Opened, Reassembler
from smtpcore.smtp.builder import SessionBuilder
from smtpcore.tls.keylog import KeyLog
from smtpcore.tlsfirst import TlsFirstBuilder

Item = Union[Session, Message, Credential]

# How often (in frames) the abort callback and the progress callback are consulted.
_POLL_FRAMES = 1024
# Payload bytes held back at most while the identifier prefix is computed; past
# this, reading waits for it.
HOLD_LIMIT = 16 * 1024 * 1024


def extract(
    fileobj: BinaryIO,
    *,
    source: str,
    warn: Callable[[str], None],
    abort: Optional[Callable[[], bool]] = None,
    mime: bool = True,
    payloads: bool = False,
    session_prefix: Union[str, Callable[[bool], Optional[str]]] = "",
    progress: Optional[Callable[[int], None]] = None,
    keylog: Optional[KeyLog] = None,
    md5_sha1: bool = True,
) -> Iterator[Item]:
    """Yields the sessions, messages and credentials of one capture as they complete.

    A Message is yielded with its content (``message.content``) still readable and,
    with ``payloads``, its attachments' bytes; both are released when the consumer
    asks for the next item, so a consumer that wants the bytes takes them then.

    Args:
      fileobj: the capture (pcap, pcapng, either gzip-compressed), read once, in chunks.
      source: where the capture came from, recorded in every Session.
      warn: receives every warning about damage or anomalies in the capture.
      abort: polled now and then; when it returns True extraction stops early.
      mime: decode each message's headers, bodies and attachments.
      payloads: keep attachment bytes in the yielded messages.
      session_prefix: prepended to session identifiers, to keep them unique across
          several captures; or, while it is still being computed (from the
          capture's SHA-256), ``session_prefix(wait)``: the prefix, or None when
          ``wait`` is False and it is not known yet. Reading then goes on meanwhile;
          what reaches the sessions is held back, in order, until it is known.
      progress: called now and then with the bytes of the input consumed so far.
      keylog: TLS secrets to decrypt STARTTLS and implicit-TLS sessions with; the
          capture's own pcapng Decryption Secrets Blocks are added for it alone.
      md5_sha1: give each message its MD5 and SHA-1 (its SHA-256 always); off for
          a consumer that hashes the content it writes out (see MessageContent).

    Raises:
      NotACapture: before anything is yielded, when the input is not a capture.
    """
    warn = AggregatedWarnings(warn)
    try:
        yield from _extract(
            fileobj,
            source,
            warn,
            abort,
            mime,
            payloads,
            session_prefix,
            progress,
            keylog,
            md5_sha1,
        )
    finally:
        warn.flush()


def _extract(
    fileobj,
    source,
    warn,
    abort,
    mime,
    payloads,
    session_prefix,
    progress,
    keylog,
    md5_sha1,
):
    # The capture's own secrets (pcapng DSBs) count for this capture only.
    keys = KeyLog(warn, parent=keylog)

    def secrets(kind: int, data: bytes, where: str) -> None:
        if kind == DSB_TLS_KEY_LOG:
            keys.add_bytes(data, f"{source}: Decryption Secrets Block {where}")

    classifier = Classifier(keys)
    streams = _Streams(source, session_prefix, warn, keys, classifier, md5_sha1)
    # What the layers below the sessions report waits with their events while the
    # prefix is not known, so that the warnings come in the same order as ever.
    warn_below = streams.warn
    reader = CaptureReader(fileobj, warn_below, secrets=secrets)
    if reader.format != "pcap":
        # A pcapng Decryption Secrets Block adds keys at its place in the file:
        # sessions must not see them early, so there is no holding back.
        yield from _finish_held(streams.release(wait=True), mime, payloads, warn)
    decoder = PacketDecoder(warn_below)
    reassembler = Reassembler(
        warn_below, classify=classifier, server_ports=SERVER_PORTS
    )

    if decoder.fast is not None:
        # The handshakes of new connections are written down by the compiled
        # decoder itself: on web traffic three of each connection's four segments
        # never become objects (see FastDecoder.absorb_handshakes).
        decoder.fast.absorb_handshakes(reassembler)
    decode = decoder.decode
    feed = reassembler.feed
    rejected = reader.rejected = reassembler.rejected
    skippable = flowskip.skippable
    # Frames skipped or absorbed never reach this loop (a web capture hands it
    # few), so the callbacks are polled once _POLL_FRAMES frames have gone by.
    next_poll = _POLL_FRAMES
    # The compiled readers (pcap, pcapng) decode plain frames themselves: those
    # come as segments, or as (frame index, Data) when the compiled decoder fed the
    # reassembler itself (in-order data; FastDecoder._deliver).
    for item in reader.items(decoder.fast):
        kind = type(item)
        if kind is Segment:
            index = item.frame
            events = feed(item)
        elif kind is tuple:
            index = item[0]
            events = [item[1]]
        else:
            index = item.index
            if rejected and skippable(
                item.data, item.orig_len, item.linktype, item.ts_ns, rejected
            ):
                events = None
            elif (segment := decode(item)) is None:
                events = None
            elif type(segment) is tuple:
                events = [segment[1]]
            else:
                events = feed(segment)
        if events:
            if streams.holding:
                if streams.hold(events) > HOLD_LIMIT:  # wait for the prefix
                    yield from _finish_held(
                        streams.release(wait=True), mime, payloads, warn
                    )
            else:
                items = streams.dispatch(events)
                if items:
                    yield from _finish(items, mime, payloads, warn)
        if index >= next_poll:
            next_poll = index + _POLL_FRAMES
            if streams.holding:
                yield from _finish_held(streams.release(), mime, payloads, warn)
            if progress is not None:
                progress(reader.position)
            if abort is not None and abort():
                warn_below(f"{source}: extraction aborted at frame {index}")
                break
    decoder.finish()
    final = reassembler.finish()
    if streams.holding:
        streams.hold(final)
        yield from _finish_held(streams.release(wait=True), mime, payloads, warn)
    else:
        yield from _finish(streams.dispatch(final), mime, payloads, warn)
    if progress is not None:
        progress(reader.position)


class _Streams:
    """Routes reassembled stream events to one builder per connection, by protocol."""

    def __init__(
        self,
        source: str,
        prefix: Union[str, Callable[[bool], Optional[str]]],
        warn: Callable[[str], None],
        keylog: KeyLog,
        classifier: Optional[Classifier] = None,
        md5_sha1: bool = True,
    ):
        self._keylog = keylog
        self._md5_sha1 = md5_sha1
        self._source = source
        self._prefix = prefix if isinstance(prefix, str) else None
        self._ask = None if isinstance(prefix, str) else prefix
        self._warn = warn
        self._classifier = classifier
        self._builders: dict = {}
        # Until the prefix is known: events (lists) and warnings (str), in order.
        self._held: list = []
        self._held_size = 0

    @property
    def holding(self) -> bool:
        return self._prefix is None

    def warn(self, text: str) -> None:
        if self._prefix is None:
            self._held.append(text)
            self._held_size += len(text)
        else:
            self._warn(text)

    def hold(self, events: list) -> int:
        """Keeps the events for later; returns the payload bytes held so far."""
        self._held.append(list(events))
        self._held_size += sum(len(e.data) for e in events if type(e) is Data)
        return self._held_size

    def release(self, wait: bool = False) -> Iterator[list[Item]]:
        """Once the prefix is known (or waited for), what was held: its warnings
        given, its events dispatched, in order."""
        if self._prefix is None:
            self._prefix = self._ask(wait)
            if self._prefix is None:
                return
        held, self._held, self._held_size = self._held, [], 0
        for entry in held:
            if type(entry) is str:
                self._warn(entry)
            else:
                items = self.dispatch(entry)
                if items:
                    yield items

    def dispatch(self, events: Iterable) -> list[Item]:
        """The items the events complete (a list: nearly always empty, and a
        generator per segment cost more than the work it wrapped)."""
        builders = self._builders
        items: list[Item] = []
        for event in events:
            kind = type(event)
            if kind is Data:
                builder = builders.get(event.conn.id)
                if builder is not None:
                    items += builder.data(event.direction, event.data, event.ts_ns)
            elif kind is Gap:
                builder = builders.get(event.conn.id)
                if builder is not None:
                    items += builder.gap(event.direction, event.length, event.ts_ns)
            elif kind is Opened:
                conn = event.conn
                builders[conn.id] = self._builder(conn, event.ts_ns)
            elif kind is Closed:
                builder = builders.pop(event.conn.id, None)
                if builder is not None:
                    items += builder.close(event.ts_ns, event.reason)
        return items

    def _builder(self, conn, ts_ns: int):
        protocol = "smtp"
        if self._classifier is not None:
            protocol = self._classifier.take(conn.id)
        if protocol == "tls":
            return TlsFirstBuilder(
                conn, self._keylog, lambda found: self._make(found, conn, ts_ns)
            )
        return self._make(protocol, conn, ts_ns)

    def _make(self, protocol: str, conn, ts_ns: int):
        session_id = f"{self._prefix}s{conn.id}"
        endpoints = Endpoints(
            conn.client_ip, conn.client_port, conn.server_ip, conn.server_port
        )
        if protocol not in ("pop3", "imap"):
            return SessionBuilder(
                session_id,
                self._source,
                endpoints,
                ts_ns,
                self._keylog,
                self._md5_sha1,
            )
        # Imported on the first POP3 or IMAP connection: their machines and events
        # are a fifth of the library's start-up, and most captures hold neither.
        from smtpcore.imap.machine import ImapMachine
        from smtpcore.mailbuilder import MailboxSessionBuilder
        from smtpcore.pop3.machine import Pop3Machine

        machine = Pop3Machine() if protocol == "pop3" else ImapMachine()
        return MailboxSessionBuilder(
            protocol,
            machine,
            session_id,
            self._source,
            endpoints,
            ts_ns,
            self._keylog,
            self._md5_sha1,
        )


def _finish_held(
    batches: Iterable[list[Item]], mime: bool, payloads: bool, warn
) -> Iterator[Item]:
    for items in batches:
        yield from _finish(items, mime, payloads, warn)


def _finish(
    items: Iterable[Item], mime: bool, payloads: bool, warn: Callable[[str], None]
) -> Iterator[Item]:
    """Adds the MIME view to each message, hands it out, then frees its bytes.

    Every incomplete record is a warning too, so that damage reaches the log, the
    manifest, the exit status and plaso's warnings, aggregated like the rest.
    """
    for item in items:
        reason = incomplete(item)
        if reason is not None:
            warn(reason)
        if type(item) is not Message or item.content is None:
            yield item
            continue
        content = item.content
        try:
            if mime:
                # Imported here: with workers decoding MIME, the reading process
                # never needs the email package (14 ms of its start-up).
                from smtpcore import mime as mime_decoder

                item.mime = mime_decoder.analyse(
                    content.open(), keep_payloads=payloads, size=content.size
                )
                item.warnings.extend(item.mime.warnings)
            yield item
        finally:
            content.release()
            if item.mime is not None:
                for attachment in item.mime.attachments:
                    attachment.payload = None
