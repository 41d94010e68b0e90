// Rounds page: win rate, length-controlled win rate and acceptance rate per round, with uPlot.
(function () {
  "use strict";
  var el = document.getElementById("rounds-chart");
  var source = document.getElementById("rounds-data");
  if (!el || !source || typeof uPlot === "undefined") return;
  var d = JSON.parse(source.textContent);
  function pct(values) { return values.map(function (v) { return v == null ? null : v * 100; }); }
  new uPlot({
    width: Math.max(320, el.clientWidth || 600), height: 260,
    scales: { x: { time: false }, y: { range: [0, 100] } },
    axes: [{ label: "round", values: function (u, ticks) { return ticks.map(function (t) { return Number.isInteger(t) ? t : ""; }); } },
           { label: "%" }],
    series: [{ label: "round" },
             { label: "win rate vs previous", stroke: "#4f46e5", width: 2, spanGaps: true, points: { show: true } },
             { label: "length-controlled", stroke: "#0891b2", width: 2, dash: [6, 4], spanGaps: true, points: { show: true } },
             { label: "generated accepted", stroke: "#d97706", width: 2, spanGaps: true, points: { show: true } }],
  }, [d.round, pct(d.win_rate), pct(d.lc_win_rate), pct(d.acceptance)], el);
})();
