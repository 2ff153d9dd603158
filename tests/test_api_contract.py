"""The API contract (issue 9, SEC-2): what the OpenAPI document says is what the server does.

* Every operation declares the error answers it can give, with the one ``Error`` schema, and only
  those (:func:`govshare.core.api_helpers.error_answers`).
* Permission before input: a user who may not make a write at all gets 403 — never a 400/422 that
  explains what the input should have been — for every write of the document (parametrized over the
  document, so a new operation is covered without editing this file).
* A schemathesis run, in-process against the WSGI app, as a data specialist (token) and anonymous:
  no server error and no answer that breaks the document.  Figures: docs/api-contract.md.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections import Counter
from typing import Any

import pytest
from django.conf import settings
from django.core import signals
from django.db import close_old_connections
from django.test import Client

from govshare.api import api
from govshare.core.actions import do_create_token
from govshare.core.api_helpers import Error, api_operations, error_answers
from govshare.core.models import AuditEvent
from tests.conftest import API

DOC_URL = API + "/openapi.json"
ERROR_REF = "#/components/schemas/Error"
WRITES = ("post", "put", "patch", "delete")


@functools.cache
def _document_text() -> str:
    return json.dumps(api.get_openapi_schema())


def _document() -> dict[str, Any]:
    return json.loads(_document_text())


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    doc = _document()
    return [(method, path, op) for path, item in doc["paths"].items() for method, op in item.items()]


def _bound_operations() -> dict[tuple[str, str], Any]:
    """(method, path as in the document) → the ninja operation."""
    by_id = api_operations(api)
    return {(m, p): by_id[op["operationId"]] for m, p, op in _operations()}


# ------------------------------------------------------------------ the document declares every answer

def test_every_operation_declares_its_error_answers_with_the_one_error_schema() -> None:
    operations = _operations()
    assert len(operations) >= 120
    for method, path, op in operations:
        errors = {int(code): answer for code, answer in op["responses"].items() if int(code) >= 400}
        assert 401 in errors, (method, path)  # every operation authenticates (a public one refuses a bad token)
        for code, answer in errors.items():
            assert answer["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (method, path, code)
        if method in WRITES:
            assert 403 in errors, (method, path)  # a read-only token, a failed CSRF check
        if "{" in path:
            assert 404 in errors, (method, path)
        if op.get("parameters") or op.get("requestBody"):
            assert {422} <= set(errors) or path.endswith("/workdays/import"), (method, path)


def test_an_operation_lists_only_the_answers_it_can_give() -> None:
    doc = _document()["paths"]

    def codes(path: str, method: str) -> set[int]:
        return {int(c) for c in doc[API + path][method]["responses"]}

    assert codes("/me", "get") == {200, 401}  # no input, nothing to refuse, nothing to find
    assert codes("/catalog/synonyms", "get") == {200, 401}
    # a conflict only where the state of an object is involved
    assert 409 in codes("/catalog/entries/{ref}/submit", "post")
    assert 409 not in codes("/catalog/entries", "get") | codes("/catalog/search", "get")
    assert 409 not in codes("/sharing/access-check", "post")
    # 403 on a read only where a capability is required
    assert 403 in codes("/policies", "get") and 403 not in codes("/catalog/entries", "get")
    # 413 only where an upload is refused by its size
    assert {code for path, item in doc.items() for op in item.values() for code in map(int, op["responses"])
            if code == 413} == {413}
    assert 413 in codes("/workdays/import", "post") and 413 not in codes("/catalog/entries", "post")


def test_the_declared_answers_follow_from_what_the_handler_raises() -> None:
    """409 is declared exactly where the handler (or an action it calls) raises a Conflict."""
    from govshare.core.api_helpers import raised_errors
    from govshare.core.errors import Conflict

    operations = _bound_operations()
    assert len(operations) >= 120
    for (_method, _path), operation in operations.items():
        conflicts = any(issubclass(e, Conflict) for e in raised_errors(operation.view_func))
        assert (409 in error_answers(operation)) == conflicts


def test_the_error_schema_describes_what_the_server_sends(org: Any) -> None:
    client = Client()
    client.force_login(org.police_specialist)
    bodies = [
        client.get(API + "/catalog/entries/999999").json(),  # 404
        Client().get(API + "/me").json(),  # 401
        client.get(API + "/policies/nope").json(),  # 404 / 400
        client.post(API + "/catalog/entries", "{", content_type="application/json").json(),  # invalid JSON
        client.post(API + "/catalog/entries", {"name": 1}, content_type="application/json").json(),  # 422
    ]
    for body in bodies:
        Error.model_validate(body)
        assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message_en"]


# ------------------------------------------------------------------ permission before input

def _bad_inputs(op: dict[str, Any]) -> list[tuple[Any, str]]:
    """Input the schema refuses (a list where an object is expected, a payload part that is not JSON),
    and an empty object, which the schema mostly accepts and the rules then refuse (400)."""
    content = (op.get("requestBody") or {}).get("content", {})
    if "multipart/form-data" in content:
        return [({"payload": "not json"}, "multipart"), ({"payload": "{}"}, "multipart")]
    return [([1, 2, 3], "json"), ({}, "json")]


def _fill(path: str, value: str) -> str:
    return re.sub(r"{[^}]+}", value, path)


#: every write of the document but those a citizen may make on their own things (tokens, inbox, jobs)
WRITE_OPERATIONS = [(m, p) for (m, p), bound in _bound_operations().items()
                    if m in WRITES and not getattr(bound.view_func, "personal", False)]


#: the writes of WRITE_OPERATIONS an auditor may make (separation of duties: nothing but the audit's own work)
AUDITOR_WRITES = {("post", API + "/audit/verify/jobs")}
#: writes a department administrator can never make: the centre's work, and an object rule that never
#: lets them change the object (a jurisdiction) although their role holds capabilities of its router
DEPT_ADMIN_NEVER = [("patch", API + "/jurisdictions/{jurisdiction_id}"), ("post", API + "/jurisdictions"),
                    ("post", API + "/catalog/entries/{ref}/approve"), ("post", API + "/catalog/classifications"),
                    ("post", API + "/sharing/applications/{application_id}/first-review"),
                    ("put", API + "/workdays/days/{date}"), ("post", API + "/audit/verify/jobs")]
REFUSED = ([("citizen", m, p) for m, p in WRITE_OPERATIONS]
           + [("auditor", m, p) for m, p in WRITE_OPERATIONS if (m, p) not in AUDITOR_WRITES]
           + [("police_admin", m, p) for m, p in DEPT_ADMIN_NEVER])


@pytest.mark.parametrize(("who", "method", "path"), REFUSED, ids=[f"{w} {m} {p}" for w, m, p in REFUSED])
def test_a_user_who_can_never_make_a_write_is_refused_before_the_input_is_judged(
        org: Any, who: str, method: str, path: str) -> None:
    """Whatever the input, the write of someone who may never make it — a citizen, an auditor (who
    changes nothing), a department admin on the centre's work — is a 403 (or 404 for an object they
    cannot see), never 400/422: what a valid request looks like is not explained to them."""
    op = _operations_by_key()[(method, path)]
    client = Client()
    client.force_login(getattr(org, who))
    url = _fill(path, "1")
    for body, kind in _bad_inputs(op):
        if kind == "multipart":
            response = client.generic(method.upper(), url, _multipart(body), content_type=_MULTIPART)
        else:
            response = client.generic(method.upper(), url, json.dumps(body), content_type="application/json")
        assert response.status_code in {403, 404}, (body, response.status_code, response.content[:300])


def test_the_gate_does_not_refuse_a_write_the_user_may_make(share: Any) -> None:
    """The owner department's admin sends bad input to a write of its own: the input is judged (422/400),
    not a refusal — the gate refuses only those who can never make the write."""
    org = share.cat.org
    client = Client()
    client.force_login(org.police_admin)
    for path in (f"/catalog/entries/{share.unconditional.code}/project", "/sharing/requests/1/register"):
        response = client.post(API + path, [1], content_type="application/json")
        assert response.status_code == 422, (path, response.content[:300])


def test_the_writes_a_citizen_may_make_are_few_and_personal() -> None:
    personal = {(m, p) for m, p, _op in _operations() if m in WRITES} - set(WRITE_OPERATIONS)
    assert {p.removeprefix(API) for _m, p in personal} <= {
        "/tokens", "/tokens/{token_id}", "/jobs/{job_id}/cancel", "/me/notifications/read-all",
        "/me/notifications/{notification_id}/read"}


def test_a_refusal_before_the_input_is_audited(org: Any) -> None:
    client = Client()
    client.force_login(org.citizen)
    before = AuditEvent.objects.filter(outcome="denied").count()
    response = client.post(API + "/catalog/classifications", [1], content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert AuditEvent.objects.filter(outcome="denied").count() == before + 1


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/catalog/entries/{ref}/return", {"comment": ""}),
    ("post", "/catalog/update-tasks/{id}/cancel", {"reason": "x" * 5000}),
    ("post", "/sharing/applications/{id}/first-review", {"decision": "nonsense"}),
])
def test_an_outsider_gets_404_for_an_object_it_cannot_see_before_the_rules_judge_the_input(
        share: Any, method: str, path: str, body: dict[str, Any]) -> None:
    org = share.cat.org
    client = Client()
    client.force_login(org.market_specialist)
    url = API + _fill(path, "999999")
    response = client.generic(method.upper(), url, json.dumps(body), content_type="application/json")
    assert response.status_code in {403, 404}, response.content[:300]


_MULTIPART = "multipart/form-data; boundary=BoUnDaRy"


def _multipart(fields: dict[str, str]) -> bytes:
    parts = [f'--BoUnDaRy\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    return ("".join(parts) + "--BoUnDaRy--\r\n").encode()


_OPS_CACHE: dict[tuple[str, str], dict[str, Any]] = {}


def _operations_by_key() -> dict[tuple[str, str], dict[str, Any]]:
    if not _OPS_CACHE:
        _OPS_CACHE.update({(m, p): op for m, p, op in _operations()})
    return _OPS_CACHE


# ------------------------------------------------------------------ schemathesis

#: examples per operation for each caller: small, so that the run stays short on SQLite (an anonymous
#: caller is mostly refused before the input is read: fewer examples find as much)
EXAMPLES = {"specialist": 4, "anonymous": 1, "anonymous on a public operation": 4}
#: a deep run multiplies them (``GOVSHARE_CONTRACT_SCALE=30`` ≈ 20 000 calls, docs/api-contract.md)
SCALE = max(1, int(os.environ.get("GOVSHARE_CONTRACT_SCALE", "1") or 1))


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
                    reason="the contract does not depend on the database: run once, on the SQLite run")
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(org: Any) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    from govshare.wsgi import application

    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    token = do_create_token(org.police_specialist, name="schemathesis", scope="write", days=1).secret
    callers = {"specialist": {"Authorization": f"Bearer {token}"}, "anonymous": {}}
    # the test's transaction must outlive each request (Django's test client does the same)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    calls: Counter[str] = Counter()
    failures: list[str] = []
    try:
        schema = schemathesis.openapi.from_wsgi(DOC_URL, application)
        for result in schema.get_all_operations():
            operation = result.ok()
            public = not _operations_by_key()[(operation.method.lower(), operation.path)].get("security")
            for caller, headers in callers.items():
                examples = SCALE * EXAMPLES[f"{caller} on a public operation" if public and not headers else caller]
                _fuzz(operation, caller, headers, examples, checks, calls, failures)()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    total = sum(calls.values())
    print(f"schemathesis: {total} calls ({dict(calls)}), {len(failures)} failures")
    assert total >= 5 * 120, calls
    assert not failures, "\n".join(failures[:40])


def _fuzz(operation: Any, caller: str, headers: dict[str, str], examples: int, checks: list[Any],
          calls: Counter[str], failures: list[str]) -> Any:
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        calls[caller] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — each failure is collected, reported at the end
            failures.append(f"{caller} {operation.label} → {response.status_code}: {str(exc)[:400]}")

    return run
