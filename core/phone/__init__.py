"""The phone: call logs, the one-key-call dialler, confirmations, and the telephony port with its providers."""
