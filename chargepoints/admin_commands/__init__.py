"""The admin's door to `commands.call` and `operations`.

`operation_forms` has one form per version-neutral operation (run through
`chargepoints.operations`, which speaks the charge point's version) and the
raw "Send any message" form, built from the pickers of `fields`; `outcomes`
words a charge point's answer (or why there is none) for the page and for the
one-line summaries of bulk actions; `views` is the command page the charge
point's change page links to.
"""
