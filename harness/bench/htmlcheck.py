"""A screenshot-free check of a report page: balanced tags, and every image and link present on disk."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Checker(HTMLParser):
    """Collects problems while parsing: a stack of open elements, and every local resource referenced."""

    def __init__(self, base: Path, name: str):
        super().__init__(convert_charrefs=True)
        self.base, self.name = base, name
        self.stack: list[tuple[str, int]] = []
        self.problems: list[str] = []
        self.doctype = False
        self.seen: set[str] = set()
        self.images = 0

    def _problem(self, text: str) -> None:
        self.problems.append(f"{self.name}:{self.getpos()[0]}: {text}")

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype"):
            self.doctype = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        values = dict(attrs)
        if tag == "img":
            self.images += 1
            if not values.get("alt"):
                self._problem(f"<img src={values.get('src')!r}> has no alt text")
            self._local(tag, "src", values.get("src"))
        elif tag == "a" and "href" in values:
            self._local(tag, "href", values["href"])
        if tag not in VOID:
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self._problem(f"<{tag}/>: only void elements may be self-closed")
        saved = list(self.stack)
        self.handle_starttag(tag, attrs)
        self.stack = saved

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self._problem(f"</{tag}>: {tag} is a void element and has no end tag")
            return
        if not self.stack:
            self._problem(f"</{tag}> closes nothing")
            return
        open_tag, line = self.stack[-1]
        if open_tag == tag:
            self.stack.pop()
            return
        self._problem(f"</{tag}> while <{open_tag}> (line {line}) is open")
        if any(t == tag for t, _ in self.stack):
            while self.stack and self.stack.pop()[0] != tag:
                pass

    def _local(self, tag: str, attr: str, target: str | None) -> None:
        if not target:
            self._problem(f"<{tag}> without {attr}")
            return
        parts = urlsplit(target)
        if not parts.path and parts.fragment:
            return  # an anchor on this page
        if parts.scheme or parts.netloc or parts.path.startswith("/"):
            self._problem(f"<{tag} {attr}={target!r}>: not a relative link; the page must open from the "
                          "file system, with its files beside it")
            return
        if not (self.base / unquote(parts.path)).is_file():
            self._problem(f"<{tag} {attr}={target!r}>: no such file {self.base / unquote(parts.path)}")

    def finish(self) -> list[str]:
        self.close()
        for tag, line in self.stack:
            self.problems.append(f"{self.name}:{line}: <{tag}> is never closed")
        if not self.doctype:
            self.problems.append(f"{self.name}: no <!DOCTYPE html>")
        for needed in ("html", "head", "title", "body"):
            if needed not in self.seen:
                self.problems.append(f"{self.name}: no <{needed}> element")
        return self.problems


def check_html(text: str, base: Path, name: str = "index.html") -> list[str]:
    """Problems of one page's HTML, resolving relative links against `base`; empty when it is sound."""
    checker = _Checker(base, name)
    checker.feed(text)
    return checker.finish()
