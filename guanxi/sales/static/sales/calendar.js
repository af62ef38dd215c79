// The activity calendar's keyboard: a roving focus over the day cells (a grid), as the ARIA grid pattern says.
// Arrows: a day / a week; Page Up/Down: previous/next month or week; Home/End: start/end of the week; T: today;
// Enter on a day: its week (month view) or a new activity on it (week view).
(function () {
  const grid = document.querySelector("[data-calendar]");
  if (!grid) return;
  const cells = Array.from(grid.querySelectorAll("td[data-date]"));
  const byDate = new Map(cells.map((c) => [c.dataset.date, c]));
  const iso = (d) => d.toISOString().slice(0, 10);
  const parse = (s) => new Date(s + "T00:00:00Z");
  function go(url) { window.location.href = url; }
  function pageFor(date) {
    const p = new URLSearchParams(window.location.search);
    p.set("date", date); p.set("view", grid.dataset.mode); p.set("who", grid.dataset.who); p.set("kb", "1");
    return "?" + p.toString();
  }
  function focusDate(date) {
    const cell = byDate.get(date);
    if (!cell) { go(pageFor(date)); return; }
    cells.forEach((c) => { c.tabIndex = -1; c.removeAttribute("aria-selected"); });
    cell.tabIndex = 0; cell.setAttribute("aria-selected", "true"); cell.focus();
  }
  grid.addEventListener("keydown", (e) => {
    const cell = e.target.closest("td[data-date]");
    if (!cell || e.altKey || e.ctrlKey || e.metaKey) return;
    const d = parse(cell.dataset.date);
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 }[e.key];
    if (step !== undefined) {
      if (e.target !== cell) return; // inside a link: leave the arrows to the browser
      e.preventDefault(); d.setUTCDate(d.getUTCDate() + step); focusDate(iso(d)); return;
    }
    if (e.target !== cell) return;
    if (e.key === "Home" || e.key === "End") {
      e.preventDefault();
      const wd = (d.getUTCDay() + 6) % 7; // Monday first
      d.setUTCDate(d.getUTCDate() + (e.key === "Home" ? -wd : 6 - wd)); focusDate(iso(d));
    } else if (e.key === "PageUp" || e.key === "PageDown") {
      e.preventDefault();
      if (grid.dataset.mode === "week") d.setUTCDate(d.getUTCDate() + (e.key === "PageUp" ? -7 : 7));
      else d.setUTCMonth(d.getUTCMonth() + (e.key === "PageUp" ? -1 : 1));
      go(pageFor(iso(d)));
    } else if (e.key === "t" || e.key === "T") {
      e.preventDefault(); go(pageFor(iso(new Date(Date.now() - new Date().getTimezoneOffset() * 60000))));
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (grid.dataset.mode === "month") {
        const p = new URLSearchParams(pageFor(cell.dataset.date).slice(1)); p.set("view", "week"); go("?" + p.toString());
      } else if (grid.dataset.mayAdd) {
        go(grid.dataset.newUrl + "?date=" + cell.dataset.date);
      }
    }
  });
  if (new URLSearchParams(window.location.search).get("kb") === "1") {
    const cell = byDate.get(grid.dataset.focus); if (cell) cell.focus();
  }
})();
