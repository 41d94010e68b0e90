// Run page: loss and learning-rate charts and the event log, fed by server-sent events.
// The browser's EventSource reconnects with Last-Event-ID, so a dropped connection replays what it missed.
(function () {
  "use strict";
  var script = document.getElementById("tuning-js");
  if (!script) return;
  var runId = script.dataset.run;
  var steps = [], losses = [], rates = [];
  var seen = 0;

  // Tick labels that tell ticks apart: 2e-4 rather than "0", and 5e-4, 1e-3, 1.5e-3 rather than "0.001"
  // three times. Small and large magnitudes use scientific notation; each label has the digits the step
  // between ticks needs (more if two would still read the same), and no trailing zeros.
  function trim(text) {
    return text.replace(/(\.\d*?)0+(e|$)/, "$1$2").replace(/\.(e|$)/, "$1").replace("e+", "e");
  }
  function tickLabels(values) {
    var finite = values.filter(function (v) { return v != null && isFinite(v); });
    var big = finite.reduce(function (m, v) { return Math.max(m, Math.abs(v)); }, 0);
    var sci = big !== 0 && (big < 1e-2 || big >= 1e5);
    var sorted = finite.slice().sort(function (a, b) { return a - b; });
    var step = Infinity;
    for (var i = 1; i < sorted.length; i++) if (sorted[i] > sorted[i - 1]) step = Math.min(step, sorted[i] - sorted[i - 1]);
    if (!isFinite(step)) step = big || 1;
    var stepExp = Math.floor(Math.log10(step) + 1e-9);
    function one(v, extra) {
      if (v == null || !isFinite(v)) return "";
      if (v === 0 || Math.abs(v) < step * 1e-6) return "0";
      if (sci) {
        var exp = Math.floor(Math.log10(Math.abs(v)) + 1e-9);
        return trim(v.toExponential(Math.min(Math.max(0, exp - stepExp) + extra, 12)));
      }
      return trim(v.toFixed(Math.min(Math.max(0, -stepExp) + extra, 12)));
    }
    for (var extra = 0; extra <= 6; extra++) {
      var labels = values.map(function (v) { return one(v, extra); });
      if (new Set(labels).size === labels.length) return labels;
    }
    return labels;
  }
  window.tuneloopTickLabels = tickLabels;

  // A flat series (a constant learning rate) gets a range from 0 to above its value, so its ticks differ.
  function range(u, min, max) {
    if (min == null || max == null) return [0, 1];
    if (min === max) return max > 0 ? [0, max * 2] : (max < 0 ? [max * 2, 0] : [0, 1]);
    return uPlot.rangeNum(min, max, 0.1, true);
  }

  function chart(el, label, color, values) {
    if (!el || typeof uPlot === "undefined") return null;
    var width = Math.max(280, el.clientWidth || 400);
    return new uPlot({
      width: width, height: 220,
      scales: { x: { time: false }, y: { range: range } },
      axes: [{ label: "step" }, { values: function (u, splits) { return tickLabels(splits); }, size: 60 }],
      series: [{ label: "step" }, { label: label, stroke: color, width: 2, spanGaps: true,
                                    value: function (u, v) { return v == null ? "—" : trim(v.toPrecision(4)); } }],
    }, [steps, values], el);
  }
  var accent = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#4f46e5";
  var lossChart = chart(document.getElementById("chart-loss"), "loss", accent, losses);
  var lrChart = chart(document.getElementById("chart-lr"), "learning rate", "#d97706", rates);
  window.tuneloopCharts = { loss: lossChart, lr: lrChart };  // what the page draws, for checks
  var pending = false;

  function redraw() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      if (lossChart) lossChart.setData([steps, losses]);
      if (lrChart) lrChart.setData([steps, rates]);
    });
  }

  function describe(ev) {
    var d = ev.data || {};
    switch (ev.event) {
      case "log": return "step " + d.step + "/" + d.total_steps + "  loss " + (d.loss == null ? "—" : Number(d.loss).toFixed(4));
      case "state": return "state → " + d.state + (d.error ? ": " + d.error : "");
      case "started": return "trainer started: " + d.total_steps + " steps, " + d.num_train_samples + " samples" + (d.resumed_from ? ", resumed from " + d.resumed_from : "");
      case "checkpoint": return "checkpoint at step " + d.step;
      case "artifact": return "artifact " + d.name + " (" + d.size_bytes + " bytes)";
      case "eval": return "evaluation: loss " + d.loss_before + " → " + d.loss_after;
      case "cancelled": return "cancelled at step " + d.step;
      case "completed": return "completed at step " + d.step + ", train loss " + d.train_loss;
      case "error": return "error (" + d.kind + "): " + d.message;
      default: return ev.event;
    }
  }

  var log = document.getElementById("event-log");
  function append(ev) {
    if (ev.id <= seen) return;
    seen = ev.id;
    if (ev.event === "log" && ev.data.step != null) {
      steps.push(ev.data.step);
      losses.push(ev.data.loss == null ? null : ev.data.loss);
      rates.push(ev.data.learning_rate == null ? null : ev.data.learning_rate);
      redraw();
    }
    if (!log) return;
    var item = document.createElement("li");
    var time = document.createElement("time");
    time.textContent = new Date(ev.time).toLocaleTimeString();
    item.appendChild(time);
    item.appendChild(document.createTextNode(" " + describe(ev)));
    item.className = "ev-" + ev.event;
    log.insertBefore(item, log.firstChild);
    while (log.children.length > 300) log.removeChild(log.lastChild);
  }

  var source = new EventSource("/api/v1/tuning-runs/" + runId + "/events");
  ["log", "state", "started", "checkpoint", "artifact", "eval", "cancelled", "completed", "error"].forEach(function (name) {
    source.addEventListener(name, function (msg) { append(JSON.parse(msg.data)); });
  });
  source.addEventListener("end", function () { source.close(); });
})();
