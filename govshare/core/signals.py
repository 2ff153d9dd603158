"""Login and logout audit hooks (SEC-4)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import Signal, receiver

from govshare.core import context

#: sent by ``do_update_department`` inside its transaction, with ``department`` and ``changed``
#: (the names of the changed fields); later apps react (the catalog reindexes the provider's entries)
department_changed = Signal()


@receiver(user_logged_in)
def _on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from govshare.core.actions import do_record_login

    if context.current().request_id:  # only inside a bound request/command, never leak to the thread
        context.set_user(user)
    session = getattr(request, "session", None)
    if session is not None:
        import time

        from govshare.core.middleware import IdleTimeoutMiddleware

        session[IdleTimeoutMiddleware.KEY] = int(time.time())  # the idle clock starts at login
    do_record_login(user)


@receiver(user_logged_out)
def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from govshare.core.actions import do_record_logout

    do_record_logout(user)
