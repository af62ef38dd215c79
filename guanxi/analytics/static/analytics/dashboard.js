// Draws the dashboard's plotly figures (plotly.js is served by Guanxi itself, no CDN). Each chart's figure is a
// JSON script element; the modebar's camera button downloads the chart as PNG.
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("analytics-figures");
    if (!data || !window.Plotly) { return; }
    var figures = JSON.parse(data.textContent);
    Object.keys(figures).forEach(function (name) {
      var el = document.getElementById("chart-" + name);
      if (!el) { return; }
      var fig = figures[name];
      window.Plotly.newPlot(el, fig.data, fig.layout, {
        responsive: true, displaylogo: false,
        toImageButtonOptions: { format: "png", filename: "guanxi-" + name }
      }).then(function () { el.setAttribute("data-drawn", "1"); });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
