"""The telephony port and its providers (dry-run, Twilio), chosen by name from the settings."""
