/* The sequence diagram of a run's SMTP dialogue (rows from scenarios/report/dialogue.py). */

// ---------------------------------------------------------------- sequence diagram
const LANE = {client: 150, link: 490, server: 830};
const DIAGRAM_WIDTH = 960;
const LINE_HEIGHT = 14;
const MARK_STYLE = {
  event: {color: "#1f5fbf", shape: "circle"},
  terminal: {color: "#1d2330", shape: "terminal"},
  timer: {color: "#7b3fb2", shape: "timer"},
  fault: {color: "#b3261e", shape: "triangle"},
  drop: {color: "#b3261e", shape: "cross"},
  watchdog: {color: "#b3261e", shape: "triangle"},
  tls: {color: "#1e7a3c", shape: "lock"},
  conn: {color: "#5f6b7a", shape: "dot"},
  log: {color: "#8a94a3", shape: "dot"},
};

function markShape(x, y, style) {
  const {color, shape} = MARK_STYLE[style] || MARK_STYLE.log;
  const g = svg("g", {class: "mark-shape", fill: color, stroke: color});
  if (shape === "circle") g.append(svg("circle", {cx: x, cy: y, r: 4.5}));
  else if (shape === "terminal") {
    g.append(svg("circle", {cx: x, cy: y, r: 7, fill: "#fff", "stroke-width": 2}));
    g.append(svg("circle", {cx: x, cy: y, r: 3.5}));
  } else if (shape === "timer") {
    g.append(svg("circle", {cx: x, cy: y, r: 6, fill: "#fff", "stroke-width": 1.5}));
    g.append(svg("path", {d: `M${x},${y} v-4 M${x},${y} h3`, fill: "none",
                          "stroke-width": 1.5}));
  } else if (shape === "triangle") {
    g.append(svg("path", {d: `M${x},${y - 6} l6,11 h-12 z`}));
  } else if (shape === "cross") {
    g.append(svg("path", {d: `M${x - 5},${y - 5} l10,10 M${x + 5},${y - 5} l-10,10`,
                          "stroke-width": 2.2, fill: "none"}));
  } else if (shape === "lock") {
    g.append(svg("rect", {x: x - 5, y: y - 2, width: 10, height: 7, rx: 1}));
    g.append(svg("path", {d: `M${x - 3},${y - 2} v-2 a3,3 0 0 1 6,0 v2`, fill: "none",
                          "stroke-width": 1.5}));
  } else g.append(svg("circle", {cx: x, cy: y, r: 3}));
  return g;
}

function replyCount(lines) {
  return lines.filter((line) => /^[0-9]{3}( |$)/.test(line)).length;
}

function rowHeight(row) {
  if (row.k === "mark") return 22;
  const shown = row.x.length + (row.n ? 1 : 0);
  return 16 + Math.max(shown, 1) * LINE_HEIGHT;
}

function timeLabel(parent, x, y, anchor, from, to) {
  parent.append(svg("text", {x: x, y: y, "text-anchor": anchor, class: "mono",
                             fill: "#5f6b7a"}, seconds(from)));
  if (to !== undefined && to !== from) {
    parent.append(svg("text", {x: x, y: y + 12, "text-anchor": anchor, class: "mono",
                               fill: "#8a94a3"}, "to " + seconds(to)));
  }
}

