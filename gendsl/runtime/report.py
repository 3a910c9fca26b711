"""OUT/report.html: one self-contained page about a training run.

It reads what the run left in its folder (losses.csv, metrics.json, samples/epoch_NNN.png,
other figures) and shows the model's graph, the loss curves (drawn here as inline SVG), the
sample grids over the epochs, the metrics, the command line and the environment. Every
image is inlined as a data: URI, so the page can be mailed or attached to a CI run alone.

Standard library only, like the rest of the runtime that generated code copies: the page
is written the same with or without matplotlib, torch or gendsl installed.

    from report import write_report
    write_report("runs/vae", command=sys.argv, graph="generated/vae/graph.svg")
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
import platform
import re
import sys
from pathlib import Path

INDEX_COLUMNS = ("step", "epoch", "split", "batch", "iteration", "time", "lr")
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def write_report(out_dir, command=None, graph=None, title=None, spec_text=None) -> Path:
    """Write OUT/report.html and return its path.

    command: the command line (a list of arguments or a string), shown as run;
    graph: the model's graph as SVG text, or a path to an .svg/.png file; by default
           OUT/graph.svg or graph.svg beside this file, when there is one;
    title: the page title (default: the folder's name);
    spec_text: the spec, shown at the end.
    """
    out = Path(out_dir)
    name = title or out.resolve().name
    sections = [
        _section("Model", _graph(out, graph)),
        _section("Loss curves", _losses(out / "losses.csv")),
        _section("Samples over epochs", _samples(out / "samples")),
        _section("Other figures", _figures(out)),
        _section("Metrics", _metrics(out / "metrics.json")),
        _section("Command line", _command(command)),
        _section("Environment", _environment()),
    ]
    if spec_text:
        sections.append(_section("Spec", f"<pre>{html.escape(spec_text)}</pre>"))
    page = _PAGE.format(title=html.escape(f"{name}: training report"), name=html.escape(name),
                        body="\n".join(sections))
    target = out / "report.html"
    out.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(".report.html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)
    return target


# ---- pieces --------------------------------------------------------------------------------

def _section(heading: str, body: str) -> str:
    return f'<section><h2>{html.escape(heading)}</h2>\n{body}\n</section>'


def _missing(what: str) -> str:
    return f'<p class="missing">{html.escape(what)}</p>'


def _data_uri(path: Path) -> str:
    kind = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg",
            ".jpeg": "image/jpeg"}
    mime = kind.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _img(uri: str, alt: str, cls: str = "") -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}"' + (f' class="{cls}"' if cls else "") + ">"


def _graph(out: Path, graph) -> str:
    if graph is None:
        for candidate in (out / "graph.svg", Path(__file__).with_name("graph.svg")):
            if candidate.exists():
                graph = candidate
                break
    if graph is None:
        return _missing("no graph: `gendsl run` adds it, or `gendsl report RUN --spec SPEC` "
                        "(or train.py --report-graph with the SVG of `gendsl graph SPEC "
                        "--format svg`)")
    svg_text = isinstance(graph, bytes) or (
        isinstance(graph, str) and graph.lstrip().startswith("<"))
    if svg_text:
        data = graph if isinstance(graph, bytes) else graph.encode("utf-8")
        uri = "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii")
    else:
        uri = _data_uri(Path(graph))
    return _img(uri, "the model's graph", "graph")


def read_rows(path: Path) -> list[dict]:
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row = {}
            for k, v in raw.items():
                if k is None or v in (None, ""):
                    continue
                try:
                    row[k] = float(v)
                except ValueError:
                    row[k] = v
            rows.append(row)
    return rows


def _losses(path: Path) -> str:
    if not path.exists():
        return _missing("no losses.csv in this run")
    rows = read_rows(path)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    x_key = next((k for k in ("step", "epoch") if k in columns), None)
    terms = [k for k in columns
             if k not in INDEX_COLUMNS and all(isinstance(r.get(k, 0.0), float) for r in rows)]
    if not rows or not terms:
        return _missing("losses.csv holds no rows yet")
    charts = []
    for term in terms:
        series = {}
        for i, row in enumerate(rows):
            if term in row and math.isfinite(row[term]):
                x = row.get(x_key, i) if x_key else i
                series.setdefault(str(row.get("split", "train")), []).append((float(x), row[term]))
        if series:
            charts.append(_chart(term, series, x_key or "row"))
    return '<div class="charts">' + "\n".join(charts) + "</div>"


def _chart(term: str, series: dict, x_label: str, width: int = 360, height: int = 220) -> str:
    """A line chart as inline SVG: train as a line, other splits as dots on a dashed line."""
    left, right, top, bottom = 52, 10, 24, 30
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def sx(x):
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y):
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    name, base = html.escape(term), height - bottom
    parts = [f'<svg class="chart" role="img" aria-label="{name}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{width / 2}" y="15" text-anchor="middle" class="title">{name}</text>',
             f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" class="axis"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" class="axis"/>',
             f'<text x="{left - 4}" y="{sy(y1) + 4:.1f}" text-anchor="end">{_num(y1)}</text>',
             f'<text x="{left - 4}" y="{sy(y0) + 4:.1f}" text-anchor="end">{_num(y0)}</text>',
             f'<text x="{left}" y="{height - 12}" text-anchor="start">{_num(x0)}</text>',
             f'<text x="{width - right}" y="{height - 12}" text-anchor="end">{_num(x1)}</text>',
             f'<text x="{(left + width) / 2}" y="{height - 2}" text-anchor="middle">'
             f'{html.escape(x_label)}</text>']
    for k, (split, pts) in enumerate(sorted(series.items(), key=lambda s: s[0] != "train")):
        color = _PALETTE[k % len(_PALETTE)]
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        dash = "" if split == "train" else ' stroke-dasharray="4 3"'
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} '
                     f'points="{points}"/>')
        if split != "train" or len(pts) == 1:
            parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>'
                      for x, y in pts]
        parts.append(f'<text x="{width - right}" y="{top + 12 * (k + 1)}" text-anchor="end" '
                     f'fill="{color}">{html.escape(split)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _num(x: float) -> str:
    return f"{x:.4g}"


def _epoch_of(path: Path) -> str:
    m = re.search(r"(\d+)", path.stem)
    return f"epoch {int(m.group(1))}" if m else path.stem


def _samples(folder: Path) -> str:
    kinds = (".png", ".svg", ".jpg", ".jpeg")
    images = sorted(p for p in folder.glob("*") if p.suffix.lower() in kinds) \
        if folder.is_dir() else []
    if not images:
        return _missing("no sample grids in samples/")
    last = images[-1]
    figures = "\n".join(f'<figure>{_img(_data_uri(p), f"samples, {_epoch_of(p)}")}'
                        f'<figcaption>{_epoch_of(p)}</figcaption></figure>' for p in images)
    latest = _img(_data_uri(last), f"latest samples, {_epoch_of(last)}")
    return (f'<figure class="latest">{latest}<figcaption>latest: {_epoch_of(last)}</figcaption>'
            f'</figure>\n<div class="grid">{figures}</div>')


def _figures(out: Path) -> str:
    images = sorted(p for p in out.glob("*.png") if p.name != "losses.png")
    if not images:
        return _missing("none")
    return '<div class="grid">' + "\n".join(
        f'<figure>{_img(_data_uri(p), p.stem)}<figcaption>{html.escape(p.name)}</figcaption>'
        '</figure>' for p in images) + "</div>"


def _metrics(path: Path) -> str:
    if not path.exists():
        return _missing("no metrics.json: the run has not finished")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return _missing(f"metrics.json cannot be read: {exc}")
    rows = []
    for key, value in metrics.items():
        if isinstance(value, float):
            shown = _num(value)
        else:
            shown = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(shown)}</td></tr>")
    return '<table class="metrics">' + "".join(rows) + "</table>"


def _command(command) -> str:
    if command is None:
        return _missing("not recorded")
    if not isinstance(command, str):
        import shlex

        command = shlex.join(str(c) for c in command)
    return f"<pre>{html.escape(command)}</pre>"


def _environment() -> str:
    from importlib import metadata

    rows = [("python", sys.version.split()[0]), ("platform", platform.platform()),
            ("processor", platform.machine()), ("cpus", str(os.cpu_count()))]
    for package in ("torch", "torchvision", "numpy", "gendsl"):
        try:
            rows.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            pass
    # only when the run imported torch: reading the device costs nothing then
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        rows.append(("device", torch.cuda.get_device_name(0)))
    return '<table class="environment">' + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows) \
        + "</table>"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem;
        color: #1e293b; }}
h1 {{ font-size: 1.6rem; }}
h2 {{ font-size: 1.2rem; border-bottom: 1px solid #cbd5e1; padding-bottom: .2rem; }}
img {{ max-width: 100%; image-rendering: pixelated; }}
img.graph {{ image-rendering: auto; max-height: 900px; }}
.grid {{ display: flex; flex-wrap: wrap; gap: .8rem; }} .grid figure {{ margin: 0; width: 180px; }}
.latest img {{ width: 360px; }} figcaption {{ font-size: .85rem; color: #475569; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
svg.chart text {{ font-size: 10px; fill: #334155; }}
svg.chart text.title {{ font-size: 12px; font-weight: 600; }}
svg.chart .axis {{ stroke: #94a3b8; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: .2rem .8rem .2rem 0; font-size: .9rem; }}
th {{ color: #475569; font-weight: 500; }}
pre {{ background: #f1f5f9; padding: .6rem; overflow-x: auto; }}
.missing {{ color: #64748b; font-style: italic; }}
</style>
</head>
<body>
<h1>{name}</h1>
{body}
</body>
</html>
"""
