"""The language switch: Django's ``set_language`` (cookie) and, for a signed-in user, the choice
remembered on the account, so that e-mail is written in it too (one language per screen)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from govshare.core.actions.notifications import do_set_language


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    response = django_set_language(request)
    user: Any = getattr(request, "user", None)
    language = request.POST.get("language", "")
    if user is not None and user.is_authenticated and language in dict(settings.LANGUAGES):
        do_set_language(user, language)
    return response