function drawSequence(run) {
  const rows = run.rows;
  const width = DIAGRAM_WIDTH;
  const maxChars = Math.floor((LANE.server - LANE.client - 40) / 6.9);
  const layout = [];
  let y = 46;
  let previous = null;
  rows.forEach((row, index) => {
    if (previous !== null && row.t - previous >= 1e6) {
      layout.push({gap: row.t - previous, y: y});
      y += 22;
    }
    if (run.rowsOmitted && index === rows.length - 100) {
      layout.push({omitted: run.rowsOmitted, y: y});
      y += 24;
    }
    const h = rowHeight(row);
    layout.push({row: row, y: y, h: h});
    y += h;
    previous = row.t2 || row.t;
  });
  const height = y + 14;
  const root = svg("svg", {width: width, height: height, viewBox: `0 0 ${width} ${height}`,
                           role: "img", "aria-label": "sequence diagram", class: "sequence"});
  const bands = svg("g", {class: "tls-bands"});
  const lifelines = svg("g", {class: "lifelines"});
  const content = svg("g", {class: "rows"});
  root.append(bands, lifelines, content);
  // lane headings and lifelines
  const heads = [["device (client)", LANE.client], ["link", LANE.link],
                 ["server", LANE.server]];
  for (const [name, x] of heads) {
    lifelines.append(svg("rect", {x: x - 58, y: 6, width: 116, height: 22, rx: 4,
                                  fill: "#f6f8fa", stroke: "#d8dee6"}));
    lifelines.append(svg("text", {x: x, y: 21, "text-anchor": "middle", "font-size": 12,
                                  "font-weight": 600}, name));
    lifelines.append(svg("line", {x1: x, x2: x, y1: 28, y2: height - 6,
                                  stroke: name === "link" ? "#c4ccd6" : "#9aa5b4",
                                  "stroke-dasharray": name === "link" ? "4 4" : null}));
  }
  lifelines.append(svg("text", {x: 4, y: 40, "font-size": 10, fill: "#5f6b7a"},
                       "device time (s)"));
  lifelines.append(svg("text", {x: width - 4, y: 40, "font-size": 10, fill: "#5f6b7a",
                                "text-anchor": "end"}, "server time (s)"));
  // TLS phases as bands behind the rows
  let band = null;
  const closeBand = () => {
    if (band === null) return;
    const label = band.phase === "tls" ? "TLS" : "TLS handshake";
    bands.append(tip(svg("rect", {x: LANE.client, y: band.y0, width: LANE.server - LANE.client,
                                  height: band.y1 - band.y0, class: "band-" + band.phase,
                                  fill: band.phase === "tls" ? "#e6f4ea" : "#fff4d6"}),
                     label));
    const color = band.phase === "tls" ? "#1e7a3c" : "#b07a00";
    bands.append(svg("rect", {x: LANE.client - 7, y: band.y0, width: 3,
                              height: band.y1 - band.y0, fill: color}));
    bands.append(svg("text", {x: LANE.client - 12, y: band.y0 + 11, "font-size": 10,
                              "text-anchor": "end", fill: color, "font-weight": 600,
                              class: "band-label"}, label));
    band = null;
  };
  for (const item of layout) {
    const phase = item.row ? item.row.tls || "" : (band ? band.phase : "");
    if (band !== null && band.phase !== phase) closeBand();
    if (phase && band === null) band = {phase: phase, y0: item.y, y1: item.y};
    if (band !== null) band.y1 = item.y + (item.h || 22);
  }
  closeBand();
  // the rows
  for (const item of layout) {
    if (item.gap !== undefined) {
      content.append(svg("line", {x1: 60, x2: width - 60, y1: item.y + 11, y2: item.y + 11,
                                  stroke: "#c4ccd6", "stroke-dasharray": "2 4"}));
      content.append(svg("text", {x: width / 2, y: item.y + 15, "text-anchor": "middle",
                                  "font-size": 11, fill: "#5f6b7a", class: "gap"},
                         "\u2026 " + duration(item.gap) + " later \u2026"));
      continue;
    }
    if (item.omitted !== undefined) {
      content.append(svg("text", {x: width / 2, y: item.y + 16, "text-anchor": "middle",
                                  "font-size": 11.5, fill: "#b3261e"},
                         `\u2026 ${item.omitted} rows left out here (the transcript ` +
                         "and the trace have them all) \u2026"));
      continue;
    }
    content.append(item.row.k === "mark" ? drawMark(item, width)
                                          : drawArrow(item, width, maxChars));
  }
  return root;
}

function drawMark(item, width) {
  const {row, y} = item;
  const g = svg("g", {class: "row mark s-" + (row.s || "log")});
  const cy = y + 11;
  const x = LANE[row.l];
  const count = row.c ? " \u00d7" + row.c : "";
  const text = row.x[0] + count;
  g.append(markShape(x, cy, row.s));
  const style = MARK_STYLE[row.s] || MARK_STYLE.log;
  const right = row.l === "server";
  const maxChars = row.l === "link" ? 64 : 96;
  const label = svg("text", {x: right ? x - 12 : x + 12, y: cy + 4,
                             "text-anchor": right ? "end" : "start", "font-size": 12,
                             fill: style.color,
                             "font-weight": row.s === "terminal" ? 700 : null},
                    shorten(text, maxChars));
  if (row.s === "terminal") {
    const box = svg("rect", {x: x + 8, y: cy - 9, width: Math.min(text.length, maxChars) * 6.9 + 12,
                             height: 18, rx: 4, class: "terminal-box", fill: "#fff3c4",
                             stroke: "#8a5a00"});
    g.append(box);
  }
  g.append(label);
  if (right) timeLabel(g, width - 4, cy + 4, "end", row.t);
  else timeLabel(g, 4, cy + 4, "start", row.t);
  const until = row.t2 !== undefined ? ` (the last at ${seconds(row.t2)} s)` : "";
  return tip(g, `${seconds(row.t)} s  ${row.l}: ${text}${until}`);
}

