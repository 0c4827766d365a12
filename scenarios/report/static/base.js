/* Shared by the report's scripts: element helpers, time formats, the time axis. */

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
