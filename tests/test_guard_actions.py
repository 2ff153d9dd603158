"""The actions guard (tests/guard_actions.py) itself: a domain write from a view is caught, the same write
from an action, from core infrastructure or from test code is not (brief; issue 8)."""

from __future__ import annotations

from typing import Any

import pytest

from govshare.core.models import Jurisdiction
from tests import guard_actions

pytestmark = pytest.mark.django_db


def _run_as(relative: str, org: Any) -> list[str]:
    """Rename a jurisdiction from code that pretends to live in ``govshare/<relative>``; the violations seen."""
    source = "def write(j):\n    j.name = j.name + '区'\n    j.save()\n    type(j).objects.filter(pk=j.pk).update(name='x')\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, str(guard_actions.GOVSHARE / relative), "exec"), namespace)  # noqa: S102
    before = len(guard_actions._state["violations"])
    namespace["write"](Jurisdiction.objects.get(pk=org.county.pk))
    found = guard_actions._state["violations"][before:]
    del guard_actions._state["violations"][before:]  # this test's own findings do not fail it
    return found


def test_a_write_from_a_view_is_caught_with_the_model_the_operation_and_the_file(org: Any) -> None:
    assert _run_as("sharing/web/some_views.py", org) == ["core.Jurisdiction.save by govshare/sharing/web/some_views.py",
                                                        "core.Jurisdiction.update by govshare/sharing/web/some_views.py"]


@pytest.mark.parametrize("relative", ["sharing/actions/some_noun.py", "core/audit.py", "catalog/migrations/0099_x.py"])
def test_a_write_from_an_action_or_from_infrastructure_is_allowed(org: Any, relative: str) -> None:
    assert _run_as(relative, org) == []


def test_test_code_may_write_directly(org: Any) -> None:
    Jurisdiction.objects.filter(pk=org.county.pk).update(name="龙南")
    assert guard_actions._state["violations"] == []
