/* The live "Now" panel of a charge point's page (templates/admin/chargepoints/chargepoint/now_panel.html).
 *
 * Opens ws/chargepoints/<charge point id>/now/ (chargepoints/now/consumers.py) and replaces the whole
 * #now element with each panel the server pushes: the server renders it from the template the page
 * was rendered with, so nothing of the panel's markup lives here. While the socket is down the panel
 * says it is not live (data-live="off") and the socket is opened again, backing off to 30 s.
 */
(function () {
  "use strict";

  var retry = 1000;

  function panel() { return document.getElementById("now"); }

  function setLive(live) {
    var element = panel();
    if (element) { element.setAttribute("data-live", live ? "on" : "off"); }
  }

  function connect(chargePointId) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/chargepoints/" + encodeURIComponent(chargePointId) + "/now/");
    var live = true;
    socket.onopen = function () { retry = 1000; setLive(true); };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      var element = panel();
      if (message.panel && element) {
        // The server's own rendering of its template (escaped there): swapped in whole.
        var holder = document.createElement("div");
        holder.innerHTML = message.panel;
        var fresh = holder.firstElementChild;
        if (fresh) {
          fresh.setAttribute("data-live", "on");
          element.replaceWith(fresh);
        }
      } else if (message.gone) {
        live = false;
        setLive(false);
        socket.close();
      }
    };
    socket.onclose = function () {
      setLive(false);
      if (!live) { return; }
      window.setTimeout(function () { connect(chargePointId); }, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  function start() {
    var element = panel();
    if (element) { connect(element.getAttribute("data-charge-point-id")); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
