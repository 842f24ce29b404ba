"""report.html and report/<message>.html: the output folder as an examiner triages it.

``report.html`` is the index: messages, credentials, sessions, warnings and an activity
chart, each table sortable, filterable and paged by one inline script that renders the
rows from JSON data blocks, so 50,000 messages cost a page of rows on screen. Each
message has a page of its own (headers, bodies, attachments, hashes, its session's
credentials), written while its content is at hand. All links are relative, so the
folder can be moved whole.

Safety: every page carries a Content-Security-Policy with ``default-src 'none'``; the
only script is the index's own, allowed by its hash. HTML bodies are rewritten inert
(:mod:`smtpcore.report.sanitize`) and shown in sandboxed iframes. Names and headers show
hidden characters by code point (:mod:`smtpcore.report.display`). Rows are spooled to
temporary files as items arrive, so memory does not grow with the number of messages.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import json
import pathlib
import tempfile
import urllib.parse
from typing import Any, BinaryIO, Callable, Iterator, Optional

import jinja2
from markupsafe import Markup

from smtpcore import __version__
from smtpcore.model import Attachment, MimeInfo
from smtpcore.report import display
from smtpcore.safenames import safe_filename

_BODY_LIMIT = 200_000  # characters of a body shown in the report
_INLINE_IMAGE_LIMIT = 1 << 20  # bytes of an inline picture embedded in the report
_HEADER_LIMIT = 256 * 1024  # bytes of the .eml's header section shown
_HERE = pathlib.Path(__file__).parent

PAGES = "report"  # folder of the message pages, beside report.html
# Message pages share one stylesheet beside them ('self'); 'unsafe-inline' is for the
# HTML bodies' own style attributes, in frames whose own policy forbids everything else.
_PAGE_CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src data:"

# Header fields another stage may add to the message records; shown when present.
PIVOT_FIELDS = (
    ("Reply-To", "reply_to"),
    ("Sender", "sender"),
    ("Return-Path", "return_path"),
    ("In-Reply-To", "in_reply_to"),
    ("References", "references"),
    ("User agent", "user_agent"),
    ("X-Originating-IP", "x_originating_ip"),
)
HOP_FIELDS = ("from", "ip", "by", "with", "id", "for", "date")


def shows_inline(attachment: Attachment) -> bool:
    """Whether the report embeds this attachment's bytes (an inline picture)."""
    return bool(
        attachment.content_id
        and attachment.content_type.startswith("image/")
        and attachment.size <= _INLINE_IMAGE_LIMIT
    )


def _inline_images(text: str, mime: MimeInfo) -> str:
    """Points cid: references at data: URIs, so inline pictures show without any load."""
    for attachment in mime.attachments:
        if (
            attachment.payload is not None
            and shows_inline(attachment)
            and f"cid:{attachment.content_id}" in text
        ):
            data = base64.b64encode(attachment.payload).decode("ascii")
            uri = f"data:{attachment.content_type};base64,{data}"
            text = text.replace(f"cid:{attachment.content_id}", uri)
    return text


