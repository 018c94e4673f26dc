"""A self-contained HTML page of figures and tables: plotly.js inline once, no external scripts.

plotly.js (4.8 MB) and the figures travel gzip-compressed and base64-encoded inside the page;
a small loader inflates them with the browser's ``DecompressionStream`` and draws every
figure. This keeps a one-year report under 3 MB and still opens offline.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from socbal.report.png import write_pngs
from socbal.resultfiles import write_atomic
from socbal.wording import fixed

log = logging.getLogger(__name__)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 1.5rem 2rem 3rem; color: #222; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
p.subtitle, p.note { color: #555; margin-top: .2rem; }
nav a { margin-right: 1rem; font-size: .9rem; }
.figure { margin: 1rem 0 .3rem; }
.tables { display: flex; flex-wrap: wrap; gap: 2rem; align-items: flex-start; overflow-x: auto; }
table.data { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
table.data caption { text-align: left; font-weight: 600; padding-bottom: .3rem; }
table.data th, table.data td { border-bottom: 1px solid #e4e4e4; padding: .25rem .7rem; text-align: right; }
table.data th:first-child, table.data td:first-child { text-align: left; }
table.data thead th { border-bottom: 2px solid #aaa; }
footer { margin-top: 3rem; color: #888; font-size: .8rem; }
.headline { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0; }
.headline div { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .9rem; min-width: 9rem; }
.headline b { display: block; font-size: 1.3rem; }
.headline span { color: #555; font-size: .85rem; }
"""

#: The loader: inflate plotly.js and the figures, then draw each figure into its div.
_LOADER = """
(async () => {
  const inflate = async (id) => {
    const bytes = Uint8Array.from(atob(document.getElementById(id).textContent.trim()), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  };
  const lib = document.createElement("script");
  lib.textContent = await inflate("socbal-plotlyjs");
  document.head.appendChild(lib);
  const figures = JSON.parse(await inflate("socbal-figures"));
  for (const [id, fig] of Object.entries(figures)) {
    await Plotly.newPlot(id, fig.data, fig.layout, fig.config);
  }
  document.body.dataset.plottedMs = String(Math.round(performance.now()));
  document.dispatchEvent(new Event("socbal:plotted"));
})();
"""


def _packed(text: str) -> str:
    """Text gzip-compressed, then base64 (ASCII, safe inside a script element)."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


@functools.lru_cache(maxsize=1)
def _plotlyjs_packed() -> str:
    """plotly.js (the version the Python package ships), packed once per process."""
    return _packed(get_plotlyjs())


def _slug(text: str) -> str:
    """An HTML id from a heading."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def table_html(frame: pd.DataFrame, caption: str = "", digits: int = 3, index: bool = True) -> str:
    """A DataFrame as an HTML table (numbers rounded, NaN = the event never happened, shown as —)."""
    body = frame.to_html(
        classes="data",
        border=0,
        index=index,
        index_names=False,
        na_rep="—",
        escape=True,
        float_format=lambda v: fixed(v, digits),
    )
    head = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return re.sub(r"<table[^>]*>", lambda _: f'<table class="data">{head}', body, count=1)


