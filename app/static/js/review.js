// Review: drag (SortableJS) or Alt+Arrow to reorder the candidates; hidden inputs follow the order.
(() => {
  const list = document.getElementById("order-list");
  if (!list) return;
  if (window.Sortable) {
    window.Sortable.create(list, { animation: 120, ghostClass: "sort-ghost" });
  }
  list.addEventListener("keydown", (event) => {
    const item = event.target.closest(".sort-item");
    if (!item || !event.altKey) return;
    if (event.key === "ArrowUp" && item.previousElementSibling) {
      list.insertBefore(item, item.previousElementSibling);
    } else if (event.key === "ArrowDown" && item.nextElementSibling) {
      list.insertBefore(item.nextElementSibling, item);
    } else {
      return;
    }
    event.preventDefault();
    item.focus();
  });
})();