def _asset(name: str) -> str:
    return (_HERE / "static" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


class _RecordEnvironment(jinja2.Environment):
    """Jinja's environment, with ``r.subject`` on a record (a dict) looked up as a
    key first.

    Jinja tries the attribute first and catches the AttributeError a dict raises:
    on a message page that is a hundred exceptions, an eighth of its rendering
    time. Names of dict's own attributes (``get``, ``items``) still mean them, so
    every lookup gives what Jinja's own order gives.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


_DICT_ATTRIBUTES = frozenset(dir(dict))

BYTECODE_SUFFIX = ".jbc"  # a template compiled at build time, beside its source


class _BuiltBytecode(jinja2.BytecodeCache):
    """The templates as compiled when the package was built (``compile_templates``,
    called by setup.py), so that a run does not compile them: message.html takes
    86 ms in every process that writes pages, 1.3 ms to load (a capture of one
    message: 0.44 s a run before, 0.32 s now).

    Compiled code is used only with the template source it came from and the Python
    that compiled it (Jinja checks both), and with the Jinja version and environment
    settings that compiled it (``_compile_key``); anything else is compiled afresh,
    as without it. Nothing is ever written at run time.
    """

    def get_cache_key(self, name: str, filename: Optional[str] = None) -> str:
        return name  # not the file's path: the package is built in one place

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            data = (_HERE / "templates" / (bucket.key + BYTECODE_SUFFIX)).read_bytes()
        except OSError:
            return
        key, _, bytecode = data.partition(b"\n")
        if key == _compile_key(bucket.environment).encode("ascii"):
            bucket.bytecode_from_string(bytecode)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        pass


def _compile_key(env: jinja2.Environment) -> str:
    """What compiled template code depends on besides its source and Python."""
    settings = (
        getattr(jinja2, "__version__", None),
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.optimized,
        env.autoescape,
        env.finalize is None,
        sorted(env.extensions),
        sorted(
            (name, repr(getattr(f, "jinja_pass_arg", None)))
            for name, f in env.filters.items()
        ),
        sorted(env.tests),
    )
    return hashlib.sha256(repr(settings).encode("utf-8")).hexdigest()


def compile_templates(directory: pathlib.Path) -> list[str]:
    """Writes every template compiled into ``directory`` (setup.py's build step);
    returns the names of the files written."""
    env = _environment()
    key = _compile_key(env).encode("ascii")
    written = []
    for name in env.list_templates(extensions=["html"]):
        source, _, _ = env.loader.get_source(env, name)
        bucket = jinja2.bccache.Bucket(
            env, name, env.bytecode_cache.get_source_checksum(source)
        )
        # Named by its place in the package, not in the build folder.
        bucket.code = env.compile(source, name, f"smtpcore/report/templates/{name}")
        target = name + BYTECODE_SUFFIX
        (directory / target).write_bytes(key + b"\n" + bucket.bytecode_to_string())
        written.append(target)
    return written


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = _RecordEnvironment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        auto_reload=False,  # package files: no stat() of the template per page
        bytecode_cache=_BuiltBytecode(),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["vis"] = display.visible
    env.filters["visb"] = display.visible_block
    env.filters["yesno"] = lambda v: "unknown" if v is None else ("yes" if v else "no")
    return env


# One encoder for every row: json.dumps with options builds a new one per call.
_JSON_BLOCK = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def json_block(value: Any) -> str:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' at all."""
    text = _JSON_BLOCK.encode(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _endpoint(ip: Optional[str], port: Optional[int]) -> str:
    if ip is None:
        return ""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def href(relative: str, up: int = 0) -> str:
    """A relative link to a file in the output folder, from ``up`` folders below it."""
    return "../" * up + urllib.parse.quote(relative, safe="/")


def page_name(message_id: str) -> str:
    return f"{PAGES}/{safe_filename(message_id + '.html')}"


def message_row(r: dict[str, Any], page: Optional[str], source: int) -> dict[str, Any]:
    """A message record as the index shows it (short keys: 50,000 rows must load fast).

    ``source`` is the capture's place in the index's list of sources.
    """
    return {
        "id": r["id"],
        "p": href(page) if page else None,
        "t": r.get("time"),
        "si": source,
        "sid": r.get("session_id"),
        "c": _endpoint(r.get("client_ip"), r.get("client_port")),
        "s": _endpoint(r.get("server_ip"), r.get("server_port")),
        "mf": r.get("mail_from"),
        "rt": r.get("rcpt_to") or [],
        "rj": [x.get("address") for x in r.get("rcpt_rejected") or []],
        "f": r.get("from"),
        "to": r.get("to"),
        "cc": r.get("cc"),
        "sub": r.get("subject"),
        "rto": r.get("reply_to"),
        "pr": r.get("protocol") or "smtp",
        "kd": r.get("kind") or "sent",
        "mb": r.get("mailbox"),
        "pa": r.get("partial"),
        "at": [
            {
                "n": a.get("filename"),
                "ct": a.get("content_type"),
                "dt": a.get("detected_type"),
                "fl": display.attachment_flags(a),
                "in": bool(a.get("inline")),
            }
            for a in r.get("attachments") or []
        ],
        "au": r.get("auth_user"),
        "acc": r.get("accepted"),
        "cmp": r.get("complete"),
        "miss": r.get("missing_bytes"),
        "sz": r.get("size"),
        "al": display.message_alerts(r),
        "w": len(r.get("warnings") or []),
    }


def credential_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "pr": r.get("protocol") or "smtp",
        "t": r.get("time"),
        "sid": r.get("session_id"),
        "c": _endpoint(r.get("client_ip"), r.get("client_port")),
        "s": _endpoint(r.get("server_ip"), r.get("server_port")),
        "helo": r.get("helo"),
        "mech": r.get("mechanism"),
        "user": r.get("username"),
        "pw": r.get("password"),
        "az": r.get("authzid"),
        "realm": r.get("realm"),
        "dom": r.get("domain"),
        "ws": r.get("workstation"),
        "tok": r.get("token"),
        "hc": r.get("hashcat"),
        "hm": r.get("hashcat_mode"),
        "ok": r.get("success"),
        "ab": r.get("aborted"),
        "rep": r.get("reply"),
        "det": r.get("details") or {},
        "jn": r.get("john"),
        "jf": r.get("john_format"),
    }


def session_row(r: dict[str, Any], source: int) -> dict[str, Any]:
    return {
        "pr": r.get("protocol") or "smtp",
        "sid": r.get("session_id"),
        "si": source,
        "c": _endpoint(r.get("client_ip"), r.get("client_port")),
        "s": _endpoint(r.get("server_ip"), r.get("server_port")),
        "st": r.get("start_time"),
        "et": r.get("end_time"),
        "ban": r.get("banner"),
        "helo": r.get("helo"),
        "tls": r.get("encrypted"),
        "stls": r.get("starttls"),
        "sni": r.get("tls_server_name"),
        "dec": r.get("decrypted"),
        "tv": r.get("tls_version"),
        "tc": r.get("tls_cipher"),
        "tur": r.get("tls_undecrypted_reason"),
        "ja3": r.get("ja3"),
        "ja4": r.get("ja4"),
        "n": r.get("messages"),
        "na": r.get("auth_attempts"),
        "au": r.get("auth_user"),
        "cmp": r.get("complete"),
        "cr": r.get("close_reason"),
        "w": r.get("warnings") or [],
    }


def message_page(
    root: Optional[pathlib.Path],
    r: dict[str, Any],
    mime: Optional[MimeInfo],
    credentials: list[dict[str, Any]],
) -> Iterator[bytes]:
    """A message's page as UTF-8 blocks; ``root`` is the output folder (for the
    .eml's headers). A function of its arguments alone, so that a worker process
    can write the page while the main process reads on."""
    # The template yields a few hundred small pieces a page, joined 256 at a time
    # (in C: a Python loop over the pieces was an eighth of the rendering). A block
    # is small unless it holds bodies: each is one piece of at most _BODY_LIMIT
    # characters, escaped, beside the decoded text the context holds anyway.
    template = _environment().get_template("message.html")
    pieces = template.generate(**_message_context(root, r, mime, credentials))
    while batch := list(itertools.islice(pieces, 256)):
        yield "".join(batch).encode("utf-8")


def _message_context(
    root: Optional[pathlib.Path],
    r: dict[str, Any],
    mime: Optional[MimeInfo],
    credentials: list[dict[str, Any]],
) -> dict[str, Any]:
    attachments = []
    for a in r.get("attachments") or []:
        attachments.append(
            {
                **a,
                "flags": display.attachment_flags(a),
                "href": href(a["path"], up=1) if a.get("path") else None,
                "extension": display.shown_extension(a.get("filename")),
            }
        )
    bodies = []
    for body in mime.bodies if mime else []:
        text = body.text[:_BODY_LIMIT]
        entry = {
            "type": body.content_type,
            "declared": body.declared_charset,
            "charset": body.used_charset,
            "truncated": len(body.text) > _BODY_LIMIT,
            "length": len(body.text),
        }
        if body.content_type == "text/html":
            # Imported here: html.parser is for HTML bodies, in the workers mostly.
            from smtpcore.report.sanitize import inert_html

            inert, links = inert_html(_inline_images(text, mime))
            entry["srcdoc"] = (
                '<meta http-equiv="Content-Security-Policy" content="'
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
                + inert
            )
            entry["links"] = links
            entry["source"] = text
        else:
            entry["text"] = text
        bodies.append(entry)
    pivots = [
        (label, r[key])
        for label, key in PIVOT_FIELDS
        if key in r and r[key] not in (None, "", [])
    ]
    sid = r.get("session_id") or ""
    return {
        "r": r,
        "version": __version__,
        "alerts": display.message_alerts(r),
        "source": display.source_parts(r.get("source")),
        "client": _endpoint(r.get("client_ip"), r.get("client_port")),
        "server": _endpoint(r.get("server_ip"), r.get("server_port")),
        "attachments": attachments,
        "bodies": bodies,
        "pivots": pivots,
        "hops": r.get("received") if isinstance(r.get("received"), list) else [],
        "hop_fields": HOP_FIELDS,
        "credentials": credentials,
        "headers": _raw_headers(root, r.get("eml")),
        "eml_href": href(r["eml"], up=1) if r.get("eml") else None,
        "index_href": "../report.html",
        "session_query": urllib.parse.quote(sid, safe=""),
        "csp": _PAGE_CSP,
    }


def _raw_headers(root: Optional[pathlib.Path], eml: Optional[str]) -> Optional[str]:
    """The header section as transferred, read back from the .eml just written."""
    if not eml or root is None:
        return None
    try:
        with open(pathlib.Path(root) / eml, "rb") as handle:
            head = handle.read(_HEADER_LIMIT + 1)
    except OSError:
        return None
    for end in (b"\r\n\r\n", b"\n\n"):
        if end in head:
            head = head[: head.index(end)]
            break
    else:
        if len(head) > _HEADER_LIMIT:  # the section goes on: say it is cut
            note = f"\n[... header section longer than {_HEADER_LIMIT} bytes: "
            head = head[:_HEADER_LIMIT] + (note + "the rest is in the .eml]").encode()
    text = head.decode("utf-8", "backslashreplace").replace("\r\n", "\n")
    return text


class _Spool:
    """A JSON array written element by element to a temporary file."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(
            max_size=1 << 20, mode="w+t", encoding="utf-8"
        )
        self.count = 0

    def add(self, value: Any) -> None:
        self._file.write(("," if self.count else "") + json_block(value) + "\n")
        self.count += 1

    def chunks(self) -> Iterator[Markup]:
        self._file.seek(0)
        while chunk := self._file.read(1 << 16):
            yield Markup(chunk)  # json_block output: nothing that can end the block
        self._file.close()


class ReportBuilder:
    """Collects report rows as items arrive; writes message pages at once, the index last.

    ``create(relative)`` opens a new file in the output folder for writing and
    ``finish(relative, writer)`` closes it (OutputFolder hashes it for the manifest).
    Without them (no output folder), no message pages are written.
    """

    def __init__(
        self,
        root: Optional[pathlib.Path] = None,
        create: Optional[Callable[[str], Any]] = None,
        finish: Optional[Callable[[str, Any], None]] = None,
    ) -> None:
        self._root = root
        self._create = create
        self._finish = finish
        self._spools = {name: _Spool() for name in ("m", "c", "s")}
        self._sources: dict[str, int] = {}  # one entry per capture, not per row
        self._stylesheet = False
        # Credentials of sessions still open, for their messages' pages; a session's
        # entry goes when the session closes, so this holds open sessions only.
        self._open_credentials: dict[str, list[dict[str, Any]]] = {}

    def add_session(self, r: dict[str, Any]) -> None:
        self._open_credentials.pop(r.get("session_id"), None)
        self._spools["s"].add(session_row(r, self._source(r.get("source"))))

    def add_credential(self, r: dict[str, Any]) -> None:
        self._spools["c"].add(credential_row(r))
        self._open_credentials.setdefault(r.get("session_id"), []).append(r)

    def add_message(
        self, r: dict[str, Any], mime: Optional[MimeInfo], page: Optional[str] = None
    ) -> None:
        """The message's page (when there is a folder) and its row in the index.

        ``page`` names a page written earlier (by a worker process, or for an index
        rebuilt from the records): it is linked, not written again.
        """
        if self._create is not None:
            if not self._stylesheet:
                self._write(f"{PAGES}/report.css", _asset("report.css"))
                self._stylesheet = True
            if page is None:
                page = page_name(r["id"])
                writer = self._create(page)
                for block in message_page(self._root, r, mime, self.credentials(r)):
                    writer.write(block)
                self._finish(page, writer)
        self._spools["m"].add(message_row(r, page, self._source(r.get("source"))))

    def credentials(self, r: dict[str, Any]) -> list[dict[str, Any]]:
        """The credentials seen so far in the message's session, for its page."""
        return self._open_credentials.get(r.get("session_id") or "", [])

    def _write(self, relative: str, text: str) -> None:
        writer = self._create(relative)
        writer.write(text.encode("utf-8"))
        self._finish(relative, writer)

    def _source(self, source: Optional[str]) -> int:
        return self._sources.setdefault(source or "", len(self._sources))

    def write(self, writer: BinaryIO, warnings: list[str]) -> None:
        script = _asset("index.js")
        style = _asset("report.css")
        csp = (
            f"default-src 'none'; script-src {_csp_hash(script)}; "
            f"style-src {_csp_hash(style)}; img-src data:"
        )
        warning_spool = _Spool()
        for warning in warnings:
            warning_spool.add(warning)
        counts = {name: spool.count for name, spool in self._spools.items()}
        sources = [
            {"src": source, **display.source_parts(source)} for source in self._sources
        ]
        template = _environment().get_template("index.html")
        for chunk in template.generate(
            version=__version__,
            csp=csp,
            style=Markup(style),
            script=Markup(script),
            counts=counts,
            warning_count=warning_spool.count,
            messages=self._spools["m"].chunks(),
            credentials=self._spools["c"].chunks(),
            sessions=self._spools["s"].chunks(),
            warnings=warning_spool.chunks(),
            sources=Markup(json_block(sources)),
        ):
            writer.write(chunk.encode("utf-8"))
