// Kanban drag and drop (Guanxi's own, no library). Dropping a card on another column posts the move; when the
// server refuses it (a stage gate: "needs amount"), the message is shown and the card goes back where it was.
// Keyboard and touch users have the Move menu on each card, which posts the same form without script.
(function () {
  "use strict";
  const board = document.querySelector("[data-kanban]");
  if (!board) return;
  const errorBox = document.querySelector("[data-board-error]");
  let dragged = null;
  let origin = null;

  function showError(text) {
    if (!errorBox) { window.alert(text); return; }
    errorBox.textContent = text;
    errorBox.hidden = false;
    errorBox.focus && errorBox.setAttribute("tabindex", "-1");
  }

  function bump(col, delta) {
    const badge = col.querySelector("[data-count]");
    if (badge) badge.textContent = String(Math.max(0, parseInt(badge.textContent, 10) + delta));
    const empty = col.querySelector("[data-empty]");
    if (empty) empty.hidden = parseInt(badge.textContent, 10) > 0;
  }

  board.addEventListener("dragstart", (e) => {
    const card = e.target.closest("[data-card]");
    if (!card || card.getAttribute("draggable") !== "true") return;
    dragged = card;
    origin = { list: card.parentElement, next: card.nextElementSibling, col: card.closest("[data-stage]") };
    card.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.card);
  });

  board.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    board.querySelectorAll(".drop-target").forEach((c) => c.classList.remove("drop-target"));
  });

  board.addEventListener("dragover", (e) => {
    const col = e.target.closest("[data-stage]");
    if (!col || !dragged) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    board.querySelectorAll(".drop-target").forEach((c) => c !== col && c.classList.remove("drop-target"));
    col.classList.add("drop-target");
  });

  function putBack(card) {
    origin.list.insertBefore(card, origin.next && origin.next.parentElement === origin.list ? origin.next : null);
  }

  board.addEventListener("drop", async (e) => {
    const col = e.target.closest("[data-stage]");
    if (!col || !dragged) return;
    e.preventDefault();
    col.classList.remove("drop-target");
    const card = dragged;
    dragged = null;
    if (col === origin.col) return;
    const from = origin.col;
    col.querySelector("[data-cards]").prepend(card);  // optimistic: newest arrivals are listed first
    bump(col, 1); bump(from, -1);
    if (errorBox) errorBox.hidden = true;
    const body = new FormData();
    body.append("stage_id", col.dataset.stage);
    try {
      const resp = await fetch(card.dataset.moveUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": board.dataset.csrf, "Accept": "application/json" },
      });
      if (resp.ok) {
        const select = card.querySelector("select[name=stage_id]");
        if (select) select.value = col.dataset.stage;
        return;
      }
      let message = board.dataset.msgFailed;
      try { const data = await resp.json(); if (data && data.message) message = data.message; } catch (_) { /* not JSON */ }
      putBack(card); bump(col, -1); bump(from, 1);
      showError(message);
    } catch (_) {
      putBack(card); bump(col, -1); bump(from, 1);
      showError(board.dataset.msgFailed);
    }
  });
})();
