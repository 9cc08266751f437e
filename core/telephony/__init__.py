"""The telephony port and its providers (Twilio REST, dry-run); see port.py."""
