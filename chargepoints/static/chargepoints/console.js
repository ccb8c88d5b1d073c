/* The live frame console of a charge point (templates/admin/chargepoints/chargepoint/console.html).
 *
 * Opens ws/console/<charge point id>/ (chargepoints/console/consumers.py) and shows each frame as it
 * comes: time, direction, action, message type, unique id, pretty JSON. Pause keeps receiving (and
 * counting) without drawing; the filter shows the frames whose action contains its text; Download
 * saves every frame kept as JSON lines. What a charge point sends is shown as text, never as HTML.
 */
(function () {
  "use strict";

  var KEPT = 2000; // frames kept (and rows drawn) per console; older ones go
  var TYPES = { 2: "CALL", 3: "CALLRESULT", 4: "CALLERROR" };

  function Console(root) {
    this.root = root;
    this.id = root.getAttribute("data-charge-point-id");
    this.status = root.querySelector(".console-status");
    this.body = root.querySelector("table.console-frames tbody");
    this.filter = root.querySelector(".console-filter");
    this.actions = root.querySelector(".console-actions");
    this.count = root.querySelector(".console-count");
    this.pauseButton = root.querySelector(".console-pause");
    this.frames = [];
    this.waiting = []; // received while paused, not drawn yet
    this.seenActions = {};
    this.paused = false;
    this.lastSeq = {}; // session id -> last seq, to show frames dropped on the way
    this.retry = 1000;
    var self = this;
    this.pauseButton.addEventListener("click", function () { self.togglePause(); });
    this.filter.addEventListener("input", function () { self.applyFilter(); });
    root.querySelector(".console-download").addEventListener("click", function () { self.download(); });
    root.querySelector(".console-clear").addEventListener("click", function () { self.clear(); });
    this.connect();
  }

  Console.prototype.setStatus = function (state, text) {
    this.status.setAttribute("data-state", state);
    this.status.textContent = text;
  };

  Console.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/console/" + encodeURIComponent(this.id) + "/");
    socket.onopen = function () { self.retry = 1000; };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.kind === "status") {
        if (message.online) {
          self.setStatus("online", "online" + (message.version ? " (OCPP " + message.version + ")" : ""));
        } else {
          self.setStatus("offline", "offline: frames appear when it connects");
        }
      } else if (message.kind === "frame") {
        self.add(message);
      }
    };
    socket.onclose = function () {
      // Refused (not allowed, logged out) or the server went away: say so, and try again later.
      self.setStatus("lost", "not connected to the server; retrying…");
      window.setTimeout(function () { self.connect(); }, self.retry);
      self.retry = Math.min(self.retry * 2, 30000);
    };
  };

  Console.prototype.add = function (frame) {
    var last = this.lastSeq[frame.session_id];
    if (last !== undefined && frame.seq > last + 1) {
      this.draw({ gap: frame.seq - last - 1 });
    }
    this.lastSeq[frame.session_id] = frame.seq;
    this.frames.push(frame);
    if (this.frames.length > KEPT) this.frames.shift();
    if (frame.action && !this.seenActions[frame.action]) {
      this.seenActions[frame.action] = true;
      var option = document.createElement("option");
      option.value = frame.action;
      this.actions.appendChild(option);
    }
    if (this.paused) {
      this.waiting.push(frame);
      if (this.waiting.length > KEPT) this.waiting.shift();
    } else {
      this.draw(frame);
    }
    this.showCount();
  };

  // The payload, pretty (the other columns show type, unique id and action); a CALLERROR's code,
  // description and details; anything unreadable as the charge point sent it.
  Console.prototype.pretty = function (text) {
    var frame;
    try {
      frame = JSON.parse(text);
    } catch (error) {
      return text;
    }
    if (Array.isArray(frame) && frame[0] === 2 && frame.length === 4) return JSON.stringify(frame[3], null, 2);
    if (Array.isArray(frame) && frame[0] === 3 && frame.length === 3) return JSON.stringify(frame[2], null, 2);
    if (Array.isArray(frame) && frame[0] === 4 && frame.length === 5) {
      return JSON.stringify({ errorCode: frame[2], errorDescription: frame[3], errorDetails: frame[4] }, null, 2);
    }
    return JSON.stringify(frame, null, 2);
  };

  Console.prototype.cell = function (row, className, text) {
    var td = document.createElement("td");
    td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  };

  Console.prototype.draw = function (frame) {
    var row = document.createElement("tr");
    if (frame.gap) {
      row.className = "console-gap";
      var td = this.cell(row, "frame", frame.gap + " frame(s) not received (the console fell behind)");
      td.colSpan = 6;
    } else {
      row.className = "console-frame";
      row.setAttribute("data-direction", frame.direction);
      row.setAttribute("data-action", frame.action || "");
      row.setAttribute("data-message-type", frame.message_type === null ? "" : String(frame.message_type));
      this.cell(row, "time", (frame.at || "").replace("T", " ").replace("+00:00", "").slice(0, 23));
      this.cell(row, "direction", frame.direction === "in" ? "→ in" : "← out");
      this.cell(row, "action", frame.action || "");
      this.cell(row, "type", TYPES[frame.message_type] || "unreadable");
      this.cell(row, "unique-id", frame.unique_id || "");
      var pre = document.createElement("pre");
      pre.textContent = this.pretty(frame.text);
      this.cell(row, "frame", "").appendChild(pre);
      if (!this.matches(frame.action)) row.classList.add("hidden");
    }
    this.body.appendChild(row);
    while (this.body.rows.length > KEPT) this.body.deleteRow(0);
    var scroll = this.root.querySelector(".console-scroll");
    scroll.scrollTop = scroll.scrollHeight;
  };

  Console.prototype.matches = function (action) {
    var wanted = this.filter.value.trim().toLowerCase();
    return !wanted || (action || "").toLowerCase().indexOf(wanted) !== -1;
  };

  Console.prototype.applyFilter = function () {
    var rows = this.body.querySelectorAll("tr.console-frame");
    for (var i = 0; i < rows.length; i++) {
      rows[i].classList.toggle("hidden", !this.matches(rows[i].getAttribute("data-action")));
    }
  };

  Console.prototype.togglePause = function () {
    this.paused = !this.paused;
    this.pauseButton.setAttribute("aria-pressed", this.paused ? "true" : "false");
    this.pauseButton.textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) {
      var waiting = this.waiting;
      this.waiting = [];
      for (var i = 0; i < waiting.length; i++) this.draw(waiting[i]);
    }
    this.showCount();
  };

  Console.prototype.showCount = function () {
    var text = this.frames.length + " frame(s)";
    if (this.paused) text += ", paused: " + this.waiting.length + " new";
    this.count.textContent = text;
  };

  Console.prototype.clear = function () {
    this.frames = [];
    this.waiting = [];
    while (this.body.rows.length) this.body.deleteRow(0);
    this.showCount();
  };

  Console.prototype.download = function () {
    var lines = this.frames.map(function (frame) {
      var parsed;
      try { parsed = JSON.parse(frame.text); } catch (error) { parsed = frame.text; }
      return JSON.stringify({
        at: frame.at, direction: frame.direction, action: frame.action, message_type: frame.message_type,
        unique_id: frame.unique_id, session_id: frame.session_id, seq: frame.seq, frame: parsed,
      });
    });
    var blob = new Blob([lines.join("\n") + (lines.length ? "\n" : "")], { type: "application/x-ndjson" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "ocpp-frames-" + this.id.replace(/[^A-Za-z0-9._-]/g, "_") + ".jsonl";
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
  };

  function start() {
    var roots = document.querySelectorAll(".csms-console[data-charge-point-id]");
    for (var i = 0; i < roots.length; i++) {
      if (!roots[i].csmsConsole) roots[i].csmsConsole = new Console(roots[i]);
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
