/* The buffer pool and RX ring chart, and the TCP view. */

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
