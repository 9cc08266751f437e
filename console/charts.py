"""Inline SVG charts drawn on the server (no JavaScript): line charts over time and daily bar charts.

Every chart has a <title> and a <desc> that says its numbers, and the pages print the numbers as text
too; only numbers and escaped text are interpolated into the markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape

from core.clock import to_local


def downsample(points: Sequence[tuple[dt.datetime, float]], *, since: dt.datetime, until: dt.datetime,
               max_points: int) -> list[tuple[dt.datetime, float]]:
    """At most `max_points` points: the points themselves when few, else the mean of equal time buckets."""
    if len(points) <= max_points:
        return list(points)
    span = (until - since).total_seconds() or 1.0
    buckets: dict[int, list[tuple[float, float]]] = {}
    for ts, value in points:
        index = min(max_points - 1, max(0, int((ts - since).total_seconds() / span * max_points)))
        buckets.setdefault(index, []).append(((ts - since).total_seconds(), value))
    out = []
    for index in sorted(buckets):
        members = buckets[index]
        offset = sum(m[0] for m in members) / len(members)
        out.append((since + dt.timedelta(seconds=offset), sum(m[1] for m in members) / len(members)))
    return out


def line_svg(
    values: Sequence[tuple[dt.datetime, float]], *, since: dt.datetime, until: dt.datetime, lo: float, hi: float,
    width: int, height: int, label: str, guides: Sequence[float] = (), axis: bool = False, css: str = "spark",
    desc: str = "", unit: str = "",
) -> Markup:
    """An inline SVG line chart of (time, value) pairs; `data-points` says how many points it draws.

    `label` is its title and `desc` a sentence with its numbers, for people who cannot see it; `unit`
    follows the axis numbers ("%").
    """
    pad_left, pad_bottom = (44, 18) if axis else (0, 0)
    plot_w, plot_h = width - pad_left, height - pad_bottom
    span = (until - since).total_seconds() or 1.0
    lo = min([lo, *(v for _, v in values)])
    hi = max([hi, *(v for _, v in values)])
    rng = (hi - lo) or 1.0

    def x(ts: dt.datetime) -> float:
        return pad_left + max(0.0, min(1.0, (ts - since).total_seconds() / span)) * plot_w

    def y(value: float) -> float:
        return 2 + (1 - (value - lo) / rng) * (plot_h - 4)

    coords = " ".join(f"{x(ts):.1f},{y(v):.1f}" for ts, v in values)
    parts = [f'<svg class="{escape(css)}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" data-points="{len(values)}">',
             f"<title>{escape(label)}</title>"]
    if desc:
        parts.append(f"<desc>{escape(desc)}</desc>")
    for guide in guides:
        if lo <= guide <= hi:
            parts.append(f'<line x1="{pad_left}" x2="{width}" y1="{y(guide):.1f}" y2="{y(guide):.1f}" '
                         f'stroke="#b00020" stroke-dasharray="4 3" stroke-width="1"/>')
            if axis:
                parts.append(f'<text x="{pad_left - 4}" y="{y(guide) + 4:.1f}" text-anchor="end" '
                             f'font-size="12" fill="#b00020">{guide:g}</text>')
    if axis:
        parts.append(f'<line x1="{pad_left}" x2="{pad_left}" y1="0" y2="{plot_h}" stroke="#555"/>')
        parts.append(f'<line x1="{pad_left}" x2="{width}" y1="{plot_h}" y2="{plot_h}" stroke="#555"/>')
        for value in (lo, hi):
            parts.append(f'<text x="{pad_left - 4}" y="{min(plot_h, max(12.0, y(value) + 4)):.1f}" '
                         f'text-anchor="end" font-size="12" fill="#333">{value:g}{escape(unit)}</text>')
        for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
            when = since + dt.timedelta(seconds=span * frac)
            fmt = "%H:%M" if span <= 2 * 86400 else "%m-%d"
            anchor = "start" if frac == 0 else ("end" if frac == 1 else "middle")
            parts.append(f'<text x="{pad_left + frac * plot_w:.1f}" y="{height - 3}" text-anchor="{anchor}" '
                         f'font-size="12" fill="#333">{to_local(when).strftime(fmt)}</text>')
    if len(values) == 1:
        ts, v = values[0]
        parts.append(f'<circle cx="{x(ts):.1f}" cy="{y(v):.1f}" r="2.5" fill="#0b4f9c"/>')
    if values:
        parts.append(f'<polyline fill="none" stroke="#0b4f9c" stroke-width="2" points="{coords}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - only numbers and escaped text are interpolated




def bars_svg(days: Sequence[dt.date], series: Sequence[tuple[str, Sequence[float], str]], *, width: int,
             height: int, label: str, desc: str = "", css: str = "chart") -> Markup:
    """Grouped bars per day: `series` is (name, one value per day, colour); a legend names each series."""
    pad_left, pad_bottom, pad_top = 30, 18, 18
    plot_w, plot_h = width - pad_left, height - pad_bottom - pad_top
    top = max([1.0, *(v for _, values, _ in series for v in values)])
    slot = plot_w / max(1, len(days))
    bar = max(1.0, slot * 0.8 / max(1, len(series)))
    parts = [f'<svg class="{escape(css)}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" data-bars="{len(days)}">',
             f"<title>{escape(label)}</title>"]
    if desc:
        parts.append(f"<desc>{escape(desc)}</desc>")
    legend_x = pad_left
    for name, _, colour in series:
        parts.append(f'<rect x="{legend_x}" y="3" width="12" height="12" fill="{escape(colour)}"/>'
                     f'<text x="{legend_x + 16}" y="14" font-size="12" fill="#333">{escape(name)}</text>')
        legend_x += 16 + 14 * len(name) + 16
    base = pad_top + plot_h
    parts.append(f'<line x1="{pad_left}" x2="{width}" y1="{base}" y2="{base}" stroke="#555"/>')
    parts.append(f'<text x="{pad_left - 4}" y="{pad_top + 10}" text-anchor="end" font-size="12" fill="#333">'
                 f'{top:g}</text><text x="{pad_left - 4}" y="{base}" text-anchor="end" font-size="12" '
                 f'fill="#333">0</text>')
    for index, day in enumerate(days):
        for position, (name, values, colour) in enumerate(series):
            value = values[index]
            h = plot_h * value / top
            x = pad_left + index * slot + slot * 0.1 + position * bar
            parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{escape(colour)}"><title>{day.strftime("%m-%d")} {escape(name)} '
                         f'{value:g}</title></rect>')
        if (len(days) - 1 - index) % max(1, len(days) // 7) == 0:  # evenly spaced, ending on the last day
            last = index == len(days) - 1  # right-aligned so it is not cut off at the edge
            parts.append(f'<text x="{width if last else pad_left + (index + 0.5) * slot:.1f}" y="{height - 3}" '
                         f'text-anchor="{"end" if last else "middle"}" font-size="12" fill="#333">'
                         f'{day.strftime("%m-%d")}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - only numbers and escaped text are interpolated

