/* The energy report's chart: energy (kWh) as bars and sessions as a line, per
   group, from the page's <script id="report-data"> (json_script). */
"use strict";
(function () {
  const source = document.getElementById("report-data");
  const canvas = document.getElementById("report-chart");
  if (!source || !canvas || typeof Chart === "undefined" || !window.csmsChartTheme) return;
  const data = JSON.parse(source.textContent);
  const fg = csmsChartTheme.text();
  const grid = csmsChartTheme.lines();
  const chart = new Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        { type: "bar", label: "energy (kWh)", data: data.energy_kwh, yAxisID: "kwh", backgroundColor: "#417690", maxBarThickness: 48 },
        { type: "line", label: "sessions", data: data.sessions, yAxisID: "n", borderColor: "#c77c02", backgroundColor: "#c77c02", pointRadius: 2 },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { labels: { color: fg } } },
      scales: {
        x: { ticks: { color: fg }, grid: { color: grid } },
        kwh: { position: "left", beginAtZero: true, title: { display: true, text: "kWh", color: fg }, ticks: { color: fg }, grid: { color: grid } },
        n: { position: "right", beginAtZero: true, title: { display: true, text: "sessions", color: fg }, ticks: { color: fg, precision: 0 }, grid: { drawOnChartArea: false } },
      },
    },
  });
  csmsChartTheme.follow(chart);
})();