@dataclass
class ReportPage:
    """An HTML report assembled from headings, text, plotly figures and tables, in order.

    >>> page = ReportPage("Strategies compared", subtitle="one year, household load")
    >>> page.add_heading("SOC spread"); page.add_figure("spread", fig)
    >>> page.add_table(table, caption="Headline metrics"); page.write("compare.html")

    The written file is self-contained: plotly.js is embedded once, nothing is fetched.
    Figures keep their names so :func:`socbal.report.write_pngs` can export them.
    """

    title: str
    subtitle: str = ""
    blocks: list[tuple[str, str]] = field(default_factory=list)  # (kind, text, figure name or HTML)
    figures: dict[str, go.Figure] = field(default_factory=dict)

    def add_heading(self, text: str) -> "ReportPage":
        """A section heading (also listed in the page's navigation)."""
        self.blocks.append(("heading", text))
        return self

    def add_text(self, text: str) -> "ReportPage":
        """A paragraph of plain text (escaped)."""
        self.blocks.append(("text", text))
        return self

    def add_figure(self, name: str, figure: go.Figure) -> "ReportPage":
        """A plotly figure; ``name`` identifies it (HTML id, PNG file name)."""
        if name in self.figures:
            raise ValueError(f"a figure named {name!r} is already on the page")
        self.figures[name] = figure
        self.blocks.append(("figure", name))
        return self

    def add_table(self, frame: pd.DataFrame, caption: str = "", digits: int = 3, index: bool = True) -> "ReportPage":
        """A table; tables added one after the other sit side by side."""
        self.blocks.append(("table", table_html(frame, caption, digits, index)))
        return self

    def add_html(self, fragment: str) -> "ReportPage":
        """A trusted HTML fragment, inserted as is (must not load external resources)."""
        self.blocks.append(("html", fragment))
        return self

    def to_html(self) -> str:
        """The whole page as one self-contained HTML string."""
        parts: list[str] = []
        headings = [text for kind, text in self.blocks if kind == "heading"]
        if headings:
            parts.append("<nav>" + "".join(f'<a href="#{_slug(h)}">{html.escape(h)}</a>' for h in headings) + "</nav>")
        in_tables = False
        for kind, content in self.blocks:
            if kind == "table" and not in_tables:
                parts.append('<div class="tables">')
                in_tables = True
            elif kind != "table" and in_tables:
                parts.append("</div>")
                in_tables = False
            if kind == "heading":
                parts.append(f'<h2 id="{_slug(content)}">{html.escape(content)}</h2>')
            elif kind == "text":
                parts.append(f'<p class="note">{html.escape(content)}</p>')
            elif kind == "figure":
                div_id = f"fig-{_slug(content)}"
                height = self.figures[content].layout.height or 450
                parts.append(f'<div class="figure"><div id="{div_id}" style="width:100%;height:{height}px"></div></div>')
            else:  # table, html
                parts.append(content)
        if in_tables:
            parts.append("</div>")
        subtitle = f'<p class="subtitle">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(self.title)}</h1>\n{subtitle}\n"
            + "\n".join(parts)
            + self._scripts()
            + "\n<footer>Made by socbal from recorded results; interactive plots work offline.</footer>\n</body>\n</html>\n"
        )

    def _scripts(self) -> str:
        """The packed plotly.js, the packed figures and the loader (nothing when the page has no figure)."""
        if not self.figures:
            return ""
        config = {"displaylogo": False, "responsive": True}
        figures = {
            f"fig-{_slug(name)}": {
                **json.loads(pio.to_json(fig, validate=False)),
                "config": {**config, "toImageButtonOptions": {"format": "png", "filename": name}},
            }
            for name, fig in self.figures.items()
        }
        return (
            f'\n<script type="application/octet-stream" id="socbal-plotlyjs">{_plotlyjs_packed()}</script>'
            f'\n<script type="application/octet-stream" id="socbal-figures">{_packed(json.dumps(figures))}</script>'
            f"\n<script>{_LOADER}</script>"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page atomically (temporary file, then rename); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.to_html().encode("utf-8")
        write_atomic(path, lambda f: f.write(text))
        log.info("wrote %s (%.1f MB)", path, len(text) / 1e6)
        return path


def write_page(
    page: ReportPage, html_path: str | Path, png_dir: str | Path | None = None, png_figures: Iterable[str] | None = None
) -> tuple[Path, list[Path]]:
    """Write a page as HTML and, when ``png_dir`` is given, its figures (all, or ``png_figures``) as PNG."""
    html_path = page.write(html_path)
    pngs: list[Path] = []
    if png_dir is not None:
        names = list(png_figures) if png_figures is not None else list(page.figures)
        pngs = write_pngs({n: page.figures[n] for n in names if n in page.figures}, png_dir)
    return html_path, pngs
