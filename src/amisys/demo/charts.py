"""Small self-contained SVG charts for the run report (no plotting library, no scripts)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 720, 240, 44
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _frame(title: str, body: str, y_label: str, x_label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>"
        f'<rect x="{PAD}" y="10" width="{WIDTH - PAD - 10}" height="{HEIGHT - PAD - 10}" fill="none" stroke="#888"/>'
        f'<text x="6" y="{HEIGHT / 2}" transform="rotate(-90 10 {HEIGHT / 2})">{escape(y_label)}</text>'
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle">{escape(x_label)}</text>'
        f"{body}</svg>"
    )


def lines(
    title: str, series: dict[str, Sequence[float]], *, y_label: str, x_label: str, x_ticks: Sequence[str] = ()
) -> str:
    """One polyline per series over a shared index axis, with min/max y labels and a legend."""
    values = [v for s in series.values() for v in s]
    if not values:
        return _frame(title, f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}">no data</text>', y_label, x_label)
    lo, hi = min(values), max(values)
    n = max(len(s) for s in series.values())
    x0, x1, y0, y1 = PAD, WIDTH - 10, HEIGHT - PAD, 10
    body = []
    for k, (name, s) in enumerate(series.items()):
        pts = " ".join(
            f"{x0 + (x1 - x0) * i / max(1, n - 1):.1f},{y0 - (y0 - y1) * ((v - lo) / ((hi - lo) or 1)):.1f}"
            for i, v in enumerate(s)
        )
        colour = COLOURS[k % len(COLOURS)]
        body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.4" points="{pts}"/>')
        body.append(f'<text x="{x0 + 8 + 150 * k}" y="24" fill="{colour}">{escape(name)}</text>')
    body.append(f'<text x="{x0 - 4}" y="{y1 + 10}" text-anchor="end">{hi:.0f}</text>')
    body.append(f'<text x="{x0 - 4}" y="{y0}" text-anchor="end">{lo:.0f}</text>')
    for i, tick in enumerate(x_ticks):
        x = x0 + (x1 - x0) * i / max(1, len(x_ticks) - 1)
        body.append(f'<text x="{x:.1f}" y="{y0 + 14}" text-anchor="middle">{escape(tick)}</text>')
    return _frame(title, "".join(body), y_label, x_label)


def timeline(title: str, bars: Sequence[tuple[str, float, float]], *, span_h: float, x_label: str) -> str:
    """Horizontal bars (label, start hour, end hour) over [0, span_h] hours."""
    if not bars:
        return _frame(title, f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}">none</text>', "", x_label)
    x0, x1 = PAD + 120, WIDTH - 10
    fits = int((HEIGHT - PAD - 20) // 13)  # rows of readable labels; the longest outages are kept
    shown = sorted(sorted(bars, key=lambda b: b[1] - b[2])[:fits], key=lambda b: b[1])
    row = min(18.0, (HEIGHT - PAD - 20) / len(shown))
    body = []
    if len(shown) < len(bars):
        body.append(
            f'<text x="{x1}" y="{HEIGHT - PAD - 4}" text-anchor="end">{len(bars) - len(shown)} shorter not shown</text>'
        )
    for k, (label, start, end) in enumerate(shown):
        y = 16 + k * row
        a = x0 + (x1 - x0) * max(0.0, start) / span_h
        b = x0 + (x1 - x0) * min(span_h, max(end, start + span_h / 400)) / span_h
        body.append(f'<rect x="{a:.1f}" y="{y:.1f}" width="{b - a:.1f}" height="{row * 0.7:.1f}" fill="#d62728"/>')
        body.append(f'<text x="{PAD + 2}" y="{y + row * 0.6:.1f}">{escape(label[:22])}</text>')
    for day in range(int(span_h // 24) + 1):
        x = x0 + (x1 - x0) * day * 24 / span_h
        body.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{HEIGHT - PAD}" stroke="#ddd"/>')
        body.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle">d{day}</text>')
    return _frame(title, "".join(body), "", x_label)
