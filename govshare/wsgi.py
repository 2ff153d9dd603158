"""The WSGI application (``govshare serve`` runs gunicorn on it; so may an operator's own setup).

Loading it checks the key the way every ``govshare`` command does (SEC-5): gunicorn started on
``govshare.wsgi:application`` directly refuses to boot with a key the database was not written with,
instead of answering HTTP 500 at the first write.  A database that cannot be reached at load time is
left to ``/healthz`` (503) and checked again at the first audit write.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govshare.settings")
application = get_wsgi_application()


def _check_key() -> None:
    from django.db import connection

    from govshare.core.keys import check_at_start

    try:
        check_at_start()
    finally:
        if not connection.in_atomic_block:  # (an importer inside a transaction keeps its connection)
            connection.close()  # not kept by the loading thread (nor shared by workers forked after --preload)


_check_key()
