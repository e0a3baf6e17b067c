"""``supervise logs --html report.html``: one self-contained page to look at.

The page holds its data as JSON and draws itself with a little inline
JavaScript and SVG: the tree as the log left it, a restart/crash timeline chart
with one row per actor, the summary table (click a heading to sort) and the
answer to "why did it give up?". Nothing is fetched from the network.

Memory stays flat on a log of any size: the chart counts events in at most
`BINS` time bins per actor, merging neighbours (twice as wide) whenever the log
runs past the last bin, and draws the `CHART_ROWS` busiest actors.
"""

from __future__ import annotations

import html
import json
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._records import Record, Stats, seconds, stamp
from ._views import Explain, Summary, TreeView, subject

BINS = 240
CHART_ROWS = 60
#: Give-ups explained in the report: the last ones (the summary counts them all).
EXPLAINED = 50

#: The event kinds the chart marks, by event name.
_KINDS = {
    "actor_started": "start",
    "actor_restarted": "restart",
    "actor_crashed": "crash",
    "actor_killed": "kill",
    "restart_intensity_exceeded": "gave_up",
}


class Chart:
    """Events per actor, kind and time bin; bins widen as the log goes on.

    Each actor's counts are fixed-size arrays (a few KiB per actor, whatever
    the log's length), since only the busiest actors are known at the end.
    """

    def __init__(self) -> None:
        self.origin: float | None = None
        self.width = 0.001  # seconds per bin, doubled as needed
        self.last = 0.0
        #: actor -> kind -> count per bin
        self.counts: dict[str, dict[str, array[int]]] = {}
        #: actor -> the first exc_type seen in each bin (for the tooltip)
        self.causes: dict[str, list[str | None]] = {}

    def feed(self, record: Record) -> None:
        kind = _KINDS.get(record["event"])
        if kind is None:
            return
        moment = stamp(record)
        path = record.get("supervisor") if kind == "gave_up" else subject(record)
        if moment is None or type(path) is not str:
            return
        at = seconds(moment)
        if self.origin is None:
            self.origin = at
        offset = max(0.0, at - self.origin)
        self.last = max(self.last, offset)
        index = int(offset / self.width)
        while index >= BINS:
            self._widen()
            index = int(offset / self.width)
        kinds = self.counts.get(path)
        if kinds is None:
            kinds = self.counts[path] = {}
        bins = kinds.get(kind)
        if bins is None:
            bins = kinds[kind] = array("I", bytes(BINS * array("I").itemsize))
        bins[index] += 1
        if kind == "crash" and "exc_type" in record:
            causes = self.causes.get(path)
            if causes is None:
                causes = self.causes[path] = [None] * BINS
            if causes[index] is None:
                causes[index] = str(record["exc_type"])

    def _widen(self) -> None:
        self.width *= 2
        half = BINS // 2
        for kinds in self.counts.values():
            for bins in kinds.values():
                for i in range(half):
                    bins[i] = bins[2 * i] + bins[2 * i + 1]
                for i in range(half, BINS):
                    bins[i] = 0
        for causes in self.causes.values():
            causes[:] = [causes[2 * i] or causes[2 * i + 1] for i in range(half)] + [None] * half

    def result(self) -> dict[str, Any]:
        def weight(path: str) -> tuple[int, int]:
            # Supervisors that gave up first (the escalations), then the busiest actors.
            kinds = self.counts[path]
            busy = sum(sum(kinds[k]) for k in ("crash", "restart") if k in kinds)
            return sum(kinds["gave_up"]) if "gave_up" in kinds else 0, busy

        busiest = sorted(self.counts, key=lambda p: (*(-w for w in weight(p)), p))[:CHART_ROWS]
        rows = [
            {
                "actor": path,
                "marks": {
                    kind: [(i, n) for i, n in enumerate(bins) if n]
                    for kind, bins in self.counts[path].items()
                },
                "causes": {
                    str(i): c for i, c in enumerate(self.causes.get(path, ())) if c is not None
                },
            }
            for path in sorted(busiest)
        ]
        return {
            "origin": self.origin,
            "bin_seconds": self.width,
            "bins": max(1, int(self.last / self.width) + 1),
            "rows": rows,
            "hidden": max(0, len(self.counts) - CHART_ROWS),
        }


