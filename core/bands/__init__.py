"""Wristbands: the band registry, alerts and their escalation."""
