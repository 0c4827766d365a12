/* One run's detail, the transcript search, the matrix tools, and the page's start. */

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
    : run.outcome === "no-verdict"
    ? el("p", {id: "terminal", class: "muted"}, "No job of the test ended.")
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
