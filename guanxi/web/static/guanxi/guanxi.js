// Guanxi's own small scripts. Keyboard first: "/" focuses the page's search box.
document.addEventListener("keydown", (e) => {
  if (e.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
    const box = document.querySelector("[data-search]");
    if (box) { e.preventDefault(); box.focus(); }
  }
});
document.addEventListener("click", (e) => {
  const el = e.target.closest("[data-confirm]");
  if (el && !window.confirm(el.dataset.confirm)) { e.preventDefault(); e.stopPropagation(); }
});
