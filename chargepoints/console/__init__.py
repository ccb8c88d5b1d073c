"""The live frame console: every OCPP frame in and out of one charge point, as it happens, in the browser.

Three parts:

- `tap.FrameTap`, owned by the OCPP consumer holding the charge point's
  socket: it keeps the channels of the consoles watching (each watch expires
  unless renewed) and, only while there is one, copies each frame to them
  with the secrets hidden (`chargepoints.redaction`), in order, from a task of
  its own that never holds up or breaks the OCPP session.
- `consumers.ConsoleConsumer` at ws/console/<charge point id>/: a staff
  member's browser; it asks the charge point's group (whatever process holds
  the socket) to be watched, renews that, and forwards the frames.
- `views.console_page` at console/<charge point id>/ and the include
  template `admin/chargepoints/chargepoint/console.html` with its static
  files `chargepoints/console.js` / `.css`: the console in a page.

The messages between the two consumers are `console.watch` / `console.unwatch`
(console → the charge point's group), `console.attached` / `console.detached`
/ `console.frame` (OCPP consumer → one console's channel); their fields are in
`tap`.
"""
