"""Django's PostgreSQL backend with two additions.

* Every connection (new, or taken from the psycopg pool) gets the row-level-security session state that matches
  the current workspace context before it runs a query (``guanxi.core.rls.apply``).
* Test databases are created UTF-8 with the ``TEST["LOCALE"]`` locale (C.UTF-8 by default): pg_trgm extracts no
  trigrams from Chinese text in a database whose LC_CTYPE is C. Django's ``TEST`` options have ``CHARSET`` but no
  locale, hence this small subclass.
"""

from __future__ import annotations

from django.db.backends.postgresql import base, creation


class DatabaseCreation(creation.DatabaseCreation):
    def sql_table_creation_suffix(self) -> str:
        suffix = super().sql_table_creation_suffix()
        locale = self.connection.settings_dict["TEST"].get("LOCALE", "C.UTF-8")
        if not locale:
            return suffix
        quoted = locale.replace("'", "''")
        return f"{suffix or 'WITH'} LOCALE '{quoted}'"


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation

    def init_connection_state(self) -> None:
        super().init_connection_state()
        from guanxi.core import rls

        rls.apply(self)
