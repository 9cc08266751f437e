"""The telephony port and its providers (dry-run, Twilio, the own SIP endpoint), chosen by name from the settings."""
