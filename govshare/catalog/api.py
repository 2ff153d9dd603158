"""Catalog JSON API, mounted at ``/api/v1/catalog`` (CAT-1 … CAT-10, issue 3 items 6 and 8).

Every handler is thin: parse the input (:mod:`govshare.catalog.schemas`), call an action of
:mod:`govshare.catalog.actions` or read through the permission chokepoint (``restrict`` /
``get_for``: the same 404 for a missing and an invisible object), render.

* Reading the catalog (search, entries, versions, diffs, the classification tree) is open to
  anonymous visitors, who see the open catalog only (CAT-6, CAT-9); a token or the session
  identifies the user when given, and a bad token is still refused.
* Everything else needs the session or a token; writes need a *write* token (the API's
  authentication refuses a read-only token on any method but GET/HEAD/OPTIONS).
* An entry is addressed by its id or its resource code: ``/entries/42`` or ``/entries/301/000001``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status

from govshare.catalog import actions
from govshare.catalog import schemas as s
from govshare.catalog.diff import diff_versions, previous_version
from govshare.catalog.models import (
    CatalogEntry,
    CatalogSnapshot,
    Classification,
    EntryVersion,
    Feedback,
    Project,
    Subscription,
    Synonym,
    UpdateTask,
)
from govshare.catalog.permissions import is_centre
from govshare.catalog.refs import EntryRefPath, entry_qs, get_entry
from govshare.core import access_log
from govshare.core.api_helpers import PUBLIC, known, page_of
from govshare.core.audit_codes import AuditCode
from govshare.core.models import Department, Jurisdiction
from govshare.core.permissions import Action, can, get_for, is_anonymous, require, restrict
from govshare.core.roles import Capability
from govshare.core.validators import MAX_DB_ID
from govshare.core.workdays import WorkCalendar

router = Router(tags=["catalog"])


# ------------------------------------------------------------------ helpers

def _user(request: HttpRequest) -> Any:
    return request.user


def with_open_visibility(qs: QuerySet[CatalogEntry], user: Any) -> QuerySet[CatalogEntry]:
    """Annotate ``open_visible``: whether ``user`` may see the version in progress (one query)."""
    visible = restrict(EntryVersion, user, Action.VIEW)
    return qs.annotate(open_visible=Exists(visible.filter(pk=OuterRef("open_version_id"))))


def entry_detail(user: Any, entry: CatalogEntry) -> dict[str, Any]:
    entry = (entry_qs().prefetch_related("current_version__items", "open_version__items").get(pk=entry.pk))
    open_version = entry.open_version
    if open_version is not None and not can(user, Action.VIEW, open_version):
        open_version = None
    subscriber_count = None
    if not is_anonymous(user) and (is_centre(user) or can(user, Action.CHANGE, entry)):
        subscriber_count = restrict(Subscription, user).filter(entry=entry, user__is_active=True).count()
    subscribed = (not is_anonymous(user)
                  and restrict(Subscription, user).filter(entry=entry, user_id=user.pk).exists())
    provider = entry.provider
    return {
        "id": entry.pk, "code": entry.code, "status": entry.status,
        "provider": {"id": provider.pk, "code": provider.code, "name": provider.name, "uscc": provider.uscc},
        "project": entry.project.code if entry.project else None, "request_ref": entry.request_ref,
        "created_at": entry.created_at, "first_published_at": entry.first_published_at,
        "published_at": entry.published_at, "withdrawn_at": entry.withdrawn_at, "updated_at": entry.updated_at,
        "current_version": entry.current_version, "open_version": open_version,
        "subscriber_count": subscriber_count, "subscribed": subscribed,
    }


def _version(user: Any, entry: CatalogEntry, number: int) -> EntryVersion:
    qs = EntryVersion.objects.select_related("classification", "entry").prefetch_related("items")
    return get_for(user, Action.VIEW, qs, entry=entry, number=number)


# ------------------------------------------------------------------ search (CAT-9)

@router.get("/search", response=s.SearchOut, auth=PUBLIC,
            summary="Search the catalog: total, facets and one page of results (CAT-9)")
def search(request: HttpRequest, query: Query[s.SearchQuery]) -> dict[str, Any]:
    """Repeat a filter parameter for OR (``?provider=GA&provider=SJ``); different filters combine
    with AND.  The public sees the open catalog, departments the share catalog, and drafts are seen
    only inside their own department and by the centre."""
    from govshare.catalog import search as engine

    filters = {key: list(values) for key in s.SEARCH_FILTERS if (values := getattr(query, key))}
    result = engine.search(_user(request), query.q, filters=filters or None, sort=query.sort, page=query.page,
                           per_page=query.per_page)
    pages = max(1, -(-result.total // result.per_page))
    access_log.note(request, AuditCode.READ_SEARCH, query={"q": query.q, "filters": filters, "sort": query.sort,
                                                           "page": query.page}, results=result.total)
    return {
        "total": result.total, "page": result.page, "per_page": result.per_page,
        "pages": getattr(result, "pages", pages),
        "query_terms": [str(t) for t in (getattr(result, "query_terms", None) or [])],
        "expansions": dict(getattr(result, "expansions", None) or {}),
        "facets": {key: list(values) for key, values in result.facets.items()},
        "results": list(result.hits),
    }


# ------------------------------------------------------------------ entries

class EntryListQuery(s.PageQuery):
    provider: list[s.Str40] = Field([], max_length=50, description="department code; repeat = OR")
    status: list[s.Str16] = Field([], max_length=3, description="draft, published or withdrawn")
    state: list[s.Str16] = Field([], max_length=7, description="state of the version in progress (drafts, "
                                                                "reviews) — only where you may see it")
    classification: str | None = Field(None, max_length=16, description="classification code (and below)")
    project: str | None = Field(None, max_length=40, description="IT project code")
    mine: bool = Field(False, description="only my department's entries")
    sort: str = Field("code", pattern="^(code|updated)$", description="code, or updated (newest first)")


@router.get("/entries", response=s.EntryPageOut, auth=PUBLIC, summary="Browse catalog entries (CAT-3, CAT-9)")
def list_entries(request: HttpRequest, query: Query[EntryListQuery]) -> dict[str, Any]:
    user = _user(request)
    qs = restrict(entry_qs(), user, Action.VIEW)
    if query.provider:
        qs = qs.filter(provider__code__in=query.provider)
    if query.status:
        qs = qs.filter(status__in=query.status)
    if query.classification:
        qs = qs.filter(code__startswith=query.classification)
    if query.project:
        qs = qs.filter(project__code=query.project)
    if query.mine:
        department_id = None if is_anonymous(user) else user.department_id
        qs = qs.filter(provider_id=department_id) if department_id else qs.none()
    if query.state:  # only versions in progress the user may see: an outsider learns nothing of a review
        qs = qs.filter(open_version__state__in=query.state,
                       open_version__in=restrict(EntryVersion, user, Action.VIEW).values("pk"))
    qs = with_open_visibility(qs, user)
    qs = qs.order_by("-updated_at", "-pk") if query.sort == "updated" else qs.order_by("code")
    total, items = page_of(qs, query.page, query.per_page)
    return {"total": total, "page": query.page, "per_page": query.per_page, "items": items}


@router.post("/entries", response={201: s.EntryDetailOut},
             summary="Register a new entry as a draft of your department (CAT-1, CAT-2)")
def create_entry(request: HttpRequest, payload: s.EntryCreateIn) -> Any:
    user = _user(request)
    project = known(user, Project, "project", payload.project, code=payload.project) if payload.project else None
    entry = actions.do_create_entry(user, payload.content(), project=project, request_ref=payload.request_ref)
    return Status(201, entry_detail(user, entry))


@router.get("/entries/{entryref:ref}", response=s.EntryDetailOut, auth=PUBLIC,
            summary="One entry: its published version with items, the version in progress if yours")
def get_entry_detail(request: HttpRequest, ref: EntryRefPath) -> dict[str, Any]:
    user = _user(request)
    entry = get_entry(user, ref)
    access_log.note(request, AuditCode.READ_ENTRY, entry)
    return entry_detail(user, entry)


@router.put("/entries/{entryref:ref}/draft", response=s.EntryDetailOut,
            summary="Edit the draft; for a published entry this opens a new version (CAT-3)")
def edit_entry(request: HttpRequest, ref: EntryRefPath, payload: s.EntryEditIn) -> dict[str, Any]:
    user = _user(request)
    entry = get_entry(user, ref)
    actions.do_edit_entry(user, entry, payload.content(), change_reason=payload.change_reason)
    return entry_detail(user, entry)


@router.post("/entries/{entryref:ref}/submit", response=s.EntryDetailOut, summary="Submit the draft for review")
def submit_entry(request: HttpRequest, ref: EntryRefPath) -> dict[str, Any]:
    user = _user(request)
    entry = get_entry(user, ref)
    actions.do_submit(user, entry)
    return entry_detail(user, entry)


@router.post("/entries/{entryref:ref}/approve", response=s.EntryDetailOut,
             summary="Approve the submitted version (centre); with subscribers it waits for the notice (CAT-4)")
def approve_entry(request: HttpRequest, ref: EntryRefPath, payload: s.CommentIn | None = None) -> dict[str, Any]:
    user = _user(request)
    entry = get_entry(user, ref)
    actions.do_approve(user, entry, comment=payload.comment if payload else "")
    return entry_detail(user, entry)


@router.post("/entries/{entryref:ref}/return", response=s.EntryDetailOut,
             summary="Return the submitted version with comments (centre)")
def return_entry(request: HttpRequest, ref: EntryRefPath, payload: s.CommentIn) -> dict[str, Any]:
    user = _user(request)
    entry = get_entry(user, ref)
    actions.do_return(user, entry, comment=payload.comment)
    return entry_detail(user, entry)


@router.post("/entries/{entryref:ref}/withdraw", response=s.EntryDetailOut,
             summary="Ask to withdraw a published entry; it goes to review like a change (CAT-4)")
def withdraw_entry(request: HttpRequest, ref: EntryRefPath, payload: s.ReasonIn) -> dict[str, Any]:
    user = _user(request)
    entry = get_entry(user, ref)
    actions.do_request_withdrawal(user, entry, reason=payload.reason)
    return entry_detail(user, entry)


@router.post("/entries/{entryref:ref}/discard", response={200: s.EntryDetailOut, 204: None},
             summary="Drop the draft in progress; a never-published entry disappears (204)")
def discard_entry(request: HttpRequest, ref: EntryRefPath) -> Any:
    user = _user(request)
    entry = get_entry(user, ref)
    kept = actions.do_discard_draft(user, entry)
    if kept is None:
        return Status(204, None)
    return entry_detail(user, kept)


@router.post("/entries/{entryref:ref}/subscribe", response={201: s.SubscriptionOut},
             summary="Get this entry's change notices (government users, CAT-4)")
def subscribe(request: HttpRequest, ref: EntryRefPath) -> Any:
    user = _user(request)
    sub = actions.do_subscribe(user, get_entry(user, ref))
    return Status(201, s.SubscriptionOut.from_subscription(sub))


@router.delete("/entries/{entryref:ref}/subscribe", response={204: None}, summary="Stop the change notices")
def unsubscribe(request: HttpRequest, ref: EntryRefPath) -> Any:
    user = _user(request)
    actions.do_unsubscribe(user, get_entry(user, ref))
    return Status(204, None)


@router.post("/entries/{entryref:ref}/project", response=s.EntryDetailOut,
             summary="Put the entry under an IT project of its department, or take it out (CAT-8)")
def attach_to_project(request: HttpRequest, ref: EntryRefPath, payload: s.AttachIn) -> dict[str, Any]:
    user = _user(request)
    entry = get_entry(user, ref)
    project = known(user, Project, "project", payload.project, code=payload.project) if payload.project else None
    actions.do_attach_entry(user, entry, project)
    return entry_detail(user, entry)


# ------------------------------------------------------------------ versions (CAT-3)

@router.get("/entries/{entryref:ref}/versions", response=s.VersionPageOut, auth=PUBLIC,
            summary="The versions of an entry you may see, newest first")
def list_versions(request: HttpRequest, ref: EntryRefPath) -> dict[str, Any]:
    user = _user(request)
    entry = get_entry(user, ref)
    items = list(restrict(EntryVersion, user, Action.VIEW).filter(entry=entry).order_by("-number"))
    return {"total": len(items), "items": items}


@router.get("/entries/{entryref:ref}/versions/{number}", response=s.VersionOut, auth=PUBLIC,
            summary="One version's content with its information items")
def get_version(request: HttpRequest, ref: EntryRefPath, number: int = Path(..., ge=1, le=MAX_DB_ID)) -> EntryVersion:
    user = _user(request)
    return _version(user, get_entry(user, ref), number)


@router.get("/entries/{entryref:ref}/versions/{number}/diff", response=s.DiffOut, auth=PUBLIC,
            summary="Field-by-field changes against the previous version, or ?against=n (CAT-3)")
def diff_version(request: HttpRequest, ref: EntryRefPath, number: int = Path(..., ge=1, le=MAX_DB_ID),
                 against: int | None = Query(None, ge=1, le=MAX_DB_ID)) -> dict[str, Any]:
    user = _user(request)
    entry = get_entry(user, ref)
    version = _version(user, entry, number)
    if against is not None:
        base: EntryVersion | None = _version(user, entry, against)
    else:
        base = previous_version(version)
        if base is not None:
            base = _version(user, entry, base.number)  # an earlier version you may not see is not compared
    changes = diff_versions(base, version)
    return {"code": entry.code, "number": version.number, "against": base.number if base else None,
            "changes": [{**c, "label": s.change_label(c)} for c in changes]}


@router.get("/review-queue", response=s.ReviewPageOut,
            summary="Submitted versions waiting for the centre's review, oldest first (CAT-3)")
def review_queue(request: HttpRequest, query: Query[s.PageQuery]) -> dict[str, Any]:
    user = _user(request)
    require(user, Capability.REVIEW_CATALOG)
    qs = (restrict(EntryVersion, user, Action.VIEW).filter(state=EntryVersion.State.SUBMITTED)
          .select_related("entry__provider", "submitted_by").order_by("submitted_at", "pk"))
    total, items = page_of(qs, query.page, query.per_page)
    return {"total": total, "page": query.page, "per_page": query.per_page, "items": items}


# ------------------------------------------------------------------ classifications (CAT-1)

class ClassificationQuery(Schema):
    include_inactive: bool = False
    kind: str | None = Field(None, max_length=12, description="basic, theme or department")


def _classifications(user: Any, query: ClassificationQuery) -> QuerySet[Classification]:
    qs = restrict(Classification, user, Action.VIEW).select_related("parent", "department").order_by("code")
    if not query.include_inactive:
        qs = qs.filter(is_active=True)
    if query.kind:
        qs = qs.filter(kind=query.kind)
    return qs


@router.get("/classifications", response=list[s.ClassificationOut], auth=PUBLIC,
            summary="The classification tree 类/项/目/细目 as a flat list with parent codes")
def list_classifications(request: HttpRequest, query: Query[ClassificationQuery]) -> Any:
    return _classifications(_user(request), query)


@router.get("/classifications/tree", response=list[s.ClassificationNodeOut], auth=PUBLIC,
            summary="The classification tree, nested")
def classification_tree(request: HttpRequest, query: Query[ClassificationQuery]) -> list[dict[str, Any]]:
    nodes: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for node in _classifications(_user(request), query):
        nodes[node.pk] = {"code": node.code, "name": node.name, "level": node.level, "kind": node.kind,
                          "department": node.department.code if node.department else None,
                          "description": node.description, "is_active": node.is_active, "children": []}
        parent = nodes.get(node.parent_id) if node.parent_id else None
        (parent["children"] if parent is not None else roots).append(nodes[node.pk])
    return roots


@router.get("/classifications/{code}", response=s.ClassificationOut, auth=PUBLIC)
def get_classification(request: HttpRequest, code: str) -> Classification:
    return get_for(_user(request), Action.VIEW, Classification.objects.select_related("parent", "department"),
                   code=code)


@router.post("/classifications", response={201: s.ClassificationOut},
             summary="Add a node to the classification tree (centre administrators)")
def create_classification(request: HttpRequest, payload: s.ClassificationIn) -> Any:
    user = _user(request)
    require(user, Capability.MANAGE_CLASSIFICATION)
    parent = known(user, Classification, "parent", payload.parent, code=payload.parent) if payload.parent else None
    department = (known(user, Department, "department", payload.department, code=payload.department)
                  if payload.department else None)
    node = actions.do_create_classification(user, code=payload.code, name=payload.name, parent=parent,
                                            department=department, description=payload.description)
    return Status(201, node)


@router.patch("/classifications/{code}", response=s.ClassificationOut,
              summary="Rename, describe, deactivate or reactivate a classification (centre administrators)")
def update_classification(request: HttpRequest, code: str, payload: s.ClassificationPatch) -> Classification:
    user = _user(request)
    node = get_for(user, Action.VIEW, Classification, code=code)
    return actions.do_update_classification(user, node, **payload.dict(exclude_unset=True))


# ------------------------------------------------------------------ synonyms (CAT-9)

@router.get("/synonyms", response=list[s.SynonymOut], summary="The search synonym list (government users)")
def list_synonyms(request: HttpRequest) -> Any:
    return restrict(Synonym, _user(request), Action.VIEW).order_by("term")


@router.get("/synonyms/{term}", response=s.SynonymOut)
def get_synonym(request: HttpRequest, term: str) -> Synonym:
    return get_for(_user(request), Action.VIEW, Synonym, term=term)


@router.put("/synonyms/{term}", response=s.SynonymOut,
            summary="Set the full terms of an abbreviation (社保 → 社会保险); takes effect at once")
def set_synonym(request: HttpRequest, term: str, payload: s.SynonymIn) -> Synonym:
    return actions.do_set_synonym(_user(request), term, list(payload.expansions))


@router.delete("/synonyms/{term}", response={204: None})
def delete_synonym(request: HttpRequest, term: str) -> Any:
    actions.do_delete_synonym(_user(request), term)
    return Status(204, None)


# ------------------------------------------------------------------ search word list (CAT-9)

class SearchWordOut(Schema):
    word: str
    note: str
    updated_at: dt.datetime


class SearchWordIn(s.InSchema):
    note: str = Field("", max_length=200, description="why the word is listed")


@router.get("/search-words", response=list[SearchWordOut],
            summary="The words search keeps whole (government users); place and department names are added "
                    "automatically")
def list_search_words(request: HttpRequest) -> Any:
    from govshare.catalog.models import SearchWord

    return restrict(SearchWord, _user(request), Action.VIEW).order_by("word")


@router.put("/search-words/{word}", response=SearchWordOut,
            summary="Add a word search keeps whole (桃江); the search index is rebuilt")
def set_search_word(request: HttpRequest, word: str, payload: SearchWordIn) -> Any:
    return actions.do_set_search_word(_user(request), word, payload.note)


@router.delete("/search-words/{word}", response={204: None}, summary="Remove a word; the search index is rebuilt")
def delete_search_word(request: HttpRequest, word: str) -> Any:
    actions.do_delete_search_word(_user(request), word)
    return Status(204, None)


# ------------------------------------------------------------------ update tasks (CAT-5)

def task_out(task: UpdateTask, calendar: WorkCalendar, today: dt.date) -> dict[str, Any]:
    deadline = task.deadline
    remaining = task.working_days_left(today, calendar=calendar)  # the core clock, one calendar for a page
    return {
        "id": task.pk, "department": s.dept_ref(task.department), "reason": task.reason, "title": task.title,
        "description": task.description, "status": task.status, "opened_at": task.opened_at,
        "change_date": task.change_date, "due_date": deadline.due_date, "due_at": deadline.due_at,
        "provisional": deadline.provisional, "remaining_working_days": remaining, "overdue": task.is_overdue,
        "closed_at": task.closed_at, "completion_note": task.completion_note,
    }


def _task(user: Any, task_id: int) -> UpdateTask:
    return get_for(user, Action.VIEW, UpdateTask.objects.select_related("department", "deadline"), pk=task_id)


@router.get("/update-tasks", response=s.UpdateTaskPageOut,
            summary="Catalog-update tasks with their deadlines in working days (CAT-5)")
def list_update_tasks(request: HttpRequest, query: Query[s.UpdateTaskQuery]) -> dict[str, Any]:
    user = _user(request)
    qs = restrict(UpdateTask, user, Action.VIEW).select_related("department", "deadline")
    if query.status:
        qs = qs.filter(status__in=query.status)
    if query.department:
        qs = qs.filter(department__code=query.department)
    if query.overdue is True:
        qs = qs.filter(status=UpdateTask.Status.OPEN, deadline__due_at__lt=timezone.now())
    elif query.overdue is False:
        qs = qs.exclude(status=UpdateTask.Status.OPEN, deadline__due_at__lt=timezone.now())
    total, items = page_of(qs.order_by("status", "deadline__due_at", "pk"), query.page, query.per_page)
    calendar, today = WorkCalendar(), timezone.localdate()
    return {"total": total, "page": query.page, "per_page": query.per_page,
            "items": [task_out(t, calendar, today) for t in items]}


@router.get("/update-tasks/{task_id}", response=s.UpdateTaskOut)
def get_update_task(request: HttpRequest, task_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> dict[str, Any]:
    return task_out(_task(_user(request), task_id), WorkCalendar(), timezone.localdate())


@router.post("/update-tasks", response={201: s.UpdateTaskOut},
             summary="Ask a department to update its catalog after a change (centre, CAT-5)")
def open_update_task(request: HttpRequest, payload: s.UpdateTaskIn) -> Any:
    user = _user(request)
    require(user, Capability.MANAGE_UPDATE_TASKS)
    department = known(user, Department, "department", payload.department, code=payload.department)
    task = actions.do_open_update_task(user, department=department, reason=payload.reason, title=payload.title,
                                       change_date=payload.change_date, description=payload.description)
    return Status(201, task_out(task, WorkCalendar(), timezone.localdate()))


@router.post("/update-tasks/{task_id}/complete", response=s.UpdateTaskOut,
             summary="Report the update done (the department, or the centre for it)")
def complete_update_task(request: HttpRequest, payload: s.NoteIn,
                         task_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> dict[str, Any]:
    user = _user(request)
    task = actions.do_complete_update_task(user, _task(user, task_id), note=payload.note)
    return task_out(task, WorkCalendar(), timezone.localdate())


@router.post("/update-tasks/{task_id}/cancel", response=s.UpdateTaskOut, summary="Cancel a task (centre)")
def cancel_update_task(request: HttpRequest, payload: s.ReasonIn,
                       task_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> dict[str, Any]:
    user = _user(request)
    task = actions.do_cancel_update_task(user, _task(user, task_id), reason=payload.reason)
    return task_out(task, WorkCalendar(), timezone.localdate())


# ------------------------------------------------------------------ projects (CAT-8)

def _project(user: Any, code: str) -> Project:
    return get_for(user, Action.VIEW, Project.objects.select_related("department"), code=code)


@router.get("/projects", response=list[s.ProjectOut], summary="IT projects you may see (CAT-8)")
def list_projects(request: HttpRequest, stage: str | None = Query(None, max_length=16)) -> Any:
    qs = restrict(Project, _user(request), Action.VIEW).select_related("department").order_by("-created_at", "-pk")
    return qs.filter(stage=stage) if stage else qs


@router.post("/projects", response={201: s.ProjectOut}, summary="Register an IT project (CAT-8)")
def create_project(request: HttpRequest, payload: s.ProjectIn) -> Any:
    user = _user(request)
    department = (known(user, Department, "department", payload.department, code=payload.department)
                  if payload.department else None)
    project = actions.do_create_project(user, name=payload.name, code=payload.code, department=department,
                                        description=payload.description)
    return Status(201, project)


@router.get("/projects/{code}", response=s.ProjectDetailOut, summary="A project with the entries you may see")
def get_project(request: HttpRequest, code: str) -> Project:
    user = _user(request)
    project = _project(user, code)
    entries = with_open_visibility(restrict(entry_qs(), user, Action.VIEW).filter(project=project), user)
    project.visible_entries = list(entries.order_by("code"))  # type: ignore[attr-defined]
    return project


@router.post("/projects/{code}/stage", response=s.ProjectOut,
             summary="Move a project one stage on; needs a published catalog entry (CAT-8)")
def move_project(request: HttpRequest, code: str, payload: s.StageIn) -> Project:
    user = _user(request)
    return actions.do_move_project(user, _project(user, code), stage=payload.stage)


# ------------------------------------------------------------------ feedback (CAT-10)

def _feedback_qs(user: Any) -> QuerySet[Feedback]:
    return restrict(Feedback, user, Action.VIEW).select_related("entry", "raised_by", "department")


@router.get("/entries/{entryref:ref}/feedback", response=list[s.FeedbackOut],
            summary="Doubts and errors reported on an entry (CAT-10)")
def list_entry_feedback(request: HttpRequest, ref: EntryRefPath) -> Any:
    user = _user(request)
    return _feedback_qs(user).filter(entry=get_entry(user, ref)).order_by("-raised_at", "-pk")


@router.post("/entries/{entryref:ref}/feedback", response={201: s.FeedbackOut},
             summary="Report a doubt or an error on a published entry (CAT-10)")
def raise_feedback(request: HttpRequest, ref: EntryRefPath, payload: s.FeedbackIn) -> Any:
    user = _user(request)
    fb = actions.do_raise_feedback(user, get_entry(user, ref), kind=payload.kind, description=payload.description,
                                   field_name=payload.field_name)
    return Status(201, fb)


@router.get("/feedback", response=s.FeedbackPageOut,
            summary="Feedback on my department's entries (role=provider) or raised by me (role=raiser)")
def list_feedback(request: HttpRequest, query: Query[s.FeedbackQuery]) -> dict[str, Any]:
    user = _user(request)
    qs = _feedback_qs(user)
    if query.status:
        qs = qs.filter(status__in=query.status)
    if query.role == "provider":
        qs = qs.filter(entry__provider_id=user.department_id) if user.department_id else qs.none()
    elif query.role == "raiser":
        qs = qs.filter(raised_by_id=user.pk)
    total, items = page_of(qs.order_by("-raised_at", "-pk"), query.page, query.per_page)
    return {"total": total, "page": query.page, "per_page": query.per_page, "items": items}


@router.post("/feedback/{feedback_id}/answer", response=s.FeedbackOut, summary="The provider answers (CAT-10)")
def answer_feedback(request: HttpRequest, payload: s.AnswerIn,
                    feedback_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> Feedback:
    user = _user(request)
    fb = get_for(user, Action.VIEW, Feedback, pk=feedback_id)
    return actions.do_answer_feedback(user, fb, answer=payload.answer)


@router.post("/feedback/{feedback_id}/close", response=s.FeedbackOut,
             summary="Close answered feedback (provider), or withdraw your own")
def close_feedback(request: HttpRequest, feedback_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> Feedback:
    user = _user(request)
    fb = get_for(user, Action.VIEW, Feedback, pk=feedback_id)
    return actions.do_close_feedback(user, fb)


# ------------------------------------------------------------------ snapshots (CAT-7)

def _snapshot(user: Any, snapshot_id: int) -> CatalogSnapshot:
    return get_for(user, Action.VIEW, CatalogSnapshot.objects.select_related("jurisdiction"), pk=snapshot_id)


@router.get("/snapshots", response=list[s.SnapshotOut], summary="Published jurisdiction catalogs (CAT-7)")
def list_snapshots(request: HttpRequest, jurisdiction: str | None = Query(None, max_length=12)) -> Any:
    qs = (restrict(CatalogSnapshot, _user(request), Action.VIEW).select_related("jurisdiction").defer("content")
          .order_by("jurisdiction__code", "-number"))
    return qs.filter(jurisdiction__code=jurisdiction) if jurisdiction else qs


@router.post("/snapshots", response={201: s.SnapshotOut},
             summary="Publish a numbered snapshot of a jurisdiction's catalog (centre, CAT-7)")
def publish_snapshot(request: HttpRequest, payload: s.SnapshotIn) -> Any:
    user = _user(request)
    require(user, Capability.PUBLISH_SNAPSHOT)
    jurisdiction = known(user, Jurisdiction, "jurisdiction", payload.jurisdiction, code=payload.jurisdiction)
    snap = actions.do_publish_snapshot(user, jurisdiction, title=payload.title, note=payload.note)
    return Status(201, snap)


@router.get("/snapshots/{snapshot_id}", response=s.SnapshotDetailOut, summary="A snapshot with its content")
def get_snapshot(request: HttpRequest, snapshot_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> CatalogSnapshot:
    return _snapshot(_user(request), snapshot_id)


@router.get("/snapshots/{snapshot_id}/download", summary="A snapshot's content as a JSON file (sha256 in a header)")
def download_snapshot(request: HttpRequest, snapshot_id: int = Path(..., ge=1, le=MAX_DB_ID)) -> HttpResponse:
    snap = _snapshot(_user(request), snapshot_id)
    body = json.dumps(snap.content, ensure_ascii=False, sort_keys=True)  # the bytes the sha256 was taken of
    response = HttpResponse(body.encode("utf-8"), content_type="application/json; charset=utf-8")
    code = re.sub(r"[^A-Za-z0-9._-]", "_", snap.jurisdiction.code)  # a code is no header syntax
    response["Content-Disposition"] = f'attachment; filename="catalog-{code}-{snap.number}.json"'
    response["X-Content-SHA256"] = snap.sha256
    access_log.note(request, AuditCode.READ_DOWNLOAD, snap, file=f"catalog-{code}-{snap.number}.json")  # SEC-4
    return response
