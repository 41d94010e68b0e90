// Human pairwise comparison: keyboard first. j/k move between questions, 1/2/3 answer left/tie/right,
// Ctrl+Enter submits. The form itself is plain HTML (HTMX swaps the next pair in).
(function () {
  "use strict";
  function questions() { return Array.prototype.slice.call(document.querySelectorAll(".pair-question")); }
  function focused() { return document.activeElement && document.activeElement.closest(".pair-question"); }
  function move(step) {
    var all = questions();
    if (!all.length) return;
    var at = all.indexOf(focused());
    all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))].focus();
  }
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target && ev.target.tagName) || "";
    if (tag === "TEXTAREA" || (tag === "INPUT" && ev.target.type === "text")) return;
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      var form = document.getElementById("pair-form");
      if (form) { ev.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (ev.key === "j" || ev.key === "k") { ev.preventDefault(); move(ev.key === "j" ? 1 : -1); return; }
    if (ev.key === "1" || ev.key === "2" || ev.key === "3") {
      var question = focused() || questions()[0];
      if (!question) return;
      var radios = question.querySelectorAll("input[type=radio]");
      var radio = radios[Number(ev.key) - 1];
      if (radio) { ev.preventDefault(); radio.checked = true; question.focus(); move(1); }
    }
  });
  document.body.addEventListener("htmx:afterSwap", function () { var first = questions()[0]; if (first) first.focus(); });
})();
