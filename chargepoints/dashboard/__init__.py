"""The operators' live dashboard at `/`: counts and the fleet table (`views`), pushed over a WebSocket (`consumers`).

Reads are `chargepoints.selectors.dashboard_*`; how a charge point becomes a
table row is `rows`; what changed reaches the consumers through
`chargepoints.live`.
"""
