// The task page: ranking (drag and keys), correction mode, autosave (server + localStorage), shortcuts.
(function () {
  "use strict";
  const LAYOUT_KEY = "tuneloop-layout";
  const GUIDE_KEY = "tuneloop-guidelines";
  const draftKey = (id) => "tuneloop-draft-" + id;
  let saveTimer = null;

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const form = () => $("#task-form");
  const taskId = () => ($("#task") || {}).dataset?.annotation || "";
  // Editing a submitted annotation: nothing is saved until Save, so no draft is kept anywhere.
  const editing = () => ($("#task") || {}).dataset?.editing === "yes";
  const cards = () => $$("#candidates .ann-cand");

  function readRanking() {
    try { const r = JSON.parse($("#ranking-input").value || "[]"); return Array.isArray(r) ? r : []; }
    catch (e) { return []; }
  }

  function writeRanking(ranking) {
    // Trailing gaps carry no information; keep the stored list short.
    while (ranking.length && ranking[ranking.length - 1] == null) ranking.pop();
    $("#ranking-input").value = JSON.stringify(ranking);
    paintRanks();
    changed();
  }

  function paintRanks() {
    const ranking = readRanking();
    cards().forEach((card) => {
      const pos = ranking.indexOf(Number(card.dataset.id));
      const badge = $("[data-rank]", card);
      badge.textContent = pos >= 0 ? String(pos + 1) : "–";
      badge.classList.toggle("set", pos >= 0);
      if (pos >= 0) card.classList.remove("unranked");  // the error's mark goes once the card is placed
    });
  }

  function setRank(card, rank) {
    const id = Number(card.dataset.id);
    const n = cards().length;
    if (rank > n) return;
    const ranking = readRanking();
    while (ranking.length < n) ranking.push(null);
    const old = ranking.indexOf(id);
    if (rank === 0) { if (old >= 0) ranking[old] = null; writeRanking(ranking); return; }
    const holder = ranking[rank - 1];
    // No ties: whoever held this rank takes the focused card's old place (or becomes unranked).
    ranking[rank - 1] = id;
    if (old >= 0 && old !== rank - 1) ranking[old] = holder != null && holder !== id ? holder : null;
    writeRanking(ranking);
  }

  function placeDragged(ev) {
    // Only the card the annotator dragged is placed: it takes the rank of the slot it was dropped on, as if
    // that number had been pressed. The cards it passed keep their own ranks (or none), so a card nobody
    // judged is never ranked by accident, and the incomplete-ranking check still catches it.
    setRank(ev.item, ev.newIndex + 1);
  }

  function rate(card, index) {
    const radios = $$("input[type=radio]", card);
    if (radios[index]) { radios[index].checked = true; changed(); }
  }

  function correctionMode(mode, candidateId) {
    const box = $("#correction");
    const radio = $(`input[name=correction_mode][value=${mode}]`);
    if (!radio) return;
    radio.checked = true;
    box.dataset.mode = mode;
    const text = $("#correction-text");
    if (mode === "edit" && candidateId) {
      const select = $("select[name=corrected_candidate_id]");
      const switching = select.value !== String(candidateId) || !text.value.trim();
      select.value = String(candidateId);
      // Start from the candidate's own text; an edit in progress on the same candidate is kept.
      if (switching) text.value = $(`.ann-cand[data-id="${candidateId}"] .ann-original`).value;
    }
    if (mode !== "none") {
      text.focus();
      text.setSelectionRange(text.value.length, text.value.length);  // carry on where the response ends
    }
    changed();
  }

  function storeLocal() {
    const f = form();
    if (!f || !taskId() || editing()) return;
    const fields = [];
    new FormData(f).forEach((v, k) => { if (k !== "csrftoken") fields.push([k, v]); });
    try { localStorage.setItem(draftKey(taskId()), JSON.stringify({ at: Date.now(), fields: fields })); } catch (e) { /* storage full or off */ }
  }

  function restoreLocal() {
    // A draft the server never acknowledged (offline, closed tab) is newer than what the server rendered.
    const raw = taskId() && !editing() && localStorage.getItem(draftKey(taskId()));
    if (!raw) return false;
    let saved;
    try { saved = JSON.parse(raw); } catch (e) { return false; }
    const f = form();
    $$("input[type=checkbox], input[type=radio]", f).forEach((el) => { el.checked = false; });
    saved.fields.forEach(([k, v]) => {
      const els = $$(`[name="${CSS.escape(k)}"]`, f);
      els.forEach((el) => {
        if (el.type === "checkbox" || el.type === "radio") { if (el.value === v) el.checked = true; }
        else el.value = v;
      });
    });
    $("#correction").dataset.mode = ($("input[name=correction_mode]:checked", f) || {}).value || "none";
    paintRanks();
    return true;
  }

  function changed() {
    storeLocal();
    clearTimeout(saveTimer);
    if (editing()) return;
    saveTimer = setTimeout(() => document.body.dispatchEvent(new Event("tl-save")), 600);
    const status = $("#save-status");
    if (status) status.textContent = navigator.onLine ? "Saving…" : "Offline: kept on this device";
  }

  function focusMove(step) {
    const list = cards();
    if (!list.length) return;
    const at = list.indexOf(document.activeElement.closest && document.activeElement.closest(".ann-cand"));
    const next = at < 0 ? 0 : (at + step + list.length) % list.length;
    list[next].focus();
  }

  function toggleDialog(id) {
    const d = document.getElementById(id);
    if (!d) return;
    if (d.open) d.close(); else d.showModal();
  }

  function toggleFlag(value) {
    const box = $(`input[name=flags][value=${value}]`);
    if (box) { box.checked = !box.checked; changed(); }
  }

  function setup(root) {
    const f = form();
    if (!f || !root.querySelector || (!root.contains(f) && root !== document.body)) return;
    const list = $("#candidates");
    list.classList.toggle("stack", localStorage.getItem(LAYOUT_KEY) === "stack");
    list.classList.toggle("side", localStorage.getItem(LAYOUT_KEY) !== "stack");
    if (window.Sortable) {
      window.Sortable.create(list, { handle: ".ann-cand-head", animation: 120, forceFallback: true, onEnd: placeDragged });
    }
    f.addEventListener("input", changed);
    f.addEventListener("change", (ev) => {
      if (ev.target.name === "correction_mode") correctionMode(ev.target.value, $("select[name=corrected_candidate_id]").value);
      else changed();
    });
    if (restoreLocal()) changed();
    paintRanks();
    const first = cards()[0];
    if (first && !$("#form-errors")) first.focus({ preventScroll: true });
  }

  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("[data-action]");
    if (!btn) return;
    const action = btn.dataset.action;
    if (action === "layout") toggleLayout();
    else if (action === "guidelines") toggleGuidelines();
    else if (action === "help") toggleDialog("help-dialog");
    else if (action === "skip") { toggleDialog("skip-dialog"); const r = $("#skip-reason"); if (r) r.focus(); }
    else if (action === "close") btn.closest("dialog").close();
    else if (action === "edit") correctionMode("edit", btn.dataset.id);
  });

  function toggleLayout() {
    const list = $("#candidates");
    if (!list) return;
    const stacked = !list.classList.contains("stack");
    list.classList.toggle("stack", stacked);
    list.classList.toggle("side", !stacked);
    localStorage.setItem(LAYOUT_KEY, stacked ? "stack" : "side");
  }

  function toggleGuidelines() {
    const shell = $(".ann-shell");
    const hidden = !shell.classList.contains("no-guidelines");
    shell.classList.toggle("no-guidelines", hidden);
    localStorage.setItem(GUIDE_KEY, hidden ? "hidden" : "shown");
  }

  document.addEventListener("keydown", (ev) => {
    if (!form()) { if (ev.key === "?") toggleDialog("help-dialog"); return; }
    const typing = ev.target.matches && ev.target.matches("textarea, input[type=text], input:not([type]), select");
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") {
      ev.preventDefault();
      if (!$("dialog[open]")) form().requestSubmit();
      return;
    }
    if (ev.key === "Escape" && typing) { ev.target.blur(); const c = cards()[0]; if (c) c.focus(); return; }
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey || $("dialog[open]")) return;
    const card = document.activeElement && document.activeElement.closest && document.activeElement.closest(".ann-cand");
    const digit = /^Digit([0-9])$/.exec(ev.code);
    if (digit && card) {
      ev.preventDefault();
      const n = Number(digit[1]);
      if (ev.shiftKey) { if (n > 0) rate(card, n - 1); } else setRank(card, n);
      return;
    }
    const actions = {
      "?": () => toggleDialog("help-dialog"),
      j: () => focusMove(1), ArrowRight: () => focusMove(1), k: () => focusMove(-1), ArrowLeft: () => focusMove(-1),
      x: () => { const b = $("input[name=all_bad]"); b.checked = !b.checked; changed(); },
      e: () => correctionMode("edit", card ? card.dataset.id : $("select[name=corrected_candidate_id]").value),
      n: () => { correctionMode("new"); },
      u: () => toggleFlag("unsafe"), p: () => toggleFlag("personal_data"),
      i: () => toggleFlag("not_instruction"), h: () => toggleFlag("needs_expert"),
      o: () => toggleFlag("unsupported"),
      c: () => $("#comment").focus(),
      s: () => { toggleDialog("skip-dialog"); $("#skip-reason").focus(); },
      l: toggleLayout, g: toggleGuidelines,
    };
    const act = actions[ev.key];
    if (act) { ev.preventDefault(); act(); }
  });

  document.addEventListener("htmx:afterRequest", (ev) => {
    const el = ev.detail.elt;
    if (el && el.id === "save-status" && ev.detail.successful) {
      // The server has the draft: the local copy is no longer needed.
      const id = taskId();
      if (id) localStorage.removeItem(draftKey(id));
    }
  });
  document.addEventListener("htmx:beforeRequest", (ev) => {
    // Submitting sends the whole form: a pending autosave would only race it.
    if (ev.detail.elt && ev.detail.elt.id === "task-form") clearTimeout(saveTimer);
  });
  document.addEventListener("htmx:responseError", (ev) => {
    const el = ev.detail.elt;
    if (el && el.id === "task-form") {
      let message = "The task could not be submitted.";
      try { message = JSON.parse(ev.detail.xhr.responseText).error.message; } catch (e) {
        const m = /<p[^>]*>([^<]+)<\/p>/.exec(ev.detail.xhr.responseText || "");
        if (m) message = m[1];
      }
      let box = $("#form-errors");
      if (!box) { box = document.createElement("div"); box.id = "form-errors"; box.className = "alert error"; box.setAttribute("role", "alert"); form().before(box); }
      box.textContent = message + " Reload the page for your next task.";
      return;
    }
    if (el && el.id === "save-status") {
      // 409/404: submitted in another tab, or the reservation lapsed and went to someone else.
      el.textContent = "This task is no longer open for you: reload to continue";
      el.classList.add("form-error");
    }
  });
  document.addEventListener("htmx:sendError", () => {
    const s = $("#save-status");
    if (s) s.textContent = "Offline: kept on this device, will resend";
  });
  window.addEventListener("online", () => { if (form()) document.body.dispatchEvent(new Event("tl-save")); });
  document.addEventListener("htmx:afterSwap", (ev) => {
    if (ev.detail.target && ev.detail.target.id === "task") document.body.dispatchEvent(new Event("tl-progress"));
  });
  // A submitted task's local copy goes; the next task sets itself up.
  document.addEventListener("htmx:beforeSwap", (ev) => {
    if (ev.detail.target && ev.detail.target.id === "task" && ev.detail.xhr.status < 300) {
      const form = $("#task-form");
      const submitted = ev.detail.requestConfig && ev.detail.requestConfig.path.match(/\/(submit|skip)$/);
      if (form && submitted) localStorage.removeItem(draftKey(taskId()));
    }
  });

  function boot() {
    if (localStorage.getItem(GUIDE_KEY) === "hidden") { const s = $(".ann-shell"); if (s) s.classList.add("no-guidelines"); }
    if (window.htmx) window.htmx.onLoad(setup); else setup(document.body);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
})();
