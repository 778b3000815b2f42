"""Persistence: tables, engine factory, migrations and the repository (the only module that writes SQL)."""
