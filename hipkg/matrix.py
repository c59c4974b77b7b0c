"""The option matrix of an answer, as SVG: rows are injection targets, columns medication regimens, each cell split
into the guidance methods (and, where a regimen serves several, the purposes); every sub-cell coloured and lettered by
its status (colour is never the only signal) with an accessible name that says the option, the status and the reason
it rests on. Drawn from the answer's JSON alone; no clinical logic: statuses and reasons are the answer's.
"""
from __future__ import annotations

from html import escape
from typing import Any

from hipkg.report import LETTERS, deciding, letter, option_anchor

#: Per status slug: fill and text colour (the letter is hipkg.report's). A status the graph adds later is drawn grey.
COLOURS = {"avoid": ("#b3261e", "#ffffff"), "check": ("#6a3fb5", "#ffffff"), "caution": ("#a05a00", "#ffffff"),
           "fits": ("#1b7a34", "#ffffff"), "not-indicated": ("#e4e6ea", "#3d4349")}
LABEL_W, SUB_W, SUB_H, GAP, HEAD_H, TOP = 150, 30, 26, 10, 44, 36


def _e(text: Any) -> str:
    return escape(str(text), quote=True)


def _style(status: str) -> tuple[str, str, str]:
    fill, ink = COLOURS.get(status, ("#8a8f98", "#ffffff"))
    return fill, ink, letter(status)


def _lines(text: str, width: int) -> list[str]:
    """``text`` broken into at most two lines of about ``width`` characters (the second cut with an ellipsis)."""
    words, lines = text.split(), [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}".strip()
    return lines[:1] + ([lines[1] + ("\u2026" if len(lines) > 2 else "")] if len(lines) > 1 else [])


def svg(answer: dict[str, Any], labels: dict[tuple[str, str], str], links: bool = False) -> str:
    """The matrix of ``answer`` (Recommendation.to_json()); ``labels``: (kind, slug) -> label for targets, categories,
    guidance methods and purposes; ``links``: each sub-cell links to #option-ID (the page lists the option there)."""
    options = answer["options"]
    name = lambda kind, slug: labels.get((kind, slug), slug)  # noqa: E731
    regimen_of = {o["id"]: tuple(o["medication_categories"]) for o in options}
    regimen_label = {r: " + ".join(name("category", c) for c in r) for r in regimen_of.values()}
    targets = sorted({o["target"] for o in options}, key=lambda t: name("target", t))
    regimens = sorted(set(regimen_of.values()), key=lambda r: regimen_label[r])
    guidance = sorted({o["guidance"] for o in options})
    goal = answer["situation"]["goal"]
    purposes_of = {r: sorted({o["purpose"] for o in options if regimen_of[o["id"]] == r}, key=lambda p: (p != goal, p)) for r in regimens}
    rows = max(len(p) for p in purposes_of.values())
    cell_w, row_h = len(guidance) * SUB_W, rows * SUB_H
    width = LABEL_W + len(regimens) * (cell_w + GAP)
    top = TOP + HEAD_H
    height = top + len(targets) * (row_h + GAP) + 70
    at = {(o["target"], regimen_of[o["id"]], o["guidance"], o["purpose"]): o for o in options}
    counts: dict[str, int] = {}
    for o in options:
        counts[o["status"]] = counts.get(o["status"], 0) + 1
    title = "Options by target and medication: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="matrix" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="group" aria-labelledby="matrix-title" font-family="system-ui, sans-serif">',
           f'<title id="matrix-title">{_e(title)}</title>',
           f'<text x="0" y="16" font-size="13" font-weight="600">{_e(title)}</text>']
    for j, regimen in enumerate(regimens):
        x = LABEL_W + j * (cell_w + GAP)
        for k, line in enumerate(_lines(regimen_label[regimen], cell_w // 7)):
            out.append(f'<text x="{x}" y="{TOP + 2 + k * 13}" font-size="11">{_e(line)}</text>')
        for g_i, g in enumerate(guidance):
            out.append(f'<text x="{x + g_i * SUB_W + SUB_W / 2}" y="{top - 4}" font-size="9" text-anchor="middle" fill="#555">{_e(g[:3])}</text>')
    for i, target in enumerate(targets):
        y = top + i * (row_h + GAP)
        for k, line in enumerate(_lines(name("target", target), 22)):
            out.append(f'<text x="0" y="{y + 14 + k * 13}" font-size="11">{_e(line)}</text>')
        for j, regimen in enumerate(regimens):
            x = LABEL_W + j * (cell_w + GAP)
            for p_i, purpose in enumerate(purposes_of[regimen]):
                for g_i, g in enumerate(guidance):
                    option = at.get((target, regimen, g, purpose))
                    if option is None:
                        continue
                    out.append(_sub_cell(option, answer, x + g_i * SUB_W, y + p_i * SUB_H, name, regimen_label[regimen], links))
    legend_y = height - 54
    x = 0
    for status in [s for s in LETTERS if s in counts] + [s for s in counts if s not in LETTERS]:
        fill, ink, letter = _style(status)
        out.append(f'<rect x="{x}" y="{legend_y}" width="18" height="16" fill="{fill}" rx="2"/>'
                   f'<text x="{x + 9}" y="{legend_y + 12}" font-size="11" text-anchor="middle" fill="{ink}" font-weight="700">{_e(letter)}</text>'
                   f'<text x="{x + 22}" y="{legend_y + 12}" font-size="11">{_e(status)}</text>')
        x += 28 + 7 * len(status)
    keys = ["; ".join(f"{g[:3]} = {name('guidance', g)}" for g in guidance)]
    if rows > 1:
        keys.append(f"a cell's second row: {name('purpose', next(p for ps in purposes_of.values() for p in ps if p != goal))}")
    for k, key in enumerate(keys):
        out.append(f'<text x="0" y="{height - 22 + k * 13}" font-size="10" fill="#555">{_e(key)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _sub_cell(option: dict[str, Any], answer: dict[str, Any], x: float, y: float, name: Any, regimen: str, links: bool) -> str:
    fill, ink, letter = _style(option["status"])
    reason = deciding(option)
    because = f" \u2014 {answer['reasons'][reason['id']]['label']}" if reason is not None else ""
    label = (f"{name('target', option['target'])}, {regimen}, {name('guidance', option['guidance'])}, "
             f"{name('purpose', option['purpose'])}: {option['status']}{because}")
    shape = (f'<title>{_e(label)}</title><rect x="{x + 1}" y="{y + 1}" width="{SUB_W - 2}" height="{SUB_H - 2}" rx="3" fill="{fill}"/>'
             f'<text x="{x + SUB_W / 2}" y="{y + SUB_H / 2 + 5}" font-size="14" font-weight="700" text-anchor="middle" fill="{ink}" '
             f'aria-hidden="true">{_e(letter)}</text>')
    if links:
        return f'<a href="#{option_anchor(option["id"])}" aria-label="{_e(label)}" class="cell cell-{_e(option["status"])}">{shape}</a>'
    return f'<g role="img" aria-label="{_e(label)}" class="cell cell-{_e(option["status"])}">{shape}</g>'
