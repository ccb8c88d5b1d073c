/* What the transaction page's and the report's charts share: the admin's colours, followed when its theme
   switch (html[data-theme]) or the system's dark mode changes them (the canvas reads them only when told).
   Load before the chart scripts (all `defer`: they run in order). */
"use strict";
window.csmsChartTheme = (function () {
  const color = (name, fallback) => (getComputedStyle(document.documentElement).getPropertyValue(name) || fallback).trim();
  const text = () => color("--body-fg", "#333");
  const lines = () => color("--hairline-color", "#e8e8e8");

  // Recolour `chart`'s legend, ticks, titles and grid lines now and whenever the theme changes.
  function follow(chart) {
    function recolour() {
      chart.options.plugins.legend.labels.color = text();
      for (const scale of Object.values(chart.options.scales)) {
        scale.ticks.color = text();
        if (scale.title) scale.title.color = text();
        if (scale.grid.drawOnChartArea !== false) scale.grid.color = lines();
      }
      chart.update("none");
    }
    new MutationObserver(recolour).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", recolour);
  }

  return { text, lines, follow };
})();
