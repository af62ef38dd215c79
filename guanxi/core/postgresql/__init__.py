"""Guanxi's PostgreSQL backend: Django's, plus the row-level-security session state and UTF-8 test databases."""
