"""Managing the jurisdiction tree (issue 2: a jurisdiction tree with a policy profile each; SEC-2):
the centre administrator adds and edits jurisdictions over the API and on a page; a colleague
without the capability (the centre reviewer) and an outsider (a department admin) cannot."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from govshare.core.audit_codes import AuditCode
from govshare.core.models import AuditEvent, Jurisdiction

API = "/api/v1"
NEW = {"code": "360781", "name": "瑞金市", "level": "county", "policy_profile": "national"}


@pytest.fixture(autouse=True)
def _english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


def _post(client: Any, path: str, body: Any) -> Any:
    return client.post(API + path, body, content_type="application/json")


def _patch(client: Any, path: str, body: Any) -> Any:
    return client.patch(API + path, body, content_type="application/json")


# ------------------------------------------------------------------ API

def test_the_centre_admin_adds_a_jurisdiction_under_another(org: Any, client_for: Any) -> None:
    response = _post(client_for(org.centre_admin), "/jurisdictions", {**NEW, "parent_id": org.province.pk})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["code"], body["parent_id"], body["policy_profile"]) == ("360781", org.province.pk, "national")
    created = Jurisdiction.objects.get(code="360781")
    assert AuditEvent.objects.filter(code=int(AuditCode.JURISDICTION_CREATED), object_id=str(created.pk),
                                     actor_id=org.centre_admin.pk).exists()


@pytest.mark.parametrize("who", ["reviewer", "police_admin", "auditor", "citizen"])
def test_nobody_else_adds_a_jurisdiction(org: Any, client_for: Any, who: str) -> None:
    response = _post(client_for(getattr(org, who)), "/jurisdictions", {**NEW, "parent_id": org.province.pk})
    assert response.status_code == 403
    assert not Jurisdiction.objects.filter(code="360781").exists()


def test_a_jurisdiction_with_an_unknown_parent_is_a_404(org: Any, client_for: Any) -> None:
    response = _post(client_for(org.centre_admin), "/jurisdictions", {**NEW, "parent_id": 999999})
    assert response.status_code == 404


def test_an_overlong_jurisdiction_code_is_a_clear_error(org: Any, client_for: Any) -> None:
    response = _post(client_for(org.centre_admin), "/jurisdictions", {**NEW, "code": "3" * 13})
    assert response.status_code == 422 and response.json()["error"]["field"] == "code"


def test_the_centre_admin_renames_a_jurisdiction_and_changes_its_profile(org: Any, client_for: Any) -> None:
    response = _patch(client_for(org.centre_admin), f"/jurisdictions/{org.county.pk}",
                      {"name": "龙南市（新）", "policy_profile": "national"})
    assert response.status_code == 200, response.content
    org.county.refresh_from_db()
    assert (org.county.name, org.county.policy_profile, org.county.parent_id) == ("龙南市（新）", "national",
                                                                                 org.province.pk)
    assert AuditEvent.objects.filter(code=int(AuditCode.JURISDICTION_UPDATED), object_id=str(org.county.pk)).exists()


def test_a_null_parent_makes_a_jurisdiction_a_root(org: Any, client_for: Any) -> None:
    response = _patch(client_for(org.centre_admin), f"/jurisdictions/{org.county.pk}", {"parent_id": None})
    assert response.status_code == 200
    org.county.refresh_from_db()
    assert org.county.parent_id is None


def test_a_null_name_is_a_clear_error_and_changes_nothing(org: Any, client_for: Any) -> None:
    response = _patch(client_for(org.centre_admin), f"/jurisdictions/{org.county.pk}", {"name": None})
    assert response.status_code == 422 and response.json()["error"]["field"] == "name"
    org.county.refresh_from_db()
    assert org.county.name == "龙南市"


@pytest.mark.parametrize("who", ["reviewer", "police_admin"])
def test_nobody_else_changes_a_jurisdiction(org: Any, client_for: Any, who: str) -> None:
    response = _patch(client_for(getattr(org, who)), f"/jurisdictions/{org.county.pk}", {"name": "x"})
    assert response.status_code == 404  # the object rule: the same answer as for a missing one
    org.county.refresh_from_db()
    assert org.county.name == "龙南市"


# ------------------------------------------------------------------ pages

def test_only_the_centre_admin_sees_the_jurisdiction_links(org: Any, client_for: Any) -> None:
    create, edit = reverse("core:jurisdiction_create"), reverse("core:jurisdiction_edit", args=[org.county.pk])
    html = client_for(org.centre_admin).get(reverse("core:departments")).content.decode()
    assert create in html and edit in html
    for who in ("reviewer", "police_admin", "citizen"):
        html = client_for(getattr(org, who)).get(reverse("core:departments")).content.decode()
        assert create not in html and edit not in html


def test_the_centre_admin_adds_a_jurisdiction_on_the_page(org: Any, client_for: Any) -> None:
    client = client_for(org.centre_admin)
    assert client.get(reverse("core:jurisdiction_create")).status_code == 200
    response = client.post(reverse("core:jurisdiction_create"), {**NEW, "parent": org.province.pk})
    assert response.status_code == 302
    assert Jurisdiction.objects.get(code="360781").parent_id == org.province.pk


def test_the_jurisdiction_page_offers_no_placeholder_profile(org: Any, client_for: Any) -> None:
    client = client_for(org.centre_admin)
    form = client.get(reverse("core:jurisdiction_create")).context["form"]
    offered = [value for value, _label in form.fields["policy_profile"].choices]
    assert "national" in offered and "longnan" in offered and "template" not in offered
    response = client.post(reverse("core:jurisdiction_create"), {**NEW, "policy_profile": "template"})
    assert response.status_code == 400 and 'data-field="policy_profile"' in response.content.decode()
    assert not Jurisdiction.objects.filter(code="360781").exists()


def test_a_duplicate_code_is_shown_next_to_the_field(org: Any, client_for: Any) -> None:
    response = client_for(org.centre_admin).post(reverse("core:jurisdiction_create"), {**NEW, "code": "360783"})
    assert response.status_code == 400
    assert "360783" in " ".join(response.context["form"].errors["code"])


def test_the_centre_admin_edits_a_jurisdiction_on_the_page(org: Any, client_for: Any) -> None:
    client = client_for(org.centre_admin)
    url = reverse("core:jurisdiction_edit", args=[org.county.pk])
    form = client.get(url).context["form"]
    assert "code" not in form.fields and org.county.pk not in [j.pk for j in form.fields["parent"].queryset]
    response = client.post(url, {"name": "龙南", "parent": org.province.pk, "policy_profile": "longnan"})
    assert response.status_code == 302
    org.county.refresh_from_db()
    assert org.county.name == "龙南"


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("police_admin", 403), ("citizen", 403)])
def test_others_cannot_open_the_new_jurisdiction_page(org: Any, client_for: Any, who: str, status: int) -> None:
    assert client_for(getattr(org, who)).get(reverse("core:jurisdiction_create")).status_code == status


@pytest.mark.parametrize("who", ["reviewer", "police_admin"])
def test_others_cannot_edit_a_jurisdiction_on_the_page(org: Any, client_for: Any, who: str) -> None:
    url = reverse("core:jurisdiction_edit", args=[org.county.pk])
    response = client_for(getattr(org, who)).post(url, {"name": "x", "policy_profile": "national"})
    assert response.status_code == 404
    org.county.refresh_from_db()
    assert org.county.name == "龙南市"
