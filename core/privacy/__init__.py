"""Privacy: retention of sensitive records, export and erasure of everything held about a person."""
