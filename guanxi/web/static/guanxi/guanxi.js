// Guanxi's own small scripts. Keyboard first: "/" focuses the page's search box.
document.documentElement.classList.add("js");
document.addEventListener("keydown", (e) => {
  if (e.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
    const box = document.querySelector("[data-search]");
    if (box) { e.preventDefault(); box.focus(); }
  }
  if (e.key === "Escape") {
    const nav = document.getElementById("sidenav");
    const btn = document.querySelector("[data-menu-toggle]");
    if (nav && nav.classList.contains("open")) { nav.classList.remove("open"); btn.setAttribute("aria-expanded", "false"); btn.focus(); }
  }
});
document.addEventListener("click", (e) => {
  const el = e.target.closest("[data-confirm]");
  if (el && !window.confirm(el.dataset.confirm)) { e.preventDefault(); e.stopPropagation(); return; }
  const toggle = e.target.closest("[data-menu-toggle]");
  if (toggle) {
    const nav = document.getElementById(toggle.getAttribute("aria-controls"));
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) { const first = nav.querySelector("a"); if (first) first.focus(); }
  }
});
// After htmx changed the address (a search or a filter), the language switchers come back to the same view.
document.addEventListener("htmx:pushedIntoHistory", () => {
  document.querySelectorAll('form[action$="/i18n/setlang/"] input[name="next"]').forEach((input) => {
    input.value = window.location.pathname + window.location.search;
  });
});
