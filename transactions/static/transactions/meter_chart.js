/* The transaction page's chart: power (kW), energy (kWh) and state of charge (%)
   over time, from the page's meter-series endpoint (TransactionAdmin.meter_series_view).
   While the transaction runs (data-state="running") it asks every data-poll-ms
   for the points after the last one it has, and stops once the answer says
   "ended". Time is a linear axis of epoch milliseconds: no date adapter. */
"use strict";
(function () {
  const box = document.getElementById("meter-chart");
  if (!box || typeof Chart === "undefined" || !window.csmsChartTheme) return;
  const url = box.dataset.seriesUrl;
  const pollMs = Math.max(parseInt(box.dataset.pollMs, 10) || 3000, 1000);
  const note = document.getElementById("meter-chart-note");
  const fg = csmsChartTheme.text();
  const grid = csmsChartTheme.lines();
  let last = null; // ISO timestamp of the newest point held
  let timer = null;

  const pad = (n) => String(n).padStart(2, "0");
  const clock = (ms) => {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  };
  const dataset = (label, axis, colour, extra) => Object.assign(
    { label, data: [], yAxisID: axis, borderColor: colour, backgroundColor: colour, pointRadius: 0, borderWidth: 2, spanGaps: true },
    extra || {},
  );
  const chart = new Chart(document.getElementById("meter-chart-canvas"), {
    type: "line",
    data: {
      datasets: [
        dataset("power (kW)", "kw", "#417690"),
        dataset("energy (kWh)", "kwh", "#2e8540"),
        dataset("state of charge (%)", "pct", "#c77c02", { borderDash: [6, 4] }),
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      plugins: {
        legend: { labels: { color: fg } },
        tooltip: { callbacks: { title: (items) => (items.length ? clock(items[0].parsed.x) : "") } },
      },
      scales: {
        x: { type: "linear", ticks: { color: fg, maxTicksLimit: 8, callback: (v) => clock(v).slice(11) }, grid: { color: grid } },
        kw: { position: "left", title: { display: true, text: "kW", color: fg }, ticks: { color: fg }, grid: { color: grid }, beginAtZero: true },
        kwh: { position: "right", title: { display: true, text: "kWh", color: fg }, ticks: { color: fg }, grid: { drawOnChartArea: false }, beginAtZero: true },
        pct: { position: "right", min: 0, max: 100, title: { display: true, text: "%", color: fg }, ticks: { color: fg }, grid: { drawOnChartArea: false } },
      },
    },
  });

  csmsChartTheme.follow(chart);

  function show(figures) {
    const text = {
      energy_kwh: figures.energy_kwh === null ? null : `${figures.energy_kwh.toFixed(3)} kWh`,
      power_kw: figures.power_kw === null ? null : `${figures.power_kw.toFixed(3)} kW`,
      soc_pct: figures.soc_pct === null ? null : `${figures.soc_pct} %`,
    };
    for (const [key, value] of Object.entries(text)) {
      const el = document.querySelector(`[data-figure="${key}"]`);
      if (el && value !== null) el.textContent = value;
    }
  }

  function add(points) {
    const [power, energy, soc] = chart.data.datasets;
    for (const p of points) {
      if (p.power_kw !== null) power.data.push({ x: p.ms, y: p.power_kw });
      if (p.energy_kwh !== null) energy.data.push({ x: p.ms, y: p.energy_kwh });
      if (p.soc_pct !== null) soc.data.push({ x: p.ms, y: p.soc_pct });
      last = p.t;
    }
    soc.hidden = soc.data.length === 0;
    chart.update("none");
  }

  async function load() {
    const query = last ? `?since=${encodeURIComponent(last)}` : "";
    try {
      const response = await fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      add(body.points);
      if (box.dataset.state === "running") show(body.figures);
      if (body.state === "ended") stop("The transaction has ended.");
    } catch (error) {
      if (note) note.textContent = `Could not read the meter values (${error.message}); trying again.`;
    }
  }

  function stop(message) {
    box.dataset.state = "ended";
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (note) note.textContent = message;
  }

  // One request at a time: the next is asked for once the last was answered.
  async function poll() {
    await load();
    if (box.dataset.state === "running") timer = setTimeout(poll, pollMs);
  }
  poll();
})();
