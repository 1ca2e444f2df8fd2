"""The report's document model, rendered twice: Markdown and one self-contained HTML file.

Sections that end up with nothing to show are dropped, and what they lacked is listed once at the end under
"Not measured in this run", so a reader can tell "not measured" from "forgotten" without wading through
empty sections. Numeric columns align right, text columns left; the HTML has a table of contents.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOT_MEASURED = "Not measured in this run"
_NUMERIC = re.compile(r"^\s*([-+−]?\d|[-+−]?\.\d|n/a$|-$|not measured$|$)")


@dataclass
class Section:
    title: str
    blocks: list[tuple] = field(default_factory=list)  # ("h3", text) ("p", text) ("ul", items) ("table", ...)
    has_content: bool = False


@dataclass
class Doc:
    title: str
    preamble: list[tuple] = field(default_factory=list)
    body: list[Section] = field(default_factory=list)
    not_measured: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ building

    def section(self, title: str) -> None:
        self.body.append(Section(title))

    @property
    def _blocks(self) -> list[tuple]:
        return self.body[-1].blocks if self.body else self.preamble

    def h3(self, text: str) -> None:
        self._blocks.append(("h3", text))

    def p(self, text: str) -> None:
        self._blocks.append(("p", text))

    def ul(self, items: list[str]) -> None:
        if items:
            self._blocks.append(("ul", list(items)))
            self._present()

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        if not rows:
            return
        self._blocks.append(("table", [str(h) for h in header], [[str(c) for c in r] for r in rows]))
        self._present()

    def fig(self, relpath: str, caption: str) -> None:
        self._blocks.append(("fig", relpath, caption))
        self._present()

    def missing(self, text: str) -> None:
        """Something this section would show that the run did not measure: listed once, at the end."""
        if text not in self.not_measured:
            self.not_measured.append(text)

    def _present(self) -> None:
        if self.body:
            self.body[-1].has_content = True

    # ------------------------------------------------------------ what is shown

    def shown(self) -> list[Section]:
        """Sections with content (their dangling h3s removed), then the "Not measured" list."""
        out = []
        for section in self.body:
            if not section.has_content:
                continue
            blocks = [
                b
                for i, b in enumerate(section.blocks)
                if b[0] != "h3" or _has_content_before_next_heading(section.blocks[i + 1 :])
            ]
            out.append(Section(section.title, blocks, True))
        if self.not_measured:
            out.append(Section(NOT_MEASURED, [("ul", self.not_measured)], True))
        return out

    def sections(self) -> dict[str, str]:
        """h2 title -> present | omitted (everything the builder opened, for the CLI's summary)."""
        shown = {s.title for s in self.shown()}
        return {s.title: "present" if s.title in shown else "omitted" for s in self.body}

    # ------------------------------------------------------------ Markdown

    def to_markdown(self) -> str:
        out = [f"# {self.title}", *(_md_block(b) for b in self.preamble)]
        sections = self.shown()
        for i, section in enumerate(sections):
            out.append(f"## {section.title}")
            out += [_md_block(b) for b in section.blocks]
            if i == 0 and len(sections) > 1:  # contents after the verdict, which must come first
                out.append(
                    "**Contents:** " + " · ".join(f"[{s.title}](#{slug(s.title)})" for s in sections[1:])
                )
        return "\n\n".join(out) + "\n"

    # ------------------------------------------------------------ HTML

    def to_html(self, root: Path) -> str:
        sections = self.shown()
        toc = "".join(
            f'<li><a href="#{slug(s.title)}">{_inline(s.title)}</a>'
            + "".join(
                f'<li class="sub"><a href="#{slug(s.title)}-{slug(b[1])}">{_inline(b[1])}</a>'
                for b in s.blocks
                if b[0] == "h3"
            )
            for s in sections
        )
        body = [f"<h1>{_inline(self.title)}</h1>", *(_html_block(b, root, "") for b in self.preamble)]
        for s in sections:
            body.append(f'<section id="{slug(s.title)}"><h2>{_inline(s.title)}</h2>')
            body += [_html_block(b, root, slug(s.title)) for b in s.blocks]
            body.append("</section>")
        return _HTML_PAGE.format(title=html.escape(self.title), toc=toc, body="\n".join(body))


def _has_content_before_next_heading(blocks: list[tuple]) -> bool:
    for b in blocks:
        if b[0] == "h3":
            return False
        if b[0] in ("table", "fig", "ul"):
            return True
    return False


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def numeric_columns(rows: list[list[str]]) -> list[bool]:
    """A column is numeric when every cell starts like a number (or is n/a, - or empty) and one is a
    number."""
    if not rows:
        return []
    cols = list(zip(*rows))
    return [
        all(_NUMERIC.match(c) for c in col) and any(re.match(r"^\s*[-+−]?\.?\d", c) for c in col)
        for col in cols
    ]


def _md_block(block: tuple) -> str:
    kind = block[0]
    if kind == "h3":
        return f"### {block[1]}"
    if kind == "p":
        return block[1]
    if kind == "ul":
        return "\n".join(f"- {item}" for item in block[1])
    if kind == "table":
        header, rows = block[1], block[2]
        align = numeric_columns(rows)
        lines = ["| " + " | ".join(header) + " |", "|" + "".join("---:|" if a else "---|" for a in align)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        return "\n".join(lines)
    return f"![{block[2]}]({block[1]})\n\n*{block[2]}*"


def _html_block(block: tuple, root: Path, section_slug: str) -> str:
    kind = block[0]
    if kind == "h3":
        return f'<h3 id="{section_slug}-{slug(block[1])}">{_inline(block[1])}</h3>'
    if kind == "p":
        return f"<p>{_inline(block[1])}</p>"
    if kind == "ul":
        return "<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>"
    if kind == "table":
        align = numeric_columns(block[2])
        head = "".join(
            f'<th class="{"num" if a else "txt"}">{_inline(h)}</th>' for h, a in zip(block[1], align)
        )
        rows = "".join(
            "<tr>"
            + "".join(f'<td class="{"num" if a else "txt"}">{_inline(c)}</td>' for c, a in zip(r, align))
            + "</tr>"
            for r in block[2]
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    data = base64.b64encode((root / block[1]).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_inline(block[2])}</figcaption></figure>"
    )


def _inline(text: str) -> str:
    """Escape, then the bits of Markdown the report uses inline: **bold**, `code` and [text](#anchor)."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\[([^\]]+)\]\((#[a-z0-9-]+)\)", r'<a href="\2">\1</a>', text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; line-height: 1.35; }}
nav {{ position: fixed; top: 0; left: 0; bottom: 0; width: 210px; overflow-y: auto; padding: 0.8em;
       background: #f7f7f7; border-right: 1px solid #ddd; font-size: 0.85em; box-sizing: border-box; }}
nav ul {{ list-style: none; padding: 0; margin: 0; }} nav li {{ margin: 0.25em 0; }}
nav li.sub {{ margin-left: 1em; font-size: 0.92em; }} nav a {{ color: #0645ad; text-decoration: none; }}
main {{ margin-left: 210px; padding: 0 1.5em 2em; max-width: 1150px; }}
h1 {{ font-size: 1.45em; margin: 0.6em 0 0.3em; }} h2 {{ font-size: 1.25em; margin: 1.2em 0 0.4em;
       border-bottom: 1px solid #ddd; }} h3 {{ font-size: 1.05em; margin: 1em 0 0.3em; }}
p, ul {{ margin: 0.35em 0; }}
table {{ border-collapse: collapse; margin: 0.5em 0; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 7px; vertical-align: top; }}
th {{ background: #f2f2f2; }} .num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.txt {{ text-align: left; }}
img {{ max-width: 100%; }} figure {{ margin: 0.8em 0; }} figcaption {{ color: #555; font-size: 0.9em; }}
code {{ background: #f5f5f5; padding: 0 3px; }}
@media (max-width: 900px) {{ nav {{ position: static; width: auto; }} main {{ margin-left: 0; }} }}
</style></head><body>
<nav><strong>Contents</strong><ul>{toc}</ul></nav>
<main>
{body}
</main>
</body></html>
"""
