// New run form: the "no eval split" note follows the chosen snapshot (shown when it has no eval rows).
(function () {
  "use strict";
  var select = document.getElementById("export"), note = document.getElementById("eval-note");
  if (!select || !note) return;
  function update() { var o = select.selectedOptions[0]; note.hidden = !o || Number(o.dataset.evalRows) > 0; }
  select.addEventListener("change", update);
  update();
})();
