"""The centre's catalog administration pages: the classification tree (CAT-1; read by every
government user) and the search synonym list (CAT-9; centre administrators)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from govshare.catalog import actions
from govshare.catalog.forms import ClassificationEditForm, ClassificationForm, SearchWordForm, SynonymForm
from govshare.catalog.models import CatalogEntry, Classification, SearchWord, Synonym
from govshare.catalog.web.common import apply_errors, catalog_view, form_status, require_government
from govshare.core.errors import GovshareError
from govshare.core.models import Department
from govshare.core.permissions import Action, get_for, has_capability, require, restrict
from govshare.core.roles import Capability
from govshare.core.web.org_views import id_param, require_visible

# ------------------------------------------------------------------ classification tree


@catalog_view
@require_safe
def classification_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_government(user)
    nodes = list(restrict(Classification, user, Action.VIEW).select_related("department").order_by("code"))
    counts = {row["current_version__classification_id"]: row["n"] for row in
              restrict(CatalogEntry, user, Action.VIEW).filter(status=CatalogEntry.Status.PUBLISHED)
              .values("current_version__classification_id").annotate(n=Count("pk")).order_by()}
    for node in nodes:
        node.depth = max(node.level - 1, 0)  # type: ignore[attr-defined]
        node.entries = counts.get(node.pk, 0)  # type: ignore[attr-defined]
    return render(request, "catalog/classification_list.html", {
        "nodes": nodes, "may_manage": has_capability(user, Capability.MANAGE_CLASSIFICATION)})


def _classification_form(user: Any, data: Any = None, initial: dict[str, Any] | None = None) -> ClassificationForm:
    form = ClassificationForm(data, initial=initial)
    form.fields["parent"].queryset = (  # type: ignore[attr-defined]
        restrict(Classification, user, Action.VIEW).filter(is_active=True, level__lt=4).order_by("code"))
    form.fields["department"].queryset = (  # type: ignore[attr-defined]
        restrict(Department, user, Action.VIEW).filter(is_active=True).order_by("code"))
    return form


@catalog_view
@require_http_methods(["GET", "POST"])
def classification_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require(user, Capability.MANAGE_CLASSIFICATION)
    parent_id = id_param(request, "parent")
    form = _classification_form(user, request.POST if request.method == "POST" else None,
                                initial={"parent": parent_id} if parent_id else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            node = actions.do_create_classification(user, code=data["code"], name=data["name"],
                                                    parent=data["parent"], department=data["department"],
                                                    description=data["description"])
        except GovshareError as exc:
            if exc.status == 404:
                raise
            apply_errors(form, exc)
        else:
            messages.success(request, _("Classification %(code)s created.") % {"code": node.code})
            return redirect("catalog:classifications")
    return render(request, "catalog/classification_form.html", {"form": form, "node": None},
                  status=form_status(form))


@catalog_view
@require_http_methods(["GET", "POST"])
def classification_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    node = get_for(user, Action.CHANGE, Classification, pk=pk)
    initial = {"name": node.name, "description": node.description, "is_active": node.is_active}
    form = ClassificationEditForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.do_update_classification(user, node, name=data["name"], description=data["description"],
                                             is_active=data["is_active"])
        except GovshareError as exc:
            if exc.status == 404:
                raise
            apply_errors(form, exc, aliases={"code": "name"})
        else:
            messages.success(request, _("Classification %(code)s saved.") % {"code": node.code})
            return redirect("catalog:classifications")
    return render(request, "catalog/classification_form.html", {"form": form, "node": node},
                  status=form_status(form))


# ------------------------------------------------------------------ synonyms


@catalog_view
@require_safe
def synonym_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    synonyms = require_visible(restrict(Synonym, user, Action.VIEW), user).select_related("updated_by")
    may_manage = has_capability(user, Capability.MANAGE_SYNONYMS)
    return render(request, "catalog/synonym_list.html", {
        "synonyms": list(synonyms.order_by("term")), "may_manage": may_manage})


def _synonym_form(request: HttpRequest, syn: Synonym | None) -> HttpResponse:
    """Add a synonym (``syn`` None) or change the expansions of ``syn``; the term is the key."""
    user: Any = request.user
    form = SynonymForm(request.POST if request.method == "POST" else None,
                       initial={"term": syn.term, "expansions": "、".join(syn.expansions)} if syn else None)
    if syn is not None:
        form.fields["term"].disabled = True  # the term is the key; delete and add to rename it
    if request.method == "POST" and form.is_valid():
        try:
            saved = actions.do_set_synonym(user, syn.term if syn else form.cleaned_data["term"],
                                           form.cleaned_data["expansions"])
        except GovshareError as exc:
            if exc.status == 404:
                raise
            apply_errors(form, exc)
        else:
            messages.success(request, _("Synonym %(term)s saved; searches use it at once.") % {"term": saved.term})
            return redirect("catalog:synonyms")
    return render(request, "catalog/synonym_form.html", {"form": form, "synonym": syn}, status=form_status(form))


@catalog_view
@require_http_methods(["GET", "POST"])
def synonym_create(request: HttpRequest) -> HttpResponse:
    require(request.user, Capability.MANAGE_SYNONYMS)
    return _synonym_form(request, None)


@catalog_view
@require_http_methods(["GET", "POST"])
def synonym_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _synonym_form(request, get_for(request.user, Action.CHANGE, Synonym, pk=pk))


@catalog_view
@require_POST
def synonym_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    syn = get_for(user, Action.CHANGE, Synonym, pk=pk)
    actions.do_delete_synonym(user, syn.term)
    messages.success(request, _("Synonym %(term)s deleted.") % {"term": syn.term})
    return redirect("catalog:synonyms")


# ------------------------------------------------------------------ search word list


@catalog_view
@require_http_methods(["GET", "POST"])
def search_word_list(request: HttpRequest) -> HttpResponse:
    """The words segmentation keeps whole (CAT-9); centre administrators add words here."""
    user: Any = request.user
    words = require_visible(restrict(SearchWord, user, Action.VIEW), user).select_related("updated_by")
    may_manage = has_capability(user, Capability.MANAGE_SYNONYMS)
    form = SearchWordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        require(user, Capability.MANAGE_SYNONYMS)
        if form.is_valid():
            try:
                word = actions.do_set_search_word(user, form.cleaned_data["word"], form.cleaned_data["note"])
            except GovshareError as exc:
                if exc.status == 404:
                    raise
                apply_errors(form, exc)
            else:
                messages.success(request, _("Search word %(word)s saved; the search index is being rebuilt.")
                                 % {"word": word.word})
                return redirect("catalog:search_words")
    return render(request, "catalog/search_word_list.html", {
        "words": list(words.order_by("word")), "may_manage": may_manage, "form": form},
        status=form_status(form) if request.method == "POST" else 200)


@catalog_view
@require_POST
def search_word_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    word = get_for(user, Action.CHANGE, SearchWord, pk=pk)
    actions.do_delete_search_word(user, word.word)
    messages.success(request, _("Search word %(word)s deleted; the search index is being rebuilt.")
                     % {"word": word.word})
    return redirect("catalog:search_words")
