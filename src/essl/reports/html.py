"""Self-contained HTML reports: tables and embedded PNG figures, no scripts, no network.

A report is a list of :class:`Section`; each holds paragraphs, tables and figures. Figures are
embedded as base64 ``data:`` URIs, so the single ``report.html`` file can be mailed, archived
or opened offline.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from essl._io import atomic_open

__all__ = ["Figure", "Section", "Table", "fmt", "render", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d2433;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #d8dee9;padding-bottom:.2em;margin-top:1.8em}
h3{margin-bottom:.3em}.lead{color:#4c566a}.note{color:#5e6779;font-size:.92em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.92em}
th,td{border:1px solid #d8dee9;padding:.3em .6em;text-align:right}th{background:#eceff4}
td:first-child,th:first-child{text-align:left}
figure{margin:1em 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #e5e9f0}figcaption{font-size:.88em;color:#4c566a}
.good{color:#2e7d32}.bad{color:#c62828}.toc a{margin-right:1em}
"""


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Figure:
    path: Path
    """A PNG file, embedded into the page."""
    caption: str = ""


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)


def fmt(v: Any, digits: int = 4) -> str:
    """A number for humans: thousands separators for ints, 4 significant digits for floats."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x, digits) for x in v) + "]"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.{digits}g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in t.rows
    )
    cap = f"<caption class='note'>{html.escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(f: Figure) -> str:
    data = base64.b64encode(Path(f.path).read_bytes()).decode("ascii")
    alt = html.escape(f.caption or Path(f.path).stem)
    return (
        f"<figure><img src='data:image/png;base64,{data}' alt='{alt}'>"
        f"<figcaption>{html.escape(f.caption)}</figcaption></figure>"
    )


def _section(s: Section, level: int) -> str:
    anchor = html.escape(s.title.lower().replace(" ", "-"))
    parts = [f"<h{level} id='{anchor}'>{html.escape(s.title)}</h{level}>"]
    parts += [f"<p>{html.escape(p)}</p>" for p in s.paragraphs]
    parts += [_table(t) for t in s.tables]
    parts += [_figure(f) for f in s.figures]
    parts += [_section(sub, min(level + 1, 4)) for sub in s.subsections]
    return "\n".join(parts)


def render(title: str, lead: str, sections: Sequence[Section]) -> str:
    toc = " ".join(
        f"<a href='#{html.escape(s.title.lower().replace(' ', '-'))}'>{html.escape(s.title)}</a>"
        for s in sections
    )
    body = "\n".join(_section(s, 2) for s in sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='lead'>{html.escape(lead)}</p>"
        f"<p class='toc'>{toc}</p>{body}</body></html>\n"
    )


def write_report(path: str | Path, title: str, lead: str, sections: Sequence[Section]) -> Path:
    """Render and write ``path`` atomically."""
    with atomic_open(path) as f:
        f.write(render(title, lead, sections))
    return Path(path)
