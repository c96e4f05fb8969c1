// Pinflow's charts are drawn on the server (inline SVG, ADR 0028); this only keeps a mapped
// task's Gantt group open while the run page's live refresh replaces the chart.
(() => {
  "use strict";
  const open = new Set();

  // "toggle" does not bubble: listen while it is captured on its way down.
  document.addEventListener("toggle", (event) => {
    const group = event.target;
    if (!(group instanceof HTMLDetailsElement) || !group.classList.contains("gantt-group")) return;
    if (group.open) open.add(group.dataset.task); else open.delete(group.dataset.task);
  }, true);

  function reopen() {
    for (const group of document.querySelectorAll("details.gantt-group")) {
      if (open.has(group.dataset.task) && !group.open) group.open = true;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const live = document.getElementById("run-live");
    if (live) new MutationObserver(reopen).observe(live, { childList: true });
  });
})();
