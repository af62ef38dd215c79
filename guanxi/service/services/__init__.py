"""Writes of the service app (tickets, service levels, assignment, complaints, visits)."""
