"""Charts as inline SVG, drawn on the server: no JavaScript, no chart library, no CDN (the
admin works offline). Colours come from CSS classes (workspace.css), text from the admin's
theme variables, so light and dark themes both read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BAR_HEIGHT = 22
LABEL_WIDTH = 190


def _nice_max(value: int) -> int:
    """The axis top: the value rounded up to 1, 2 or 5 × a power of ten (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if value <= step * factor:
                return step * factor
        step *= 10


def columns(
    points: Sequence[tuple[date, int]], *, title: str, width: int = 720, height: int = 180
) -> SafeString:
    """One column per day (a count), weekday ticks every 7 days, the count over each column."""
    top = _nice_max(max((n for _, n in points), default=0))
    left, bottom, plot_top = 34, 24, 14
    plot_height = height - bottom - plot_top
    step = (width - left - 4) / max(len(points), 1)
    bar = round(max(step - 3, 1), 1)
    parts = [
        format_html(
            '<line class="hd-axis" x1="{}" y1="{}" x2="{}" y2="{}"/>'
            '<text x="{}" y="{}" text-anchor="end">{}</text>'
            '<text x="{}" y="{}" text-anchor="end">0</text>',
            left,
            height - bottom,
            width,
            height - bottom,
            left - 4,
            plot_top + 4,
            top,
            left - 4,
            height - bottom,
        )
    ]
    for i, (day, n) in enumerate(points):
        h = round(plot_height * n / top, 1)
        x = round(left + i * step + 1.5, 1)
        y = round(height - bottom - h, 1)
        parts.append(
            format_html(
                '<rect class="hd-bar" x="{}" y="{}" width="{}" height="{}">'
                "<title>{}: {} ticket{}</title></rect>",
                x,
                y,
                bar,
                h,
                day.isoformat(),
                n,
                "" if n == 1 else "s",
            )
        )
        if n:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                    round(x + bar / 2, 1),
                    round(y - 3, 1),
                    n,
                )
            )
        last = i == len(points) - 1
        if last or (i % 7 == 0 and len(points) - 1 - i >= 4):  # no tick crowding the last
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="{}">{}</text>',
                    round(x + bar / 2, 1),
                    height - 8,
                    "end" if last else "middle",
                    day.strftime("%b %d"),
                )
            )
    return _svg(parts, title=title, width=width, height=height)


def bars(rows: Sequence[tuple[str, str, int]], *, title: str, width: int = 420) -> SafeString:
    """Horizontal bars: (label, css suffix, value) per row, the value at the bar's end."""
    top = _nice_max(max((value for _, _, value in rows), default=0))
    plot = width - LABEL_WIDTH - 40
    height = BAR_HEIGHT * len(rows) + 8
    parts = []
    for i, (label, kind, value) in enumerate(rows):
        y = 4 + i * BAR_HEIGHT
        w = round(plot * value / top, 1)
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect class="hd-bar hd-bar-{}" x="{}" y="{}" width="{}" height="{}">'
                "<title>{}: {}</title></rect>"
                '<text x="{}" y="{}">{}</text>',
                LABEL_WIDTH - 6,
                y + 15,
                label,
                kind,
                LABEL_WIDTH,
                y + 3,
                w,
                BAR_HEIGHT - 6,
                label,
                value,
                round(LABEL_WIDTH + w + 5, 1),
                y + 15,
                value,
            )
        )
    return _svg(parts, title=title, width=width, height=height)


def split_bars(rows: Sequence[tuple[str, int, int]], *, title: str, width: int = 440) -> SafeString:
    """Horizontal bars split in two: (label, helped, did not help) per row."""
    top = _nice_max(max((a + b for _, a, b in rows), default=0))
    plot = width - LABEL_WIDTH - 70
    height = BAR_HEIGHT * len(rows) + 8
    parts = []
    for i, (label, helped, not_helped) in enumerate(rows):
        y = 4 + i * BAR_HEIGHT
        w_yes = round(plot * helped / top, 1)
        w_no = round(plot * not_helped / top, 1)
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end"><title>{}</title>{}</text>'
                '<rect class="hd-bar hd-bar-yes" x="{}" y="{}" width="{}" height="{}">'
                "<title>helped: {}</title></rect>"
                '<rect class="hd-bar hd-bar-no" x="{}" y="{}" width="{}" height="{}">'
                "<title>did not help: {}</title></rect>"
                '<text x="{}" y="{}">{} / {}</text>',
                LABEL_WIDTH - 6,
                y + 15,
                label,
                short,
                LABEL_WIDTH,
                y + 3,
                w_yes,
                BAR_HEIGHT - 6,
                helped,
                round(LABEL_WIDTH + w_yes, 1),
                y + 3,
                w_no,
                BAR_HEIGHT - 6,
                not_helped,
                round(LABEL_WIDTH + w_yes + w_no + 5, 1),
                y + 15,
                helped,
                helped + not_helped,
            )
        )
    return _svg(parts, title=title, width=width, height=height)


def _svg(parts: list[SafeString], *, title: str, width: int, height: int) -> SafeString:
    return format_html(
        '<svg class="hd-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" '
        'width="{}" height="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        title,
        width,
        height,
        width,
        height,
        title,
        format_html_join("", "{}", ((part,) for part in parts)),
    )
