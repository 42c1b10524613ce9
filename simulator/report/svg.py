"""Inline SVG line charts: no script, no external resource, readable without a network."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")
DASHES = ("", "7 4", "2 3", "9 3 2 3", "4 2", "1 4")  # a line hidden under another still shows its gaps
MARKERS = ("circle", "square", "diamond", "triangle", "cross", "circle")
MARKED_POINTS = 90  # markers on every point up to this many points per series (low rates: few points)
Series = Sequence[float | None]


@dataclass(frozen=True)
class Style:
    colour: str
    dash: str = ""
    marker: str = "circle"
    width: float = 1.8


def default_style(index: int) -> Style:
    return Style(COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)], MARKERS[index % len(MARKERS)])


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == 0 else f"{value:.2g}"


# marker outlines as (dx, dy) offsets in units of the marker's size; "M" starts a new stroke
_OUTLINES: dict[str, list[tuple[float, float] | str]] = {
    "diamond": [(0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0)], "triangle": [(0, -1.3), (1.3, 1), (-1.3, 1)],
    "cross": [(-1, -1), (1, 1), "M", (-1, 1), (1, -1)]}
_PAINT = {"square": 'fill="{c}"', "diamond": 'fill="{c}"', "triangle": 'fill="none" stroke="{c}" stroke-width="1.4"',
          "cross": 'stroke="{c}" stroke-width="1.6"', "circle": 'fill="none" stroke="{c}" stroke-width="1.4"'}


def _marker(shape: str, x: float, y: float, colour: str, size: float = 3.2) -> str:
    paint = _PAINT.get(shape, _PAINT["circle"]).format(c=colour)
    if shape == "square":
        return f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}" {paint}/>'
    if shape in _OUTLINES:
        path, move = "", "M"
        for point in _OUTLINES[shape]:
            if isinstance(point, str):
                move = point
                continue
            dx, dy = point
            path += f"{move}{x + dx * size:.1f} {y + dy * size:.1f}"
            move = "L"
        return f'<path d="{path}{"" if shape == "cross" else "Z"}" {paint}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" {paint}/>'


def line_chart(title: str, xs: Sequence[float], series: Mapping[str, Series], *, x_label: str = "s",
               y_label: str = "", width: int = 640, height: int = 260,
               styles: Mapping[str, Style] | None = None) -> str:
    """One chart: a line per series (None leaves a gap), each with its own colour, dash and marker (markers on
    every point when there are few), axes with five ticks each, a legend on top. The SVG scales to its box
    (viewBox, no fixed size): CSS gives it the page's width."""
    left, right, top, bottom = 56, 16, 60, 36
    rows = _legend_rows(series, width - left - right)
    top += 18 * (rows - 1)
    height += 18 * (rows - 1)
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for ys in series.values() for v in ys if v is not None]
    y_max = _nice_max(max(values, default=0.0))
    x_min, x_max = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x_span = (x_max - x_min) or 1.0

    def px(x: float) -> float:
        return left + (x - x_min) / x_span * plot_w

    def py(y: float) -> float:
        return top + plot_h - y / y_max * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(title)}" class="chart">',
             f'<title>{escape(title)}</title>',
             f'<text x="{left}" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>']
    for i in range(6):
        y_value = y_max * i / 5
        y = py(y_value)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_fmt(y_value)}</text>')
    x_step = _nice_max(x_span / 6)
    x_value = math.ceil(x_min / x_step) * x_step
    while x_value <= x_max + 1e-9:
        x = px(x_value)
        parts.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" stroke="#999"/>'
                     f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle">'
                     f'{_fmt(x_value)}</text>')
        x_value += x_step
    parts.append(f'<text x="{left + plot_w}" y="{height - 4}" font-size="11" text-anchor="end">'
                 f'{escape(x_label)}</text>')
    if y_label:
        parts.append(f'<text x="{left - 6}" y="{top - 8}" font-size="11">{escape(y_label)}</text>')
    if not values:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" font-size="13" text-anchor="middle" '
                     f'fill="#777">no samples</text>')
    legend_x, legend_y = left, 34
    for index, (name, ys) in enumerate(series.items()):
        style = (styles or {}).get(name) or default_style(index)
        entry = 40 + 7 * len(name)
        if legend_x + entry > left + plot_w and legend_x > left:
            legend_x, legend_y = left, legend_y + 18
        dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
        parts.append(f'<g class="legend"><line x1="{legend_x}" y1="{legend_y - 4}" x2="{legend_x + 24}" '
                     f'y2="{legend_y - 4}" stroke="{style.colour}" stroke-width="{style.width}"{dash}/>'
                     + _marker(style.marker, legend_x + 12, legend_y - 4, style.colour)
                     + f'<text x="{legend_x + 30}" y="{legend_y}" font-size="12">{escape(name)}</text></g>')
        legend_x += entry
        points = [(px(x), py(y)) for x, y in zip(xs, ys, strict=False) if y is not None]
        parts.append(f'<g class="series" data-name="{escape(name)}">')
        run: list[str] = []
        for x_point, y_point in zip(xs, ys, strict=False):
            if y_point is None:
                if run:
                    parts.append(_polyline(run, style))
                run = []
                continue
            run.append(f"{px(x_point):.1f},{py(y_point):.1f}")
        if run:
            parts.append(_polyline(run, style))
        if len(points) <= MARKED_POINTS:
            parts.extend(_marker(style.marker, x, y, style.colour) for x, y in points)
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _legend_rows(series: Mapping[str, Series], room: float) -> int:
    rows, x = 1, 0.0
    for name in series:
        entry = 40 + 7 * len(name)
        if x + entry > room and x > 0:
            rows, x = rows + 1, 0.0
        x += entry
    return rows


def _polyline(points: list[str], style: Style) -> str:
    if len(points) == 1:  # one point: its marker shows it
        return ""
    dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
    return (f'<polyline fill="none" stroke="{style.colour}" stroke-width="{style.width}"{dash} '
            f'stroke-linejoin="round" points="{" ".join(points)}"/>')


def rebin(xs: Sequence[float], series: Mapping[str, Series], limit: int = 600,
          how: str = "mean") -> tuple[list[float], dict[str, list[float | None]]]:
    """At most `limit` points: consecutive points are combined by mean (counts) or max (percentiles)."""
    width = max(1, math.ceil(len(xs) / limit))
    new_xs = [float(xs[i]) for i in range(0, len(xs), width)]
    out: dict[str, list[float | None]] = {}
    for name, ys in series.items():
        combined: list[float | None] = []
        for i in range(0, len(ys), width):
            chunk = [v for v in ys[i:i + width] if v is not None]
            if not chunk:
                combined.append(None)
            else:
                combined.append(max(chunk) if how == "max" else sum(chunk) / len(chunk))
        out[name] = combined
    return new_xs, out
