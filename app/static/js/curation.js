// Curation page: a histogram per score and a threshold slider that shows, as it moves, how many items it keeps.
(function () {
  "use strict";
  const dataEl = document.getElementById("score-data");
  if (!dataEl) return;
  const series = JSON.parse(dataEl.textContent);

  function keptAtLeast(sorted, threshold) {
    let lo = 0, hi = sorted.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid] < threshold) lo = mid + 1; else hi = mid; }
    return sorted.length - lo;
  }

  document.querySelectorAll("[data-series]").forEach(function (panel) {
    const s = series[panel.dataset.series];
    if (!s || !s.count) return;
    const slider = panel.querySelector("[data-threshold]");
    const kept = panel.querySelector("[data-kept]");
    const label = panel.querySelector("[data-threshold-label]");
    const update = function () {
      const t = parseFloat(slider.value);
      label.textContent = t.toFixed(2);
      kept.textContent = keptAtLeast(s.values, t);
    };
    slider.addEventListener("input", update);
    update();
    const box = panel.querySelector(".histogram");
    if (box && typeof uPlot !== "undefined") {
      const xs = s.edges.slice(0, -1).map(function (e, i) { return (e + s.edges[i + 1]) / 2; });
      new uPlot({
        width: Math.max(240, box.clientWidth || 320), height: 140, legend: {show: false},
        scales: {x: {time: false, range: [s.low, s.high]}},
        axes: [{}, {size: 40}],
        series: [{}, {label: "items", fill: "rgba(37,99,235,0.35)", stroke: "#2563eb",
                      paths: uPlot.paths.bars({size: [0.9, 100]}), points: {show: false}}],
      }, [xs, s.counts], box);
    }
  });
})();
