"""PostgreSQL with prepared statements that still runs a query of any number of parameters.

``settings.py`` selects this backend when ``GOVSHARE_PG_PREPARED_STATEMENTS`` is on (the default): the
parameters are bound on the server and a query a connection runs five times is prepared, so PostgreSQL
plans it once (issue 9, docs/benchmarks.md "Load").  Server-side binding has a limit the default
client-side binding does not: at most 65 535 parameters per statement (the protocol counts them in 16
bits).  A long ``pk__in`` list — re-indexing every entry of a renamed department, a cascade over many
rows — would fail.  Such a statement runs on a client-side-binding cursor instead (a named cursor on
Django's client-binding named cursor): not prepared, no limit, same result.
"""

from __future__ import annotations

from typing import Any

from django.db.backends import utils
from django.db.backends.postgresql import base as postgresql

#: Django's module as psycopg 3 fills it (its stubs describe the psycopg 2 names)
_pg: Any = postgresql

#: the largest number of parameters a statement can bind on the server (16-bit count in the protocol)
MAX_SERVER_PARAMETERS = 65535


def _too_many(params: Any) -> bool:
    return params is not None and len(params) > MAX_SERVER_PARAMETERS


class _ClientSideWhenTooMany:
    """Mixed into Django's cursor wrappers: a statement with too many parameters for server-side binding
    moves the wrapper onto a client-side-binding cursor (kept for the rest of the wrapper's life)."""

    cursor: Any
    db: Any

    def execute(self, sql: Any, params: Any = None) -> Any:
        if _too_many(params):
            self._bind_on_the_client()
        return super().execute(sql, params)  # type: ignore[misc]

    def executemany(self, sql: Any, param_list: Any) -> Any:
        param_list = list(param_list)
        if any(_too_many(params) for params in param_list):
            self._bind_on_the_client()
        return super().executemany(sql, param_list)  # type: ignore[misc]

    def _bind_on_the_client(self) -> None:
        current = self.cursor
        if isinstance(current, postgresql.Cursor | postgresql.ServerSideCursor):
            return  # binds on the client already
        name = getattr(current, "name", None)
        self.cursor = self.db.client_binding_cursor(name)
        current.close()


class CursorWrapper(_ClientSideWhenTooMany, utils.CursorWrapper):
    pass


class CursorDebugWrapper(_ClientSideWhenTooMany, postgresql.CursorDebugWrapper):
    pass


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def make_cursor(self, cursor: Any) -> Any:
        return CursorWrapper(cursor, self)

    def make_debug_cursor(self, cursor: Any) -> Any:
        return CursorDebugWrapper(cursor, self)

    def client_binding_cursor(self, name: str | None = None) -> Any:
        """A cursor of the same connection binding its parameters on the client, as Django's own
        backend makes them without ``server_side_binding`` (a named one for a named cursor)."""
        connection = self.connection
        assert connection is not None
        if name:
            cursor = _pg.ServerSideCursor(connection, name=name, scrollable=False, withhold=connection.autocommit)
        else:
            cursor = _pg.Cursor(connection)
        loader = connection.adapters.get_loader(_pg.TIMESTAMPTZ_OID, _pg.Format.TEXT)
        if self.timezone != loader.timezone:  # as create_cursor does
            _pg.register_tzloader(self.timezone, cursor)
        return cursor
