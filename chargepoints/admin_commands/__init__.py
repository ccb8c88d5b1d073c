"""The admin's door to `commands.call`: one form per OCPP 1.6 central system operation (§5).

`forms` turns what an operator types into the spec's camelCase payloads and
sends them; `outcomes` words a charge point's answer (or why there is none)
for the page and for the one-line summaries of bulk actions; `views` is the
command page the charge point's change page links to.
"""
