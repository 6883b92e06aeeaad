"""Charts as SVG made on the server (docs/console.md "How it is built"): no script, no
library, readable without colour. Each group (a day, a carrier) has two bars, sent (solid)
and delivered (hatched), each with its number written above it; the legend shows the same
solid and hatched swatches, and every chart is followed on its page by a table of the same
numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
TOP, BOTTOM, LEFT = 28, 40, 8


@dataclass(frozen=True, slots=True)
class Group:
    label: str
    sent: int
    success: int


def bars(groups: Sequence[Group], sent_word: str, success_word: str, title: str) -> Markup:
    """A grouped bar chart of `groups`, sized to its container (viewBox)."""
    top = max([g.sent for g in groups] + [g.success for g in groups] + [1])
    slot = (WIDTH - LEFT * 2) / max(len(groups), 1)
    bar = min(slot * 0.35, 48)
    plot = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 24}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#1f6f43" stroke-width="3"/></pattern>'
        "</defs>",
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - LEFT}" '
        f'y2="{HEIGHT - BOTTOM}" stroke="#333"/>',
    ]
    for i, group in enumerate(groups):
        x = LEFT + slot * i + (slot - bar * 2 - 4) / 2
        for j, (value, fill) in enumerate(((group.sent, "#24527a"),
                                           (group.success, "url(#hatch)"))):
            h = plot * value / top
            bx, by = x + j * (bar + 4), HEIGHT - BOTTOM - h
            parts.append(f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{fill}" stroke="#24527a"/>')
            parts.append(f'<text x="{bx + bar / 2:.1f}" y="{by - 4:.1f}" '
                         f'text-anchor="middle" font-size="12">{value}</text>')
        parts.append(f'<text x="{LEFT + slot * i + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 18}" '
                     f'text-anchor="middle" font-size="12">{escape(group.label)}</text>')
    legend_y = HEIGHT + 8
    parts += [
        f'<rect x="{LEFT}" y="{legend_y}" width="14" height="14" fill="#24527a"/>',
        f'<text x="{LEFT + 20}" y="{legend_y + 12}" font-size="12">{escape(sent_word)}</text>',
        f'<rect x="{LEFT + 120}" y="{legend_y}" width="14" height="14" fill="url(#hatch)" '
        'stroke="#24527a"/>',
        f'<text x="{LEFT + 140}" y="{legend_y + 12}" font-size="12">'
        f"{escape(success_word)}</text>",
        "</svg>",
    ]
    return Markup("".join(parts))
