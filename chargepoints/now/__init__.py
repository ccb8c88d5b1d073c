"""The "Now" panel at the top of a charge point's admin page, kept live over ws/chargepoints/<id>/now/."""
