// The dashboard, kept live: the server pushes the current rows of the charge points this page shows,
// and the counts, over ws/dashboard/ (chargepoints/dashboard/consumers.py). Without JS the page is the same, static.
(function () {
  "use strict";
  var state = document.getElementById("live-state");
  var body = document.getElementById("fleet-rows");
  if (!body || !("WebSocket" in window)) return;

  var backoff = 1000; // ms before the next reconnect; doubles to 30 s, reset by a message
  var MAX_BACKOFF = 30000;

  function setState(name, text) {
    state.dataset.state = name;
    state.textContent = text;
  }

  function rowsById() {
    var rows = {};
    body.querySelectorAll("tr[data-charge-point]").forEach(function (tr) {
      rows[tr.dataset.chargePoint] = tr;
    });
    return rows;
  }

  function applyCounts(counts) {
    document.querySelectorAll("[data-count]").forEach(function (el) {
      var value = counts[el.dataset.count];
      if (value === undefined || String(value) === el.textContent) return;
      el.textContent = value;
      var card = el.closest(".count");
      if (card) {
        card.classList.remove("changed");
        void card.offsetWidth; // restart the animation
        card.classList.add("changed");
      }
    });
  }

  function applyRows(rows) {
    var shown = rowsById();
    rows.forEach(function (pair) {
      var old = shown[pair[0]];
      if (!old) return;
      var template = document.createElement("template");
      template.innerHTML = pair[1].trim();
      var fresh = template.content.firstElementChild;
      if (!fresh) return;
      fresh.classList.add("updated");
      old.replaceWith(fresh);
    });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/ws/dashboard/");
    socket.onopen = function () {
      setState("live", "live");
      socket.send(JSON.stringify({ watch: Object.keys(rowsById()) }));
    };
    socket.onmessage = function (event) {
      backoff = 1000;
      var update = JSON.parse(event.data);
      if (update.counts) applyCounts(update.counts);
      if (update.rows) applyRows(update.rows);
    };
    socket.onclose = function (event) {
      // Refused (signed out, or no longer staff): 403 at the upgrade, which browsers report as 1006.
      var delay = Math.min(backoff, MAX_BACKOFF) * (0.75 + Math.random() / 2);
      backoff = Math.min(backoff * 2, MAX_BACKOFF);
      setState("reconnecting", "reconnecting in " + Math.round(delay / 1000) + " s");
      setTimeout(connect, delay);
    };
  }

  connect();
})();
