"""Demo data: a believable, entirely fictional village for demos and first runs."""
