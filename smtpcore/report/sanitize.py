"""An HTML body made inert for display: no scripts, no live links, no remote loads.

The report shows HTML bodies in a sandboxed iframe under a Content-Security-Policy that
already forbids scripts and remote loads; this rewrite is the second wall and what makes
links readable: every ``href`` becomes text beside its anchor, so the examiner sees where
a link points (hidden characters by code point) without being able to follow it.
"""

from __future__ import annotations

import html
import html.parser
from typing import Optional

from smtpcore.report.display import plain

# Elements dropped with everything inside them.
_DROP_WITH_CONTENT = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "noscript"}
)
# Elements dropped, their content kept.
_DROP_TAG = frozenset(
    {"base", "link", "meta", "form", "portal", "html", "head", "body"}
)
_VOID = frozenset(
    {"area", "br", "col", "hr", "img", "input", "source", "track", "wbr", "param"}
)
_URL_ATTRIBUTES = frozenset(
    {
        "href",
        "src",
        "srcset",
        "action",
        "formaction",
        "background",
        "poster",
        "lowsrc",
        "dynsrc",
        "cite",
        "longdesc",
        "usemap",
        "ping",
        "xlink:href",
        "data",
        "codebase",
    }
)


class _Rewriter(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.links: list[str] = []
        self._skip = 0  # depth inside a dropped element
        self._anchors: list[Optional[str]] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, closed=False)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, closed=True)

    def _start(self, tag, attrs, closed):
        if tag in _DROP_WITH_CONTENT:
            if not closed and tag not in _VOID:
                self._skip += 1
            return
        if self._skip or tag in _DROP_TAG:
            return
        kept, href, removed = [], None, None
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                continue
            if name in _URL_ATTRIBUTES:
                if name == "href":
                    href = value
                elif name == "src" and value.startswith("data:image/"):
                    kept.append((name, value))  # inline pictures (cid: made data:)
                elif value:
                    removed = value
                continue
            kept.append((name, value))
        if tag == "img" and removed:
            kept = [(n, v) for n, v in kept if n != "alt"]
            kept.append(("alt", f"[remote image not loaded: {plain(removed)}]"))
        attributes = "".join(
            f' {name}="{html.escape(value, quote=True)}"' for name, value in kept
        )
        self.out.append(f"<{tag}{attributes}{' /' if closed else ''}>")
        self._in_style = tag == "style" and not closed
        if tag == "a" and not closed:
            self._anchors.append(href)
        if href is not None and (closed or tag != "a"):
            self._link(href)

    def _link(self, href: str) -> None:
        self.links.append(href)
        self.out.append(
            f'<span style="color:#8a2b06;font:12px monospace;background:#fff3e0">'
            f" [link: {html.escape(plain(href))}]</span>"
        )

    def handle_endtag(self, tag):
        if tag in _DROP_WITH_CONTENT:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip or tag in _DROP_TAG or tag in _VOID:
            return
        self.out.append(f"</{tag}>")
        self._in_style = False
        if tag == "a" and self._anchors:
            href = self._anchors.pop()
            if href is not None:
                self._link(href)

    def handle_data(self, data):
        if not self._skip:
            if self._in_style:
                self.out.append(data)
            else:
                self.out.append(html.escape(data, quote=False))

    def handle_comment(self, data):
        pass  # conditional comments can hide markup

    def handle_decl(self, decl):
        pass

    def unknown_decl(self, data):
        pass


def inert_html(text: str) -> tuple[str, list[str]]:
    """The HTML without active parts, and the link targets it had, in order."""
    rewriter = _Rewriter()
    rewriter.feed(text)
    rewriter.close()
    return "".join(rewriter.out), rewriter.links