def write_report(path: Path, stream: Iterator[tuple[Record, bytes]], stats: Stats) -> None:
    """Read every event from ``stream`` and write the report to ``path``."""
    summary, tree, explain, chart = Summary(), TreeView(), Explain(keep=EXPLAINED), Chart()
    first: str | None = None
    for record, _ in stream:
        summary.feed(record)
        tree.feed(record)
        explain.feed(record)
        chart.feed(record)
        if first is None:
            first = stamp(record)
    data = {
        "first": first,
        "last": tree.last,
        "summary": summary.result(),
        "tree": tree.result(),
        "explain": explain.result(),
        "explained": explain.count,
        "chart": chart.result(),
        "stats": stats.as_dict(),
    }
    # "</" cannot end the script element early: JSON allows "<\/".
    payload = json.dumps(data).replace("</", "<\\/")
    title = html.escape(f"supervise logs: {tree.last or 'empty log'}")
    path.write_text(_PAGE.replace("$TITLE", title).replace("$DATA", payload), encoding="utf-8")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$TITLE</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.meta { color: #555; }
ul.tree, ul.tree ul { list-style: none; padding-left: 1.2em; margin: 0; }
ul.tree { padding-left: 0; font-family: ui-monospace, monospace; }
ul.tree summary { cursor: pointer; }
.state { padding: 0 .4em; border-radius: 3px; font-size: .85em; }
.running { background: #d8f0d8; } .restarting { background: #fde2c8; }
.stopped { background: #e4e4e4; } .gone { background: #f6c6c6; }
table { border-collapse: collapse; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; }
th { cursor: pointer; background: #f4f4f4; user-select: none; }
td.n { text-align: right; }
svg text { font: 11px ui-monospace, monospace; }
.legend span { margin-right: 1.2em; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; }
</style>
</head>
<body>
<h1>Supervision tree logs</h1>
<p class="meta" id="meta"></p>
<h2>Tree at the end of the log</h2>
<ul class="tree" id="tree"></ul>
<h2>Restarts and crashes over time</h2>
<p class="legend" id="legend"></p>
<div id="chart"></div>
<h2>Summary</h2>
<table id="summary"><thead></thead><tbody></tbody></table>
<h2>Why did a supervisor give up?</h2>
<div id="explain"></div>
<script type="application/json" id="data">$DATA</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const COLOURS = {start: "#2ca02c", restart: "#1f77b4", crash: "#d62728",
                 kill: "#ff7f0e", gave_up: "#000000"};
const LABELS = {start: "start", restart: "restart", crash: "crash", kill: "kill",
                gave_up: "gave up (restart intensity exceeded)"};
function el(tag, attrs, text) {
  const svg = ["svg", "g", "circle", "rect", "line", "text", "title", "path"].includes(tag);
  const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag)
                   : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function when(offset) {
  if (data.chart.origin === null) return "";
  return new Date((data.chart.origin + offset) * 1000).toISOString().replace("T", " ");
}
const s = data.stats;
document.getElementById("meta").textContent =
  `${data.first || "?"} to ${data.last || "?"}: ${s.events} events in ${s.lines} lines` +
  (s.malformed || s.foreign || s.truncated
    ? ` (skipped: ${s.malformed} malformed, ${s.foreign} foreign, ${s.truncated} truncated)`
    : "");

function countNodes(nodes) {
  return nodes.reduce((n, node) => n + 1 + countNodes(node.children), 0);
}
// A big tree starts folded below its top level: click a supervisor to open it.
const FOLD = countNodes(data.tree) > 40;
function drawTree(nodes, parent, depth) {
  for (const n of nodes) {
    const li = el("li");
    const head = el("span");
    head.appendChild(el("span", {}, n.name + " "));
    head.appendChild(el("span", {class: "state " + n.state}, n.state));
    const bits = [];
    if (n.kind === "supervisor") bits.push("supervisor");
    if (n.incarnation) bits.push("incarnation " + n.incarnation);
    bits.push(n.restart_count + " restarts");
    if (n.crashes) bits.push(n.crashes + " crashes");
    head.appendChild(el("span", {class: "meta"}, " " + bits.join(", ")));
    if (n.last_exit && n.state !== "running") li.title = "last exit: " + n.last_exit;
    if (n.children.length) {
      const folder = el("details");
      if (!FOLD || depth === 0) folder.open = true;
      const summary = el("summary");
      summary.appendChild(head);
      folder.appendChild(summary);
      const ul = el("ul");
      drawTree(n.children, ul, depth + 1);
      folder.appendChild(ul);
      li.appendChild(folder);
    } else {
      li.appendChild(head);
    }
    parent.appendChild(li);
  }
}
drawTree(data.tree, document.getElementById("tree"), 0);

for (const [kind, colour] of Object.entries(COLOURS)) {
  const span = el("span");
  span.appendChild(el("i", {class: "swatch", style: "background:" + colour}));
  span.appendChild(document.createTextNode(" " + LABELS[kind]));
  document.getElementById("legend").appendChild(span);
}

function drawChart() {
  const c = data.chart, rows = c.rows, left = 230, width = 900, rowH = 22, top = 24;
  const svg = el("svg", {id: "timeline", width: left + width + 20,
                         height: top + rows.length * rowH + 10, role: "img"});
  const x = (bin) => left + (bin + 0.5) * width / c.bins;
  svg.appendChild(el("text", {x: left, y: 14}, when(0)));
  svg.appendChild(el("text", {x: left + width, y: 14, "text-anchor": "end"},
                     when(c.bins * c.bin_seconds)));
  rows.forEach((row, i) => {
    const y = top + i * rowH + rowH / 2;
    svg.appendChild(el("text", {x: left - 8, y: y + 4, "text-anchor": "end"}, row.actor));
    svg.appendChild(el("line", {x1: left, x2: left + width, y1: y, y2: y, stroke: "#ddd"}));
    for (const kind of ["start", "restart", "kill", "crash", "gave_up"]) {
      for (const [bin, count] of (row.marks[kind] || [])) {
        const r = Math.min(9, 3 + Math.log2(count + 1) * 1.5);
        const mark = el("circle", {class: "mark " + kind, cx: x(bin), cy: y, r: r,
                                   fill: COLOURS[kind], "fill-opacity": 0.8});
        const cause = kind === "crash" && row.causes[bin] ? " (" + row.causes[bin] + ")" : "";
        mark.appendChild(el("title", {},
          `${row.actor}: ${count} x ${LABELS[kind]}${cause} at ${when(bin * c.bin_seconds)}`));
        svg.appendChild(mark);
      }
    }
  });
  const chart = document.getElementById("chart");
  chart.appendChild(svg);
  if (c.hidden) chart.appendChild(el("p", {class: "meta"},
    `${c.hidden} quieter actors are not drawn; the summary lists them all.`));
  if (!rows.length) chart.appendChild(el("p", {class: "meta"}, "no lifecycle events"));
}
drawChart();

const COLUMNS = [["actor", "actor"], ["starts", "starts"], ["restarts", "restarts"],
  ["crashes", "crashes"], ["crashes_by_type", "by type"], ["kills", "kills"],
  ["dead_letters", "dead letters"], ["last_crash", "last crash"], ["last_exit", "last exit"],
  ["intensity_exceeded", "gave up"]];
function cell(row, key) {
  const v = row[key];
  if (key === "crashes_by_type") return Object.entries(v).map(([k, n]) => k + " x" + n).join(", ");
  return v === null ? "" : String(v);
}
function drawTable(rows) {
  const table = document.getElementById("summary");
  const head = table.tHead, body = table.tBodies[0];
  head.replaceChildren(); body.replaceChildren();
  const tr = el("tr");
  COLUMNS.forEach(([key, label]) => {
    const th = el("th", {}, label);
    th.addEventListener("click", () => {
      const sorted = rows.slice().sort((a, b) =>
        typeof a[key] === "number" ? b[key] - a[key] : cell(a, key).localeCompare(cell(b, key)));
      drawTable(sorted);
    });
    tr.appendChild(th);
  });
  head.appendChild(tr);
  for (const row of rows) {
    const line = el("tr");
    for (const [key] of COLUMNS) {
      line.appendChild(el("td", {class: typeof row[key] === "number" ? "n" : ""}, cell(row, key)));
    }
    body.appendChild(line);
  }
}
drawTable(data.summary);

const explain = document.getElementById("explain");
if (!data.explain.length) explain.appendChild(el("p", {}, "No supervisor gave up."));
if (data.explained > data.explain.length) explain.appendChild(el("p", {class: "meta"},
  `The last ${data.explain.length} of ${data.explained} give-ups:`));
for (const a of data.explain) {
  explain.appendChild(el("p", {},
    `${a.timestamp}: ${a.supervisor} gave up, more than ${a.max_restarts} restarts in ` +
    `${a.max_seconds} s (last exit: ${a.last_exit}). The exits inside that window:`));
  explain.appendChild(el("pre", {}, a.exits.map(e =>
    `${e.timestamp}  ${e.actor}  ${e.reason}` +
    (e.exc_type ? `  ${e.exc_type}: ${e.exc_message}` : "")).join("\\n")));
}
document.body.setAttribute("data-rendered", "yes");
</script>
</body>
</html>
"""
