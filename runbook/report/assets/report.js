// Draws the runbook report from the JSON in #report-data. Data only ever reaches the page
// through textContent / attribute values, never as HTML. Query string: ?failed=1, ?host=TEXT,
// ?cell=HOST|STEP (opens that host-step; STEP is the step's number, from 1, as the console shows it).
(function () {
  "use strict";
  var t0 = performance.now();
  var report = JSON.parse(document.getElementById("report-data").textContent);
  var BAD = { failed: 1, error: 1, unreachable: 1 };
  var SYMBOL = { success: "ok", failed: "F", error: "E", unreachable: "U", skipped: "-" };
  var steps = report.steps || [];
  var hosts = Object.keys(report.hosts || {});
  var sites = report.sites || {};  // host -> the site whose worker drove it (multi-site runs)
  steps.forEach(function (step) {  // hosts a step targeted but the recap lacks (defensive)
    Object.keys(step.results || {}).forEach(function (h) { if (!(h in report.hosts)) { report.hosts[h] = {}; hosts.push(h); } });
  });

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function when(epoch) {
    return (typeof epoch === "number") ? new Date(epoch * 1000).toISOString().replace(".000", "") : "";
  }
  function addMeta(dl, label, value) {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(el("dt", label));
    dl.appendChild(el("dd", value));
  }
  // a failure that was ignored, or that a block's rescue recovered, does not fail the host
  function isForgiven(result) { return !!(result && BAD[result.status] && (result.ignored || result.rescued)); }
  function isBad(result) { return !!(result && BAD[result.status] && !isForgiven(result)); }
  function cellClass(result) {
    if (!result) return "s-none";
    if (isForgiven(result)) return "s-ignored";
    return "s-" + result.status;
  }
  // a step inside blocks or includes is shown by its path in the step tree
  function label(step) { return step.path || step.name; }
  function itemLines(items) {
    return (items || []).map(function (i) {
      return "[" + i.item + "] " + i.status + (i.rc === null || i.rc === undefined ? "" : " (rc " + i.rc + ")") +
        (i.message ? ": " + i.message : "");
    }).join("\n");
  }

  // -- header: metadata and summary
  var title = document.getElementById("title");
  title.textContent = "runbook " + (report.runbook || "") + " ";
  title.appendChild(el("span", report.status, "status st-" + report.status));
  var meta = document.getElementById("meta");
  addMeta(meta, "run", report.run_id);
  addMeta(meta, "runbook file", report.runbook_path);
  addMeta(meta, "lab", report.lab_path === null ? "(local host only)" : report.lab_path);
  addMeta(meta, "started", when(report.started));
  addMeta(meta, "ended", when(report.ended));
  addMeta(meta, "duration", typeof report.duration_s === "number" ? report.duration_s.toFixed(2) + " s" : "");
  if (report.check) addMeta(meta, "dry run", "yes (nothing was executed)");
  addMeta(meta, "error", report.error);

  var failedHosts = {};
  steps.forEach(function (step) {
    Object.keys(step.results || {}).forEach(function (h) { if (isBad(step.results[h])) failedHosts[h] = true; });
  });
  var nFailed = Object.keys(failedHosts).length;
  document.getElementById("summary").textContent =
    hosts.length + " hosts: " + (hosts.length - nFailed) + " ok, " + nFailed + " failed; " + steps.length + " steps";

  // -- the grid: one row per host, one column per step
  var grid = document.getElementById("grid");
  var headRow = el("tr");
  headRow.appendChild(el("th", "host", "host"));
  steps.forEach(function (step) {
    var th = el("th", (step.index + 1) + " " + step.name);
    th.title = (step.index + 1) + ". " + label(step) + " (" + step.action + ")" + (step.location ? " at " + step.location : "");
    headRow.appendChild(th);
  });
  grid.tHead.appendChild(headRow);
  var body = grid.tBodies[0];
  var fragment = document.createDocumentFragment();
  var rows = [];
  hosts.forEach(function (h) {
    var tr = el("tr");
    tr.dataset.host = h;
    if (failedHosts[h]) tr.dataset.failed = "1";
    var hostCell = el("td", h, "host");
    if (sites[h]) {  // a site host: its site beside its id, and in the tooltip
      tr.dataset.site = sites[h];
      hostCell.appendChild(el("span", sites[h], "site"));
      hostCell.title = h + ": driven by the worker of site " + sites[h];
    }
    tr.appendChild(hostCell);
    steps.forEach(function (step, column) {
      var result = (step.results || {})[h];
      var td = el("td", result ? SYMBOL[result.status] || "?" : "", "cell " + cellClass(result));
      if (isForgiven(result)) td.textContent = result.rescued ? "r" : "f";
      td.dataset.step = String(column);
      if (result) {
        td.dataset.status = result.status;
        td.title = h + " / " + label(step) + ": " + result.status + (result.message ? " (" + result.message + ")" : "");
      }
      tr.appendChild(td);
    });
    fragment.appendChild(tr);
    rows.push(tr);
  });
  body.appendChild(fragment);

  // -- recap table
  var recapBody = document.querySelector("#recap tbody");
  var recapFragment = document.createDocumentFragment();
  hosts.forEach(function (h) {
    var counts = report.hosts[h] || {};
    var tr = el("tr");
    tr.appendChild(el("td", h));
    ["success", "failed", "error", "skipped", "unreachable"].forEach(function (s) { tr.appendChild(el("td", counts[s] || 0)); });
    recapFragment.appendChild(tr);
  });
  recapBody.appendChild(recapFragment);

  // -- filters
  var failedOnly = document.getElementById("failed-only");
  var search = document.getElementById("host-search");
  var shown = document.getElementById("shown");
  function applyFilters() {
    var needle = search.value.trim().toLowerCase();
    var visible = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var show = (!failedOnly.checked || row.dataset.failed === "1") &&
        (!needle || row.dataset.host.toLowerCase().indexOf(needle) !== -1);
      row.hidden = !show;
      if (show) visible++;
    }
    shown.textContent = "showing " + visible + " of " + rows.length + " hosts";
    document.body.dataset.visibleHosts = String(visible);
  }
  failedOnly.addEventListener("change", applyFilters);
  search.addEventListener("input", applyFilters);

  // -- details of one host-step
  var detail = document.getElementById("detail");
  var selected = null;
  function openCell(host, column) {
    var step = steps[column];
    var result = step && (step.results || {})[host];
    if (!result) return false;
    if (selected) selected.classList.remove("selected");
    var row = rows[hosts.indexOf(host)];
    selected = row ? row.children[column + 1] : null;
    if (selected) selected.classList.add("selected");
    document.getElementById("detail-title").textContent = host + " / " + (step.index + 1) + ". " + label(step);
    var dl = document.getElementById("detail-meta");
    dl.textContent = "";
    addMeta(dl, "status", result.status + (result.ignored ? " (ignored)" : "") + (result.rescued ? " (rescued)" : ""));
    addMeta(dl, "site", sites[host]);
    addMeta(dl, "exit status", result.rc);
    addMeta(dl, "message", result.message);
    addMeta(dl, "attempts", result.attempts);
    addMeta(dl, "power state", result.state);
    addMeta(dl, "loop items", itemLines(result.items));
    addMeta(dl, "tags", (step.tags || []).join(", "));
    addMeta(dl, "action", step.action);
    addMeta(dl, "defined at", step.location);
    addMeta(dl, "started", when(result.started));
    addMeta(dl, "took", typeof result.ended === "number" ? (result.ended - result.started).toFixed(3) + " s" : "");
    document.getElementById("detail-command").textContent = result.command || "(nothing was sent)";
    document.getElementById("detail-output").textContent = result.output || "(no output)";
    detail.hidden = false;
    detail.dataset.host = host;
    detail.dataset.step = String(column);
    return true;
  }
  body.addEventListener("click", function (event) {
    var td = event.target.closest("td.cell");
    if (td && td.dataset.status) openCell(td.parentNode.dataset.host, Number(td.dataset.step));
  });
  document.getElementById("detail-close").addEventListener("click", function () {
    detail.hidden = true;
    if (selected) selected.classList.remove("selected");
  });

  // -- initial view from the query string
  var params = new URLSearchParams(location.search);
  failedOnly.checked = params.get("failed") === "1";
  search.value = params.get("host") || "";
  applyFilters();
  var cell = params.get("cell");
  if (cell && cell.lastIndexOf("|") > 0) {
    var cut = cell.lastIndexOf("|");
    openCell(cell.slice(0, cut), Number(cell.slice(cut + 1)) - 1);
  }
  document.body.dataset.renderMs = (performance.now() - t0).toFixed(1);
  document.body.dataset.ready = "1";
})();
