/* smtp-hil report: draws a run's detail from its embedded JSON when it is opened.
   No network, no library. State for people and tests is on <html>:
   data-report-state (loading | ready | error), data-report-errors, data-run-shown. */
(function () {
  "use strict";
  const root = document.documentElement;
  const SVG = "http://www.w3.org/2000/svg";

  // ---------------------------------------------------------------- helpers
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(key, String(value));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function tip(node, text) {
    node.append(svg("title", {}, text));
    return node;
  }

  function seconds(us) {
    const whole = Math.floor(us / 1e6);
    return whole + "." + String(us % 1e6).padStart(6, "0");
  }

  function duration(us) {
    if (us < 1000) return us + " \u00b5s";
    if (us < 1e6) return +(us / 1000).toFixed(1) + " ms";
    if (us < 120e6) return +(us / 1e6).toFixed(us < 10e6 ? 3 : 1) + " s";
    return +(us / 60e6).toFixed(1) + " min";
  }

  function shorten(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "\u2026" : text;
  }

  function outcomeClass(outcome) {
    return "o-" + outcome;
  }

  // ---------------------------------------------------------------- time axis
  /* A piece is [t0, t1, x0, x1, gap]; x runs 0..1 (scenarios/report/timeaxis.py). */
  function axisMap(pieces) {
    return function (t) {
      if (t <= pieces[0][0]) return pieces[0][2];
      let lo = 0, hi = pieces.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pieces[mid][1] < t) lo = mid + 1; else hi = mid;
      }
      const [t0, t1, x0, x1] = pieces[lo];
      if (t >= t1) return x1;
      return x0 + (t - t0) / (t1 - t0) * (x1 - x0);
    };
  }

  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * power) return m * power;
    return 10 * power;
  }

  function drawAxis(group, pieces, left, width, y) {
    const at = axisMap(pieces);
    group.append(svg("line", {x1: left, x2: left + width, y1: y, y2: y, class: "axis",
                              stroke: "#8a94a3"}));
    for (const [t0, t1, x0, x1, gap] of pieces) {
      const px0 = left + x0 * width, px1 = left + x1 * width;
      if (gap) {
        const mid = (px0 + px1) / 2;
        group.append(svg("path", {d: `M${mid - 4},${y - 6} l4,12 l4,-12`, fill: "none",
                                  stroke: "#8a94a3"}));
        group.append(tip(svg("text", {x: mid, y: y + 26, "text-anchor": "middle",
                                      "font-size": 10, fill: "#5f6b7a"},
                             "\u2248" + duration(t1 - t0)), "a quiet stretch of " +
                         duration(t1 - t0) + ", drawn short"));
        continue;
      }
      const pixels = px1 - px0;
      if (pixels < 30) continue;
      const step = niceStep(t1 - t0, Math.floor(pixels / 95));
      for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
        const x = left + at(t) * width;
        group.append(svg("line", {x1: x, x2: x, y1: y, y2: y + 4, stroke: "#8a94a3"}));
        group.append(svg("text", {x: x, y: y + 15, "text-anchor": "middle", "font-size": 10,
                                  fill: "#5f6b7a"}, (t / 1e6).toFixed(step < 1000 ? 6 :
                                  step < 1e6 ? 3 : 1)));
      }
    }
    return at;
  }

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

  // ---------------------------------------------------------------- device chart
  const CHART = {width: 960, height: 250, left: 54, right: 16, top: 26, bottom: 46};

  function drawDevice(device) {
    const {width, height, left, right, top, bottom} = CHART;
    const plotW = width - left - right, plotH = height - top - bottom;
    const points = device.p;
    const size = device.size || 0;
    const yMax = Math.max(size, device.sum.peak_in_use, device.sum.ring_peak, 1);
    const Y = (v) => top + plotH - (v / yMax) * plotH;
    const root = svg("svg", {width: width, height: height, viewBox: `0 0 ${width} ${height}`,
                             role: "img", "aria-label": "buffer pool and RX ring chart",
                             class: "pool-chart"});
    const axisGroup = svg("g", {class: "x-axis"});
    const X0 = drawAxis(axisGroup, device.axis, left, plotW, top + plotH);
    const X = (t) => left + X0(t) * plotW;
    const end = device.axis[device.axis.length - 1][1];
    // quiet stretches and busy-waits behind everything
    for (const [t0, t1, x0, x1, gap] of device.axis) {
      if (gap) root.append(svg("rect", {x: left + x0 * plotW, y: top, width: (x1 - x0) * plotW,
                                        height: plotH, fill: "#f3f5f8"}));
    }
    for (const mark of device.m) {
      if (mark[1] !== "busy") continue;
      root.append(tip(svg("rect", {x: X(mark[0]), y: top, width: Math.max(X(mark[3]) -
                                   X(mark[0]), 2), height: plotH, fill: "#fbdcd9",
                                   "fill-opacity": 0.6, class: "busy"}),
                      `${seconds(mark[0])}\u2013${seconds(mark[3])} s: ${mark[2]}`));
    }
    // y grid
    for (const v of [0, Math.round(yMax / 2), yMax]) {
      root.append(svg("line", {x1: left, x2: left + plotW, y1: Y(v), y2: Y(v),
                               stroke: "#eef1f5"}));
      root.append(svg("text", {x: left - 6, y: Y(v) + 4, "text-anchor": "end",
                               "font-size": 10, fill: "#5f6b7a"}, String(v)));
    }
    root.append(svg("text", {x: 12, y: top + plotH / 2, "font-size": 10, fill: "#5f6b7a",
                             transform: `rotate(-90 12 ${top + plotH / 2})`,
                             "text-anchor": "middle"}, "buffers / frames"));
    if (size) {
      root.append(svg("line", {x1: left, x2: left + plotW, y1: Y(size), y2: Y(size),
                               stroke: "#b3261e", "stroke-dasharray": "5 4"}));
      root.append(svg("text", {x: left + plotW - 2, y: Y(size) - 4, "text-anchor": "end",
                               "font-size": 10.5, fill: "#b3261e"},
                          `pool: ${size} buffers`));
    }
    // series as steps: in use (area, peaks as spikes), rx buffers, RX ring
    const step = (index, withPeak) => {
      let d = `M${X(0)},${Y(0)}`;
      let current = 0;
      for (const p of points) {
        const x = X(p[0]);
        d += ` L${x},${Y(current)}`;
        if (withPeak && p[2] > p[index]) d += ` L${x},${Y(p[2])}`;
        d += ` L${x},${Y(p[index])}`;
        current = p[index];
      }
      return d + ` L${X(end)},${Y(current)}`;
    };
    const area = step(1, true) + ` L${X(end)},${Y(0)} Z`;
    root.append(svg("path", {d: area, fill: "#1f5fbf", "fill-opacity": 0.18, stroke: "none"}));
    root.append(svg("path", {d: step(1, true), fill: "none", stroke: "#1f5fbf",
                             "stroke-width": 1.5, class: "series-in-use"}));
    if (points.some((p) => p[3] > 0)) {
      root.append(svg("path", {d: step(3, false), fill: "none", stroke: "#138a8a",
                               "stroke-width": 1.3, "stroke-dasharray": "4 2",
                               class: "series-rx"}));
    }
    if (device.sum.ring_peak > 0) {
      root.append(svg("path", {d: step(4, false), fill: "none", stroke: "#d9730d",
                               "stroke-width": 2, class: "series-ring"}));
    }
    // instants
    for (const mark of device.m) {
      const [t, kind, text] = mark;
      const x = X(t);
      const label = `${seconds(t)} s: ${text}`;
      if (kind === "failed") {
        root.append(tip(svg("path", {d: `M${x},${top - 2} l-5,-9 h10 z`, fill: "#b3261e",
                                     class: "mark-failed"}), label));
      } else if (kind === "drop") {
        root.append(tip(svg("path", {d: `M${x - 4},${top + plotH + 26} l8,8 M${x + 4},` +
                                        `${top + plotH + 26} l-8,8`, stroke: "#b3261e",
                                     "stroke-width": 2, class: "mark-drop"}), label));
      } else if (kind === "watchdog" || kind === "boot") {
        const color = kind === "watchdog" ? "#b3261e" : "#5f6b7a";
        root.append(tip(svg("line", {x1: x, x2: x, y1: top - 12, y2: top + plotH,
                                     stroke: color, "stroke-width": kind === "watchdog" ? 2 : 1,
                                     "stroke-dasharray": kind === "boot" ? "3 3" : null,
                                     class: "mark-" + kind}), label));
        if (kind === "watchdog") {
          root.append(svg("text", {x: x + 4, y: top - 4, "font-size": 10.5, fill: color,
                                   "font-weight": 600}, "watchdog reset"));
        }
      }
    }
    root.append(axisGroup);
    root.append(svg("text", {x: left + plotW, y: height - 4, "text-anchor": "end",
                             "font-size": 10, fill: "#5f6b7a"}, "virtual time (s)"));
    return root;
  }

  function deviceLegend() {
    const items = [["#1f5fbf", "buffers in use (spikes: the most in use at one instant)"],
                   ["#138a8a", "of them holding received frames"],
                   ["#d9730d", "frames waiting in the NIC RX ring"],
                   ["#fbdcd9", "a task busy-waits: the super-loop stops"],
                   ["#b3261e", "\u25bc failed allocation   \u2715 frame dropped   | watchdog reset"]];
    return el("p", {class: "figure-note"}, items.map(([color, text]) =>
      el("span", {style: "margin-right:16px;white-space:nowrap"},
         el("span", {style: `display:inline-block;width:14px;height:4px;background:${color};` +
                            "vertical-align:middle;margin-right:5px"}), text)));
  }

  // ---------------------------------------------------------------- TCP view
  function drawStevens(segments, fromDevice, pieces, title) {
    const width = 960, height = 170, left = 70, right = 16, top = 20, bottom = 40;
    const plotW = width - left - right, plotH = height - top - bottom;
    const mine = segments.filter((s) => s[1] === (fromDevice ? 1 : 0) && s[5] > 0);
    if (!mine.length) return null;
    const maxSeq = Math.max(...mine.map((s) => s[3] + s[5]), 1);
    const Y = (v) => top + plotH - v / maxSeq * plotH;
    const root = svg("svg", {width: width, height: height, viewBox: `0 0 ${width} ${height}`,
                             role: "img", "aria-label": title, class: "tcp-graph"});
    root.append(svg("text", {x: left, y: 13, "font-size": 11.5, "font-weight": 600}, title));
    const axisGroup = svg("g");
    const X0 = drawAxis(axisGroup, pieces, left, plotW, top + plotH);
    const X = (t) => left + X0(t) * plotW;
    for (const v of [0, maxSeq]) {
      root.append(svg("text", {x: left - 6, y: Y(v) + 4, "text-anchor": "end",
                               "font-size": 10, fill: "#5f6b7a"}, String(v)));
    }
    const colors = {"": "#1f5fbf", retransmission: "#d9730d", dropped: "#b3261e",
                    lost: "#7b3fb2"};
    for (const s of mine) {
      const style = s[8] || "";
      const x = X(s[0]);
      root.append(tip(svg("line", {x1: x, x2: x, y1: Y(s[3]), y2: Math.min(Y(s[3] + s[5]),
                                   Y(s[3]) - 2), stroke: colors[style] || colors[""],
                                   "stroke-width": 2.5, class: "seg " + style}),
                      `${seconds(s[0])} s seq ${s[3]} len ${s[5]} ${s[7] || ""}`));
    }
    root.append(axisGroup);
    root.append(svg("text", {x: 12, y: top + plotH / 2, "font-size": 10, fill: "#5f6b7a",
                             transform: `rotate(-90 12 ${top + plotH / 2})`,
                             "text-anchor": "middle"}, "relative seq"));
    return root;
  }

  function linearAxis(segments) {
    const last = segments.length ? segments[segments.length - 1][0] : 1;
    return [[0, Math.max(last, 1), 0, 1, 0]];
  }

  function tcpSection(run) {
    const tcp = run.tcp;
    const sum = tcp.sum;
    const section = el("section", {class: "tcp", id: "tcp"},
      el("h3", {}, "TCP ", el("small", {}, `${tcp.dev} \u2194 ${tcp.srv}`)),
      el("p", {class: "figure-note"},
         `${sum.segments_from_device} segments from the device (${sum.bytes_from_device} ` +
         `payload bytes, retransmissions included), ${sum.segments_from_server} from the ` +
         `server (${sum.bytes_from_server} bytes); ${sum.retransmissions} retransmission(s), ` +
         `${sum.rto} retransmission timer(s) fired, ${sum.link_drops} dropped by the link, ` +
         `${sum.lost_at_receiver} lost at the receiver, ${sum.rst} RST.`));
    const pieces = run.devices.length ? run.devices[0].axis : linearAxis(tcp.seg);
    const figure = el("div", {class: "figure"});
    for (const [fromDevice, title] of [[true, "device \u2192 server: data segments"],
                                       [false, "server \u2192 device: data segments"]]) {
      const graph = drawStevens(tcp.seg, fromDevice, pieces, title);
      if (graph) figure.append(graph);
    }
    if (figure.childNodes.length) {
      section.append(figure, el("p", {class: "figure-note"},
        "Each bar is a segment: its sequence range at the time it was sent. Orange: " +
        "retransmission; red: dropped by the link; purple: lost at the receiver."));
    }
    const table = el("table", {class: "t segments"}, el("thead", {}, el("tr", {},
      ["time (s)", "", "flags", "seq", "ack", "len", "win", ""].map((h) =>
        el("th", {}, h)))));
    const body = el("tbody");
    const head = tcp.omitted ? 700 : tcp.seg.length;
    tcp.seg.forEach((s, i) => {
      if (i === head && tcp.omitted) {
        body.append(el("tr", {class: "s-omitted"}, el("td", {colspan: 8},
          `\u2026 ${tcp.omitted} segments left out (the pcap has them all) \u2026`)));
      }
      body.append(el("tr", {class: s[8] ? "s-" + s[8] : null},
        el("td", {class: "num"}, seconds(s[0])),
        el("td", {}, s[1] ? "dev \u2192 srv" : "dev \u2190 srv"),
        el("td", {}, s[2]), el("td", {class: "num"}, s[3]), el("td", {class: "num"}, s[4]),
        el("td", {class: "num"}, s[5]), el("td", {class: "num"}, s[6]),
        el("td", {}, s[7] || "")));
    });
    table.append(body);
    section.append(el("details", {}, el("summary", {},
      `all ${tcp.seg.length + tcp.omitted} segments`), table));
    return section;
  }

  // ---------------------------------------------------------------- transcript
  function transcriptSection(run) {
    const pre = el("pre", {class: "transcript", id: "transcript"});
    const lines = run.transcript.map((text) => {
      const kind = / C: /.test(text.slice(0, 20)) ? "c" : / S: /.test(text.slice(0, 20))
        ? "s" : "e";
      const line = el("div", {class: "tline " + kind}, text);
      pre.append(line);
      return {node: line, text: text, lower: text.toLowerCase()};
    });
    const input = el("input", {type: "search", id: "transcript-search",
                               placeholder: "search the transcript", autocomplete: "off"});
    const only = el("input", {type: "checkbox", id: "transcript-only", checked: true});
    const count = el("span", {class: "muted", id: "transcript-count"},
                     `${lines.length} lines`);
    const update = () => {
      const query = input.value.toLowerCase();
      let hits = 0;
      for (const line of lines) {
        const at = query ? line.lower.indexOf(query) : -1;
        line.node.textContent = "";
        if (at < 0) {
          line.node.textContent = line.text;
          line.node.classList.toggle("miss", Boolean(query) && only.checked);
          continue;
        }
        hits += 1;
        line.node.classList.remove("miss");
        let from = 0, index = at;
        while (index >= 0) {
          line.node.append(line.text.slice(from, index),
                           el("mark", {}, line.text.slice(index, index + query.length)));
          from = index + query.length;
          index = line.lower.indexOf(query, from);
        }
        line.node.append(line.text.slice(from));
      }
      count.textContent = query ? `${hits} of ${lines.length} lines match`
                                : `${lines.length} lines`;
    };
    input.addEventListener("input", update);
    only.addEventListener("change", update);
    return el("section", {class: "transcript-section"},
      el("h3", {}, "Transcript ", el("small", {}, "as the server saw it, decrypted under " +
                                    "TLS; credentials hidden")),
      el("div", {class: "search"}, el("label", {}, "Search ", input),
         el("label", {}, only, " only matching lines"), count),
      pre);
  }

  // ---------------------------------------------------------------- one run
  function statusClass(status) {
    return status === "pass" ? "pass" : status === "fail" ? "fail" : "other";
  }

  function renderRun(run) {
    const index = JSON.parse(document.getElementById("report-index").textContent);
    const section = document.getElementById("run");
    section.textContent = "";
    const hasMatrix = Boolean(document.getElementById("matrix"));
    if (hasMatrix || index.length > 1) {
      section.append(el("p", {class: "run-nav"},
        el("a", {href: hasMatrix ? "#matrix" : "#runs"},
           hasMatrix ? "\u2191 back to the matrix" : "\u2191 all runs")));
    }
    const seed = run.seed === null ? "" : ` seed ${run.seed}`;
    section.append(
      el("h2", {id: "run-title"}, run.scenario + " ",
         el("small", {}, `[${run.column}${seed}] ${run.title}`)),
      el("div", {class: "banner " + outcomeClass(run.outcome), id: "run-outcome"},
         el("b", {}, run.outcomeWords),
         el("span", {class: "reason"}, run.reason)));
    if (run.reproduces.length) {
      section.append(el("p", {}, "The catalog says this release has the bug: ",
        run.reproduces.map((line) => el("q", {}, line))));
    }
    const facts = el("dl", {class: "facts"});
    for (const [name, value] of run.facts) facts.append(el("dt", {}, name), el("dd", {}, value));
    if (run.artifacts.length) {
      facts.append(el("dt", {}, "artifacts"), el("dd", {class: "artifacts"},
        run.artifacts.map(([label, href]) => el("a", {href: href}, label))));
    } else if (run.client) {
      facts.append(el("dt", {}, "artifacts"), el("dd", {class: "muted"},
        "none written (run with --artifacts DIR to link the pcap, trace and key log)"));
    }
    // verdict and events, side by side
    const checks = el("table", {class: "t checks", id: "checks"}, el("thead", {}, el("tr", {},
      el("th", {}, "expectation"), el("th", {}, "expected"), el("th", {}, ""),
      el("th", {}, "what happened"))));
    const checkBody = el("tbody");
    for (const [name, expected, status, detail] of run.checks) {
      checkBody.append(el("tr", {},
        el("td", {class: "mono"}, name), el("td", {class: "mono"}, expected),
        el("td", {class: "status " + statusClass(status)},
           status === "pass" ? "\u2713 pass" : status === "fail" ? "\u2717 fail" : status),
        el("td", {}, detail)));
    }
    checks.append(checkBody);
    const terminal = !run.client
      ? el("p", {id: "terminal", class: "muted"}, "The client is a real program or " +
           "device: its own events are not observable here, only what the server saw.")
      : run.terminal
      ? el("p", {}, "Terminal event at ", el("span", {class: "mono"}, seconds(run.terminal[0])),
           " s: ", el("span", {class: "terminal " + outcomeClass(run.outcome), id: "terminal"},
                      run.terminal[1]))
      : el("p", {id: "terminal"}, el("b", {}, "No terminal event:"),
           " the job never ended within the scenario's time limit.");
    const verdict = el("div", {},
      el("h3", {}, "Verdict"), terminal, checks,
      run.notes.length ? el("div", {}, el("h3", {}, "What the server noticed"),
        el("ul", {class: "notes"}, run.notes.map((n) => el("li", {}, n)))) : null);
    const events = el("table", {class: "t events", id: "events"},
      el("thead", {}, el("tr", {}, el("th", {}, "time (s)"), el("th", {}, "client event"))),
      el("tbody", {}, run.events.map(([t, text]) => el("tr", {},
        el("td", {class: "num"}, seconds(t)), el("td", {class: "mono"}, text)))));
    section.append(el("div", {class: "grid2"}, verdict,
      el("div", {}, el("h3", {}, "Run"), facts,
         run.client ? el("h3", {}, "Events") : null, run.client ? events : null)));
    // the dialogue
    section.append(el("h3", {}, "SMTP dialogue ",
      el("small", {}, "arrows at the server's time; the device column shows when the " +
                      "client sent; shading: TLS handshake and TLS")),
      el("div", {class: "figure", id: "sequence"}, drawSequence(run)));
    for (const device of run.devices) {
      const s = device.sum;
      section.append(el("h3", {}, "Buffer pool and NIC RX ring ",
        run.devices.length > 1 ? el("small", {}, `board ${device.board}`) : null),
        el("p", {class: "figure-note"},
           `peak ${s.peak_in_use} of ${device.size} buffers in use, ` +
           `${s.failed_allocations} failed allocation(s), ${s.frames_dropped} frame(s) ` +
           `dropped, ${s.watchdog_resets} watchdog reset(s), RX ring peak ${s.ring_peak}`),
        el("div", {class: "figure", id: "pool-chart"}, drawDevice(device)), deviceLegend());
    }
    if (run.tcp) section.append(tcpSection(run));
    section.append(transcriptSection(run));
    section.hidden = false;
    for (const box of section.querySelectorAll("rect.terminal-box")) {
      const text = box.nextSibling;
      if (text && text.getComputedTextLength) {
        box.setAttribute("width", text.getComputedTextLength() + 12);
      }
    }
    root.setAttribute("data-run-shown", run.id);
    for (const cell of document.querySelectorAll("a.cell.current")) {
      cell.classList.remove("current");
    }
    const cell = document.querySelector(`a.cell[href="#run-${CSS.escape(run.id)}"]`);
    if (cell) cell.classList.add("current");
  }

  function runData(id) {
    const node = document.getElementById("run-data-" + id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function route(initial) {
    const hash = decodeURIComponent(location.hash.slice(1));
    const index = JSON.parse(document.getElementById("report-index").textContent);
    let id = hash.startsWith("run-") ? hash.slice(4) : null;
    if (id === null && index.length === 1) id = index[0].id;
    const section = document.getElementById("run");
    if (id === null) {
      section.hidden = true;
      root.removeAttribute("data-run-shown");
      return;
    }
    const run = runData(id);
    if (run === null) {
      section.hidden = false;
      section.textContent = "";
      section.append(el("p", {class: "muted"}, `No run ${id} in this report.`));
      return;
    }
    renderRun(run);
    if (!initial || hash) section.scrollIntoView({block: "start"});
  }

  // ---------------------------------------------------------------- the matrix tools
  function matrixTools() {
    const filter = document.getElementById("matrix-filter");
    const surprises = document.getElementById("matrix-surprises");
    if (!filter || !surprises) return;
    const update = () => {
      const query = filter.value.toLowerCase();
      for (const row of document.querySelectorAll("table.matrix tbody tr")) {
        const name = row.getAttribute("data-scenario").toLowerCase();
        const hide = (query && !name.includes(query)) ||
                     (surprises.checked && !row.hasAttribute("data-surprise"));
        row.classList.toggle("hidden", Boolean(hide));
      }
    };
    filter.addEventListener("input", update);
    surprises.addEventListener("change", update);
  }

  function start() {
    matrixTools();
    window.addEventListener("hashchange", () => route(false));
    route(true);
    if (root.getAttribute("data-report-state") !== "error") {
      root.setAttribute("data-report-state", "ready");
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
