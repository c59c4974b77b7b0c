"""A concept's neighbourhood as SVG: its broader concepts above it, its narrower ones below, and on the right the
rules it triggers, each coloured and named by its effect (never colour alone) with how many options it concerns.
Drawn from the rows of queries/knowledge/neighbourhood.rq; no clinical logic.
"""
from __future__ import annotations

from html import escape
from typing import Any, Callable, Sequence

#: Effect of a rule -> (fill, words). Anything else is drawn grey with its own name.
EFFECTS = {"contraindication": ("#b3261e", "contraindicates"), "caution": ("#a05a00", "cautions"), "indication": ("#1b7a34", "indicates")}
BOX_W, BOX_H, GAP, RULE_X, RULE_W = 230, 30, 10, 300, 420


def _e(text: Any) -> str:
    return escape(str(text), quote=True)


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def svg(concept: str, label: str, rows: Sequence[tuple[str, str, str, str | None, int]], href: Callable[[str], str] | None = None) -> str:
    """``rows``: (role broader|narrower|rule, node CURIE, label, effect, options); ``href``: a node's link, if any."""
    broader = [r for r in rows if r[0] == "broader"]
    narrower = [r for r in rows if r[0] == "narrower"]
    rules = [r for r in rows if r[0] == "rule"]
    left = len(broader) + 1 + len(narrower)
    height = max(left, len(rules), 1) * (BOX_H + GAP) + 40
    centre_y = 20 + len(broader) * (BOX_H + GAP)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="neighbourhood" viewBox="0 0 {RULE_X + RULE_W} {height}" '
           f'width="{RULE_X + RULE_W}" height="{height}" role="group" aria-labelledby="nb-title" font-family="system-ui, sans-serif">',
           f'<title id="nb-title">{_e(label)}: {len(broader)} broader, {len(narrower)} narrower concepts, {len(rules)} rules</title>']

    def box(node: str, text: str, x: float, y: float, fill: str, ink: str, name: str) -> str:
        shape = (f'<title>{_e(name)}</title><rect x="{x}" y="{y}" width="{BOX_W if x < RULE_X else RULE_W}" height="{BOX_H}" rx="4" '
                 f'fill="{fill}" stroke="#57606a"/><text x="{x + 8}" y="{y + 19}" font-size="12" fill="{ink}">{_e(text)}</text>')
        link = href(node) if href else None
        return (f'<a href="{_e(link)}" aria-label="{_e(name)}">{shape}</a>' if link else f'<g role="img" aria-label="{_e(name)}">{shape}</g>')

    for i, (_, node, text, _, _) in enumerate(broader):
        y = 20 + i * (BOX_H + GAP)
        out.append(f'<line x1="{BOX_W / 2}" y1="{y + BOX_H}" x2="{BOX_W / 2}" y2="{centre_y}" stroke="#8c959f"/>')
        out.append(box(node, _cut(f"\u2191 {text}", 34), 0, y, "#f6f8fa", "#1f2328", f"broader: {text}"))
    out.append(box(concept, _cut(label, 32), 0, centre_y, "#0b5cad", "#ffffff", f"{label} (this concept)"))
    for i, (_, node, text, _, _) in enumerate(narrower):
        y = centre_y + (i + 1) * (BOX_H + GAP)
        out.append(f'<line x1="{BOX_W / 2}" y1="{centre_y + BOX_H}" x2="{BOX_W / 2}" y2="{y}" stroke="#8c959f"/>')
        out.append(box(node, _cut(f"\u2193 {text}", 34), 0, y, "#f6f8fa", "#1f2328", f"narrower: {text}"))
    for i, (_, node, text, effect, options) in enumerate(rules):
        y = 20 + i * (BOX_H + GAP)
        fill, words = EFFECTS.get(effect or "", ("#8a8f98", effect or "concerns"))
        out.append(f'<line x1="{BOX_W}" y1="{centre_y + BOX_H / 2}" x2="{RULE_X}" y2="{y + BOX_H / 2}" stroke="{fill}"/>')
        n = f"{options} option{'s' if options != 1 else ''}"
        out.append(box(node, _cut(f"{words} {n}: {text}", 60), RULE_X, y, fill, "#ffffff", f"rule {text}: {words} {n}"))
    if not rules:
        out.append(f'<text x="{RULE_X}" y="{centre_y + 19}" font-size="12" fill="#57606a">triggers no rule itself</text>')
    out.append("</svg>")
    return "\n".join(out)
