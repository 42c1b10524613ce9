"""Inline SVG line charts: no script, no external resource, readable without a network."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
Series = Sequence[float | None]


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


def line_chart(title: str, xs: Sequence[float], series: Mapping[str, Series], *, x_label: str = "s",
               y_label: str = "", width: int = 760, height: int = 260) -> str:
    """One chart: a line per series (None leaves a gap), axes with five ticks each, a legend on top."""
    left, right, top, bottom = 64, 16, 52, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for ys in series.values() for v in ys if v is not None]
    y_max = _nice_max(max(values, default=0.0))
    x_min, x_max = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x_span = (x_max - x_min) or 1.0

    def px(x: float) -> float:
        return left + (x - x_min) / x_span * plot_w

    def py(y: float) -> float:
        return top + plot_h - y / y_max * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" class="chart">',
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
        parts.append(f'<text x="{width - right}" y="36" font-size="11" text-anchor="end">{escape(y_label)}</text>')
    legend_x = left
    for index, (name, ys) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<rect x="{legend_x}" y="30" width="12" height="3" fill="{colour}"/>'
                     f'<text x="{legend_x + 16}" y="36" font-size="12">{escape(name)}</text>')
        legend_x += 24 + 8 * len(name)
        run: list[str] = []
        for x_point, y_point in zip(xs, ys, strict=False):
            if y_point is None:
                if run:
                    parts.append(_polyline(run, colour))
                run = []
                continue
            run.append(f"{px(x_point):.1f},{py(y_point):.1f}")
        if run:
            parts.append(_polyline(run, colour))
    parts.append("</svg>")
    return "".join(parts)


def _polyline(points: list[str], colour: str) -> str:
    if len(points) == 1:
        x, y = points[0].split(",")
        return f'<circle cx="{x}" cy="{y}" r="2" fill="{colour}"/>'
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(points)}"/>'


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
