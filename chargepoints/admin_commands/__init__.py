"""The admin's door to `commands.call` and `operations`.

`forms` has one form per OCPP 1.6 central system operation (§5), turning what
an operator types into the spec's camelCase payloads; `operation_forms` one
form per version-neutral operation (sent through `chargepoints.operations`,
which speaks the charge point's version) and the raw "Send any message" form;
`outcomes` words a charge point's answer (or why there is none) for the page
and for the one-line summaries of bulk actions; `views` is the command page
the charge point's change page links to, offering what fits its version.
"""
