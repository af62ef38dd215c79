// The top bar's search box: arrow keys move through the results, Enter opens one, Escape closes the list.
(() => {
  const form = document.querySelector("[data-topsearch]");
  if (!form) return;
  const input = form.querySelector("input[name=q]");
  const list = form.querySelector("#topsearch-list");
  let active = -1;
  const options = () => Array.from(list.querySelectorAll("[role=option]"));
  const mark = (i) => {
    const opts = options();
    opts.forEach((o, j) => o.setAttribute("aria-selected", j === i ? "true" : "false"));
    active = i;
    if (opts[i]) { input.setAttribute("aria-activedescendant", opts[i].id); opts[i].scrollIntoView({ block: "nearest" }); }
    else input.removeAttribute("aria-activedescendant");
  };
  const close = () => { list.innerHTML = ""; input.setAttribute("aria-expanded", "false"); mark(-1); };
  document.body.addEventListener("htmx:afterSwap", (e) => {
    if (e.detail.target !== list) return;
    input.setAttribute("aria-expanded", list.querySelector("ul") ? "true" : "false");
    mark(-1);
  });
  input.addEventListener("keydown", (e) => {
    const opts = options();
    if (e.key === "ArrowDown" && opts.length) { e.preventDefault(); mark((active + 1) % opts.length); }
    else if (e.key === "ArrowUp" && opts.length) { e.preventDefault(); mark(active <= 0 ? opts.length - 1 : active - 1); }
    else if (e.key === "Enter" && active >= 0 && opts[active]) { e.preventDefault(); window.location = opts[active].querySelector("a").href; }
    else if (e.key === "Escape") { close(); }
  });
  document.addEventListener("click", (e) => { if (!form.contains(e.target)) close(); });
  // "/" focuses this box on pages that have no search box of their own (guanxi.js handles those).
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && !document.querySelector("[data-search]")
        && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
      e.preventDefault(); input.focus();
    }
  });
})();
