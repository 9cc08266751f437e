"""Services: every change to the database goes through one of these functions."""
