"""Community life on the TV: points ledger, rankings, rewards, notices, check-ins and TV boxes."""
