"""The results page: one self-contained HTML file (no CDN, no server; it opens from disk).

It holds the overall and per-task leaderboards as tables that sort by a click on a column header,
a filter by method family (baselines, backbones, designs, plugins, external methods), links from
each method's row to its per-pair table and the task's figures (relative to ``results/``, where
the page is written), and the study's figures embedded as images (the disentangling, each task's
stress curves and budget curves, where they exist). Its script is a few lines of plain JavaScript
inside the file.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from regbench import registry
from regbench.analysis.ranking import RANKED, title
from regbench.io import atomic_path

#: table row group -> the page's method family
FAMILIES = {
    "Reference": "baselines",
    "External methods": "external",
    "Baseline": "backbones",
    "Trend-driven backbones": "backbones",
    "Registration-specific designs": "designs",
    "Backbones with designs": "designs",
}

#: each task's figures the page links to
TASK_FIGURES = ("metrics", "heatmap", "cost", "qualitative")

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0;cursor:pointer;user-select:none}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td:first-child,th:first-child,td.name{text-align:left}
tr.hidden{display:none}
.family{font-size:11px;color:#666}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
fieldset{display:inline-block;border:1px solid #ccc}
"""

SCRIPT = """
function cellValue(row, index) {
  const cell = row.cells[index];
  const text = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
  const number = parseFloat(text);
  return isNaN(number) ? text.toLowerCase() : number;
}
function sortTable(header) {
  const table = header.closest('table');
  const index = Array.from(header.parentNode.cells).indexOf(header);
  const ascending = !header.classList.contains('asc');
  table.querySelectorAll('th').forEach(th => th.classList.remove('asc', 'desc'));
  header.classList.add(ascending ? 'asc' : 'desc');
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = cellValue(a, index), y = cellValue(b, index);
    if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
  });
  rows.forEach(row => body.appendChild(row));
}
function applyFilter() {
  const shown = new Set(Array.from(document.querySelectorAll('input.family:checked')).map(b => b.value));
  document.querySelectorAll('tr[data-family]').forEach(row => {
    row.classList.toggle('hidden', !shown.has(row.dataset.family));
  });
}
document.querySelectorAll('th').forEach(th => th.addEventListener('click', () => sortTable(th)));
document.querySelectorAll('input.family').forEach(box => box.addEventListener('change', applyFilter));
"""


def family(method: str, group: str) -> str:
    """A method's family on the page: plugins' methods and backbones count as plugins."""
    known = registry.methods().get(method)
    if known is not None and known.plugin:
        return "plugins"
    if FAMILIES.get(group) in ("backbones", "designs"):
        from regbench.names import parse

        if parse(method).record.plugin:
            return "plugins"
    return FAMILIES.get(group, "external")


def _cell(value, digits: int = 3) -> str:
    if isinstance(value, float):
        if pd.isna(value):
            return '<td data-value="">–</td>'
        # counts and large sizes (parameters, MB) whole with separators; sorting reads data-value
        shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"
        return f'<td data-value="{value!r}">{shown}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _table(
    frame: pd.DataFrame, columns: dict[str, str], families: dict[str, str], links: dict[str, str]
) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in columns.values())
    rows = []
    for _, row in frame.iterrows():
        method = row["method"]
        name = html.escape(method)
        if method in links:
            name = f'<a href="{html.escape(links[method])}">{name}</a>'
        cells = [f'<td class="name">{name} <span class="family">{families[method]}</span></td>']
        cells += [_cell(row[c]) for c in columns if c != "method"]
        rows.append(f'<tr data-family="{families[method]}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_page(
    board: pd.DataFrame,
    per_task: pd.DataFrame,
    summaries: dict[str, pd.DataFrame],
    path,
    figures: dict[str, list[Path]] | None = None,
    title_text: str = "regbench leaderboard",
) -> Path:
    """Write the page to ``path``. ``summaries``: each task's ``summary.csv`` (groups and costs);
    ``figures``: section title -> PNGs to embed."""
    groups = {m: g for s in summaries.values() for m, g in zip(s["method"], s["group"])}
    families = {m: family(m, groups.get(m, "External methods")) for m in board["method"]}
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title_text)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title_text)}</h1>",
        "<p>Learn2Reg ranking: per task and metric, every method against every other (paired Wilcoxon "
        "signed-rank test on the shared pairs), rank scores from 0.1 to 1 by the number of methods "
        "that beat it, geometric means over metrics and tasks (see the rules in "
        "<code>regbench.analysis.ranking</code>). Click a column to sort; untick a family to hide it.</p>",
        "<fieldset><legend>Families</legend>"
        + "".join(
            f"<label><input type='checkbox' class='family' value='{f}' checked> {f}</label> "
            for f in ("baselines", "backbones", "designs", "plugins", "external")
        )
        + "</fieldset>",
        "<h2>Overall</h2>",
    ]
    overall = {"method": "Method", "place": "Place", "rank_score": "Rank score"}
    overall |= {c: c.removesuffix("_rank") for c in board if c.endswith("_rank")}
    if "place_best_seed" in board:
        overall |= {"place_best_seed": "Best place (seeds)", "place_worst_seed": "Worst place (seeds)"}
        overall |= {"first_in_seeds": "First in seeds"}
    tasks = list(dict.fromkeys(per_task["task"]))
    links = {m: f"{tasks[0]}/tables/per_pair.csv" for m in board["method"]} if tasks else {}
    parts.append(_table(board, overall, families, links))
    for task in tasks:
        part = per_task[per_task["task"] == task]
        summary = summaries.get(task, pd.DataFrame(columns=["method"])).set_index("method")
        costs = {
            "runtime_s_mean": "Runtime (s)",
            "peak_memory_mb_mean": "Peak memory (MB)",
            "parameters": "Parameters",
        }
        part = part.join(summary[[c for c in costs if c in summary and c not in part]], on="method")
        columns = {"method": "Method", "place": "Place", "task_rank": "Task rank"}
        for metric in RANKED:
            if f"{metric}_mean" in part:
                columns[f"{metric}_mean"] = title(metric)
                columns[f"{metric}_rank"] = f"{title(metric)} rank"
        columns |= {c: label for c, label in costs.items() if c in part}
        task_links = {m: f"{task}/tables/per_pair.csv" for m in part["method"]}
        parts += [
            f"<h2>{html.escape(task)}</h2>",
            f"<p>Per-pair values: <a href='{task}/tables/per_pair.csv'>per_pair.csv</a>; figures: "
            + ", ".join(f"<a href='{task}/figures/{name}.png'>{name}</a>" for name in TASK_FIGURES)
            + f"; table: <a href='{task}/tables/summary.md'>summary.md</a>.</p>",
            _table(part, columns, families, task_links),
        ]
    for section, paths in (figures or {}).items():
        shown = [p for p in paths if Path(p).exists()]
        if shown:
            parts.append(f"<h2>{html.escape(section)}</h2>" + "".join(_image(Path(p)) for p in shown))
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(parts))
    return Path(path)
