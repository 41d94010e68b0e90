// Run page: loss and learning-rate charts and the event log, fed by server-sent events.
// The browser's EventSource reconnects with Last-Event-ID, so a dropped connection replays what it missed.
(function () {
  "use strict";
  var script = document.getElementById("tuning-js");
  if (!script) return;
  var runId = script.dataset.run;
  var steps = [], losses = [], rates = [];
  var seen = 0;

  function chart(el, label, color, values) {
    if (!el || typeof uPlot === "undefined") return null;
    var width = Math.max(280, el.clientWidth || 400);
    return new uPlot({
      width: width, height: 220,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, {}],
      series: [{ label: "step" }, { label: label, stroke: color, width: 2, spanGaps: true }],
    }, [steps, values], el);
  }
  var accent = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#4f46e5";
  var lossChart = chart(document.getElementById("chart-loss"), "loss", accent, losses);
  var lrChart = chart(document.getElementById("chart-lr"), "learning rate", "#d97706", rates);
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
