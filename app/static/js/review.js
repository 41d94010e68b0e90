// Review: drag (SortableJS) or Alt+Arrow (a tier at a time) to reorder the candidates; hidden inputs follow.
// Ties travel with the form: an item ticked "= tied" shares the tier of the item above it. A tie is only
// ever broken by the reviewer's own act: unticking it, or moving one of the tied candidates.
(() => {
  const list = document.getElementById("order-list");
  if (!list) return;
  const tieBox = (item) => item && item.querySelector("input[name=tied]");

  const untie = (item) => { const box = tieBox(item); if (box) box.checked = false; };

  function settle(moved, before) {
    // `before`: {tied, next} of the moved item before it moved. The moved item was placed on purpose, so it
    // is tied to nothing now, and neither is the item that lands below it (that one was tied to whatever
    // stood above it before). If the moved item headed a tier, the next member heads what is left of it.
    // So a move never creates a tie nobody asserted, and only ever breaks the ties the reviewer moved out of.
    if (!before.tied && before.next && before.next !== moved.nextElementSibling) untie(before.next);
    untie(moved);
    untie(moved.nextElementSibling);
    paint();
  }
  const state = (item) => ({ tied: Boolean(tieBox(item) && tieBox(item).checked), next: item.nextElementSibling });
  let dragStart = null;

  function paint() {
    list.querySelectorAll(".sort-item").forEach((item, n) => {
      const box = tieBox(item);
      if (n === 0 && box) box.checked = false;  // nothing above the first item to be tied with
      if (box) box.disabled = n === 0;
      item.classList.toggle("tied", Boolean(box && box.checked));
    });
  }

  if (window.Sortable) {
    window.Sortable.create(list, { animation: 120, ghostClass: "sort-ghost", filter: ".tie", preventOnFilter: false,
                                   onStart: (ev) => { dragStart = state(ev.item); },
                                   // After the drop: SortableJS puts back the checkboxes' state as the drag began.
                                   onEnd: (ev) => {
                                     const before = dragStart;
                                     if (ev.oldIndex !== ev.newIndex) setTimeout(() => settle(ev.item, before), 0);
                                   } });
  }
  list.addEventListener("change", paint);
  list.addEventListener("keydown", (event) => {
    const item = event.target.closest(".sort-item");
    if (!item) return;
    if (event.key === "=" && !event.altKey) {
      const box = tieBox(item);
      if (box && !box.disabled) box.checked = !box.checked;
      paint();
      event.preventDefault();
      return;
    }
    if (!event.altKey) return;
    const before = state(item);
    const tied = (el) => Boolean(el && tieBox(el) && tieBox(el).checked);
    // A step jumps a whole tier, so moving a candidate past a tie never splits it on the way.
    if (event.key === "ArrowUp" && item.previousElementSibling) {
      let head = item.previousElementSibling;
      while (tied(head) && head.previousElementSibling) head = head.previousElementSibling;
      list.insertBefore(item, head);
    } else if (event.key === "ArrowDown" && item.nextElementSibling) {
      let tail = item.nextElementSibling;
      while (tied(tail.nextElementSibling)) tail = tail.nextElementSibling;
      list.insertBefore(item, tail.nextElementSibling);
    } else {
      return;
    }
    event.preventDefault();
    settle(item, before);
    item.focus();
  });
  paint();
})();
