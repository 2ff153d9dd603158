"""Length limits are refused with the field and the limit, never cut silently (issue 8, "Forms"), and
every field with a limit shows it to the user (a counter, static/js/layout.js)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from govshare.catalog.actions import do_approve, do_raise_feedback, do_submit
from govshare.core.actions import do_appoint_specialist, do_create_user, do_end_specialist
from govshare.core.errors import GovshareError, ValidationFailed
from govshare.core.models import SpecialistAppointment, User


def _too_long(exc: GovshareError, field: str) -> bool:
    problems = getattr(exc, "problems", [exc])
    return any(p.code == "too_long" and p.field == field for p in problems)


def test_a_too_long_review_comment_is_refused_not_cut(cat: Any) -> None:
    entry = cat.draft()
    do_submit(cat.org.police_specialist, entry)
    with pytest.raises(ValidationFailed) as caught:
        do_approve(cat.org.reviewer, entry, comment="好" * 2001)
    assert _too_long(caught.value, "comment") and caught.value.params["max"] == 2000
    assert do_approve(cat.org.reviewer, entry, comment="好" * 2000).review_comment == "好" * 2000


def test_a_too_long_feedback_field_name_is_refused_not_cut(cat: Any) -> None:
    entry = cat.published()
    with pytest.raises(ValidationFailed) as caught:
        do_raise_feedback(cat.org.market_specialist, entry, kind="doubt", field_name="字" * 101, description="有疑问")
    assert _too_long(caught.value, "field_name")


def test_a_too_long_end_reason_is_refused_and_the_appointment_stays_open(org: Any) -> None:
    appointment = do_appoint_specialist(org.police_admin, org.police, org.police_specialist)
    with pytest.raises(ValidationFailed) as caught:
        do_end_specialist(org.police_admin, appointment, reason="因" * 201)
    assert _too_long(caught.value, "reason")
    assert SpecialistAppointment.objects.get(pk=appointment.pk).ended_at is None


def test_a_too_long_appointment_note_is_refused(org: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        do_appoint_specialist(org.police_admin, org.police, org.police_specialist, note="注" * 201)
    assert _too_long(caught.value, "note")


def test_too_long_user_fields_are_reported_together(org: Any) -> None:
    users = User.objects.count()
    with pytest.raises(GovshareError) as caught:
        do_create_user(org.centre_admin, username="u" * 151, real_name="名" * 101, password=None,
                       phone="1" * 21, department=org.police)
    assert all(_too_long(caught.value, f) for f in ("username", "real_name", "phone"))
    assert User.objects.count() == users


def test_every_limited_field_carries_its_limit_for_the_counter(org: Any, client_for: Any) -> None:
    html = client_for(org.centre_admin).get(reverse("core:user_create")).content.decode()
    assert 'name="real_name" maxlength="100"' in html and 'name="phone" maxlength="20"' in html
    assert "js/layout.js" in html  # the counter script, from our own static files (CSP script-src 'self')