function drawArrow(item, width, maxChars) {
  const {row, y, h} = item;
  const toServer = row.k === "c2s";
  const g = svg("g", {class: "row arrow " + row.k + " s-" + (row.s || "")});
  const x0 = toServer ? LANE.client : LANE.server;
  const x1 = toServer ? LANE.server : LANE.client;
  const yArrow = y + h - 7;
  const color = toServer ? "#123d8a" : "#1d4d2b";
  g.append(svg("line", {x1: x0, y1: yArrow - 6, x2: x1 + (toServer ? -7 : 7), y2: yArrow,
                        stroke: color, "stroke-width": 1.4}));
  const tipX = x1, dir = toServer ? -1 : 1;
  g.append(svg("path", {d: `M${tipX},${yArrow} l${dir * 9},-5 l0,10 z`, fill: color}));
  const lines = row.x.slice();
  if (row.n) lines.push(`\u2026 ${row.n - row.x.length} more line(s)`);
  lines.forEach((line, i) => {
    const more = row.n && i === lines.length - 1;
    const attrs = {y: y + 12 + i * LINE_HEIGHT, class: "mono",
                   fill: more ? "#8a94a3" : color};
    if (toServer) attrs.x = LANE.client + 14; else { attrs.x = LANE.server - 14;
                                                       attrs["text-anchor"] = "end"; }
    if (row.s === "content" && !more) attrs["font-style"] = "italic";
    g.append(svg("text", attrs, shorten(line, maxChars)));
  });
  if (row.s === "group") {
    g.append(svg("path", {d: `M${LANE.client + 8},${y + 2} h-3 v${h - 12} h3`, fill: "none",
                          stroke: "#7b3fb2", "stroke-width": 1.5}));
    g.append(tip(svg("text", {x: LANE.client - 10, y: y + 12, "text-anchor": "end",
                              "font-size": 11, fill: "#7b3fb2", "font-weight": 600,
                              class: "group-label"}, "pipelined group"),
                 "the client sent these commands without waiting for replies " +
                 "(RFC 2920)"));
  } else if (row.s === "content") {
    g.append(svg("text", {x: LANE.client - 10, y: y + 12, "text-anchor": "end",
                          "font-size": 11, fill: "#5f6b7a"}, "content"));
  }
  const replies = toServer ? 0 : replyCount(row.x);
  if (!toServer && (replies > 1 || (row.c || 1) > 1)) {
    const what = replies > 1 ? `${replies} replies` : `${row.c} writes`;
    g.append(svg("path", {d: `M${LANE.server - 8},${y + 2} h3 v${h - 12} h-3`, fill: "none",
                          stroke: "#1d4d2b", "stroke-width": 1.5}));
    g.append(svg("text", {x: LANE.server + 10, y: y + 12, "font-size": 11, fill: "#1d4d2b",
                          "font-weight": 600, class: "group-label"}, what));
  }
  if (toServer) {
    if (row.ct !== undefined) timeLabel(g, 4, yArrow - 2, "start", row.ct);
    timeLabel(g, width - 4, yArrow - 2, "end", row.t);
  } else {
    timeLabel(g, width - 4, y + 12, "end", row.t, h > 30 ? row.t2 : undefined);
  }
  const who = toServer ? "client \u2192 server" : "server \u2192 client";
  return tip(g, `${who} at ${seconds(row.t)} s` +
                (row.ct !== undefined ? ` (sent by the client at ${seconds(row.ct)} s)` : "") +
                "\n" + row.x.join("\n") + (row.n ? `\n\u2026 ${row.n} lines in all` : ""));
}
