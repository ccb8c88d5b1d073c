"""OCPP over MQTT, compatible with EMQX's OCPP gateway (README "OCPP over MQTT").

- `envelope`: EMQX's topics and JSON envelope, both ways, and how the OCPP
  version travels (an MQTT v5 user property).
- `gateway`: a development stand-in for EMQX's gateway (`manage.py ocpp_mqtt_gateway`).
- `backend`: serves charge points behind a gateway (`manage.py ocpp_mqtt`).
"""
