"""Small inline SVG charts (no JavaScript, no CDN, any script renders: the browser draws text).

Every label is escaped with :func:`markupsafe.escape` before it goes into the markup, so
the returned :class:`~markupsafe.Markup` is safe to embed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from analytics.core.vocabulary import RISK_LEVEL_HIGH, RISK_LEVEL_LOW, RISK_LEVEL_MEDIUM

PALETTE = ("#2f7d4f", "#c8772e", "#3f6fb5", "#b23a48", "#7a5ea8", "#4b9b9b", "#8c8c3a", "#666")
RISK_COLORS = {RISK_LEVEL_LOW: "#2f7d4f", RISK_LEVEL_MEDIUM: "#d9a441", RISK_LEVEL_HIGH: "#b23a48"}
"""The colour of each churn-risk band (the same green, amber and red as the chips)."""
WIDTH = 560
HEIGHT = 220
PAD_LEFT = 44
PAD_RIGHT = 12
PAD_TOP = 14
PAD_BOTTOM = 38


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def _empty(title: str) -> Markup:
    return Markup(
        '<svg class="chart" viewBox="0 0 {w} 60" role="img" aria-label="{t}">'
        '<text x="10" y="35" class="muted">—</text></svg>'
    ).format(w=WIDTH, t=title)


def hbar_chart(items: Sequence[tuple[str, float]], title: str) -> Markup:
    """Horizontal bars, one per (label, value)."""
    if not items:
        return _empty(title)
    row = 24
    height = PAD_TOP + row * len(items) + 8
    label_w = 150
    top = max(v for _, v in items) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'
    ]
    for i, (label, value) in enumerate(items):
        y = PAD_TOP + i * row
        w = (WIDTH - label_w - 60) * value / top
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{color}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}">{escape(_fmt(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _axes(labels: Sequence[str], top: float, suffix: str) -> list[str]:
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    parts = []
    for k in range(5):
        value = top * k / 4
        y = PAD_TOP + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(value))}{escape(suffix)}</text>"
        )
    step = max(1, len(labels) // 8)
    n = max(1, len(labels))
    for i, label in enumerate(labels):
        if i % step:
            continue
        x = PAD_LEFT + plot_w * (i + 0.5) / n
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" text-anchor="middle">{escape(label)}</text>'
        )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    x = PAD_LEFT
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 5}">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return parts


def line_chart(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str, suffix: str = ""
) -> Markup:
    """One line per series over the same x labels."""
    if not labels or not series:
        return _empty(title)
    top = max((max(v) if v else 0) for v in series.values()) or 1
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    n = len(labels)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        *_axes(labels, top, suffix),
    ]
    for i, (_, values) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        points = " ".join(
            f"{PAD_LEFT + plot_w * (j + 0.5) / n:.1f},{PAD_TOP + plot_h - plot_h * v / top:.1f}"
            for j, v in enumerate(values)
        )
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
    if len(series) > 1:
        parts.extend(_legend(list(series)))
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bars(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    colors: Mapping[str, str] | None = None,
) -> Markup:
    """Stacked columns: one column per label, one stack segment per series.

    Args:
        labels: The columns' labels.
        series: Stack segment name -> one value per column.
        title: The chart's accessible title.
        colors: Colours of some series by name (the others take the palette's).

    Returns:
        The SVG.
    """
    if not labels or not series:
        return _empty(title)
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = max(totals) or 1
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    n = len(labels)
    bar_w = plot_w / n * 0.7
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        *_axes(labels, top, ""),
    ]
    colors = colors or {}
    for i in range(n):
        y: float = PAD_TOP + plot_h
        x = PAD_LEFT + plot_w * (i + 0.5) / n - bar_w / 2
        for k, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / top
            y -= h
            color = colors.get(name, PALETTE[k % len(PALETTE)])
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{escape(labels[i])} {escape(name)}: {escape(_fmt(values[i]))}</title></rect>"
            )
    x = PAD_LEFT
    for k, name in enumerate(series):
        color = colors.get(name, PALETTE[k % len(PALETTE)])
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 5}">{escape(name)}</text>'
        )
        x += 30 + 7 * len(name)
    parts.append("</svg>")
    return Markup("".join(parts))
