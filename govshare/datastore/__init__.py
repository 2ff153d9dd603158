"""The data resource centre (数据资源中心, issue 10; EXC-1, EXC-5): its own database
(``GOVSHARE_DATASTORE_URL``: an embedded SQLite file by default, PostgreSQL in production), never the
platform's metadata database.  One table per bound catalog entry, typed columns per information item, with
each row's change sequence number and a tombstone when it was deleted at the source.  The engine is the
Django-free :mod:`govshare.datastore.engine.store`; this app is its thin Django layer."""
