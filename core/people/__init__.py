"""People and places: towns, villages, 小院, households, residents, caregiver chains, staff, access scopes, audit."""
