"""Forms of the catalog web pages (CAT-1 … CAT-10).

The forms only collect and show input: the guide's rules are checked by the actions
(:mod:`govshare.catalog.actions`), whose errors the views attach to the field they name.  That is
why most fields are optional here — an empty required field is reported by the action together
with every other problem, not one at a time by Django.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import (
    ClassKind,
    DataType,
    FormatClass,
    OpenAttribute,
    ShareMethod,
    ShareType,
    UpdateCycle,
)
from govshare.catalog.models import CatalogEntry, Classification, Feedback, Project, UpdateTask
from govshare.catalog.validation import MAX_ITEMS
from govshare.core.models import Department

#: fields the guide requires (marked with * in the entry form; the action enforces them)
ENTRY_REQUIRED = frozenset({"classification", "name", "summary", "format_class", "share_type", "update_cycle"})
ITEM_FIELDS = ("name", "data_type", "length", "description", "is_primary_key", "is_sensitive", "masking_rule")
ITEM_KEY = re.compile(r"^items-(\d{1,4})-(name|data_type|length|description|is_primary_key|is_sensitive|masking_rule)$")
#: blank rows offered under the items table so that the form works without JavaScript
BLANK_ITEM_ROWS = 3


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


def classification_choices(department: Department | None, current: str = "") -> list[tuple[str, str]]:
    """The classifications an entry of ``department`` may use: every active basic and theme node
    below the 类, and the department's own subtree of the department resources (CAT-1)."""
    nodes = list(Classification.objects.filter(is_active=True).order_by("code"))
    own_roots = [n.code for n in nodes if n.kind == ClassKind.DEPARTMENT and department is not None
                 and n.department_id == department.pk]
    choices: list[tuple[str, str]] = [("", "—")]
    for node in nodes:
        if node.level < 2:
            continue
        allowed = node.kind in (ClassKind.BASIC, ClassKind.THEME) or any(
            node.code.startswith(root) for root in own_roots)
        if allowed or node.code == current:
            indent = "\u3000" * (node.level - 2)
            choices.append((node.code, f"{indent}{node.code} {node.name}"))
    return choices


class EntryForm(forms.Form):
    """The guide's fields of one entry; the information items are posted as a table (see
    :func:`parse_items`)."""

    classification = forms.ChoiceField(label=_("classification"), required=False, choices=())
    name = forms.CharField(label=_("resource name"), required=False, max_length=200)
    summary = forms.CharField(label=_("summary"), required=False, widget=_textarea(4), max_length=4000)
    keywords = forms.CharField(label=_("keywords"), required=False, max_length=1000,
                               help_text=_("Separate keywords with 、 or commas."))
    format_class = forms.ChoiceField(label=_("format class"), required=False,
                                     choices=[("", "—"), *FormatClass.choices])
    format = forms.CharField(label=_("format"), required=False, max_length=60,
                             help_text=_("The concrete format, e.g. PostgreSQL, XLSX, PDF, JSON."))
    share_type = forms.ChoiceField(label=_("share type"), required=False, choices=ShareType.choices,
                                   widget=forms.RadioSelect)
    share_condition = forms.CharField(label=_("share condition"), required=False, widget=_textarea(), max_length=2000)
    share_methods = forms.MultipleChoiceField(label=_("share methods"), required=False, choices=ShareMethod.choices,
                                              widget=forms.CheckboxSelectMultiple)
    share_basis = forms.CharField(label=_("legal or policy basis"), required=False, widget=_textarea(),
                                  max_length=2000)
    open_attribute = forms.ChoiceField(label=_("open attribute"), required=False, choices=OpenAttribute.choices,
                                       initial=OpenAttribute.NOT_OPEN)
    open_condition = forms.CharField(label=_("open condition"), required=False, widget=_textarea(), max_length=2000)
    domain = forms.ChoiceField(label=_("open-data domain"), required=False, choices=())
    update_cycle = forms.ChoiceField(label=_("update cycle"), required=False,
                                     choices=[("", "—"), *UpdateCycle.choices])
    update_cycle_note = forms.CharField(label=_("update cycle (other)"), required=False, max_length=100)
    related_codes = forms.CharField(label=_("related resource codes"), required=False, max_length=2000,
                                    help_text=_("Resource codes such as 301/000001, separated by commas."))
    change_reason = forms.CharField(label=_("reason for the change"), required=False, widget=_textarea(),
                                    max_length=2000,
                                    help_text=_("Required when changing a published entry: subscribers and "
                                                "the centre read it."))

    def __init__(self, *args: Any, department: Department | None, domains: tuple[str, ...] = (),
                 editing_published: bool = False, current_classification: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["classification"].choices = classification_choices(  # type: ignore[attr-defined]
            department, current_classification)
        domain_choices = [("", "—"), *((d, d) for d in domains)]
        current_domain = (self.initial or {}).get("domain") or ""
        if current_domain and current_domain not in domains:
            domain_choices.append((current_domain, current_domain))
        self.fields["domain"].choices = domain_choices  # type: ignore[attr-defined]
        if not editing_published:
            del self.fields["change_reason"]

    def content(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """The content dict the actions take (the shape of ``version_content``)."""
        data = self.cleaned_data
        return {
            "classification": data.get("classification") or "",
            "name": data.get("name") or "",
            "summary": data.get("summary") or "",
            "keywords": data.get("keywords") or "",
            "format_class": data.get("format_class") or "",
            "format": data.get("format") or "",
            "share_type": data.get("share_type") or "",
            "share_condition": data.get("share_condition") or "",
            "share_methods": list(data.get("share_methods") or []),
            "share_basis": data.get("share_basis") or "",
            "open_attribute": data.get("open_attribute") or OpenAttribute.NOT_OPEN,
            "open_condition": data.get("open_condition") or "",
            "update_cycle": data.get("update_cycle") or "",
            "update_cycle_note": data.get("update_cycle_note") or "",
            "domain": data.get("domain") or "",
            "related_codes": data.get("related_codes") or "",
            "items": items,
        }


def initial_from_content(content: dict[str, Any]) -> dict[str, Any]:
    """Form initial values from ``version_content``."""
    initial = {k: v for k, v in content.items() if k != "items"}
    initial["keywords"] = "、".join(content.get("keywords") or [])
    initial["related_codes"] = ", ".join(content.get("related_codes") or [])
    return initial


def parse_items(post: QueryDict) -> list[dict[str, Any]]:
    """The information-item rows of the entry form (``items-<n>-<field>``), in row order; rows left
    completely empty are skipped.  Values stay raw: the action checks and reports them per row."""
    rows: dict[int, dict[str, Any]] = {}
    for key in post:
        match = ITEM_KEY.match(key)
        if match is None:
            continue
        index, name = int(match.group(1)), match.group(2)
        if index not in rows and len(rows) >= MAX_ITEMS + BLANK_ITEM_ROWS + 1:
            continue  # the action reports "too many items"; do not collect unbounded input
        rows.setdefault(index, {})[name] = post.get(key, "")
    items: list[dict[str, Any]] = []
    for index in sorted(rows):
        raw = rows[index]
        item = {
            "name": (raw.get("name") or "").strip(),
            "data_type": (raw.get("data_type") or "").strip(),
            "length": (raw.get("length") or "").strip(),
            "description": (raw.get("description") or "").strip(),
            "is_primary_key": bool(raw.get("is_primary_key")),
            "is_sensitive": bool(raw.get("is_sensitive")),
            "masking_rule": (raw.get("masking_rule") or "").strip(),
        }
        if not any([item["name"], item["length"], item["description"], item["masking_rule"],
                    item["is_primary_key"], item["is_sensitive"]]):
            continue  # an untouched row (the data-type select always has a value)
        items.append(item)
    return items


def data_type_choices() -> list[tuple[str, Any]]:
    return [("", "—"), *DataType.choices]


# ------------------------------------------------------------------ small forms of the entry page


class CommentForm(forms.Form):
    comment = forms.CharField(label=_("Review comment"), required=False, widget=_textarea(), max_length=2000,
                              help_text=_("Required when returning the version to the department."))


class WithdrawForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the withdrawal"), required=False, widget=_textarea(),
                             max_length=2000)


class FeedbackForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=Feedback.Kind.choices)
    field_name = forms.CharField(label=_("field or item"), required=False, max_length=100,
                                 help_text=_("Which field or information item the doubt is about (optional)."))
    description = forms.CharField(label=_("description"), required=False, widget=_textarea(), max_length=4000)


class AnswerForm(forms.Form):
    answer = forms.CharField(label=_("answer"), required=False, widget=_textarea(), max_length=4000)


class AttachProjectForm(forms.Form):
    project = forms.ModelChoiceField(label=_("IT project"), queryset=Project.objects.none(), required=False,
                                     help_text=_("Leave empty to take the entry out of its project."))


# ------------------------------------------------------------------ import


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Catalog workbook"), required=False,
                           help_text=_("The filled-in template (.xlsx) or a JSON export of the catalog."))


# ------------------------------------------------------------------ update tasks


class UpdateTaskForm(forms.Form):
    department = forms.ModelChoiceField(label=_("department"), queryset=Department.objects.none(), required=False)
    reason = forms.ChoiceField(label=_("reason"), choices=UpdateTask.Reason.choices)
    title = forms.CharField(label=_("change"), required=False, max_length=200,
                            help_text=_("The law, regulation or change of functions the catalog must follow."))
    change_date = forms.DateField(label=_("date of the change"), required=False,
                                  widget=forms.DateInput(attrs={"type": "date"}))
    description = forms.CharField(label=_("description"), required=False, widget=_textarea(), max_length=4000)


class NoteForm(forms.Form):
    note = forms.CharField(label=_("completion note"), required=False, widget=_textarea(), max_length=2000,
                           help_text=_("What was updated in the catalog."))


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("reason"), required=False, widget=_textarea(), max_length=2000)


# ------------------------------------------------------------------ snapshots, projects


class SnapshotForm(forms.Form):
    title = forms.CharField(label=_("Title"), required=False, max_length=200)
    note = forms.CharField(label=_("Note"), required=False, widget=_textarea(2), max_length=2000)


class ProjectForm(forms.Form):
    name = forms.CharField(label=_("project name"), required=False, max_length=200)
    code = forms.CharField(label=_("project code"), required=False, max_length=40,
                           help_text=_("Letters, digits, '-', '_' and '.'."))
    department = forms.ModelChoiceField(label=_("department"), queryset=Department.objects.none(), required=False)
    description = forms.CharField(label=_("description"), required=False, widget=_textarea(), max_length=4000)


class AttachEntryForm(forms.Form):
    entry = forms.ModelChoiceField(label=_("catalog entry"), queryset=CatalogEntry.objects.none(), required=False)


# ------------------------------------------------------------------ classification tree, synonyms


class ClassificationForm(forms.Form):
    parent = forms.ModelChoiceField(label=_("parent"), queryset=Classification.objects.none(), required=False,
                                    help_text=_("Leave empty only for a new 类 (one digit)."))
    code = forms.CharField(label=_("classification code"), required=False, max_length=16,
                           help_text=_("The parent's code plus 2 digits for a 项, 3 for a 目, 1–6 for a 细目."))
    name = forms.CharField(label=_("name"), required=False, max_length=100)
    department = forms.ModelChoiceField(label=_("department"), queryset=Department.objects.none(), required=False,
                                        help_text=_("Required for a 项 of the department resources (class 3)."))
    description = forms.CharField(label=_("description"), required=False, widget=_textarea(2), max_length=2000)


class ClassificationEditForm(forms.Form):
    name = forms.CharField(label=_("name"), required=False, max_length=100)
    description = forms.CharField(label=_("description"), required=False, widget=_textarea(2), max_length=2000)
    is_active = forms.BooleanField(label=_("active"), required=False)


class SynonymForm(forms.Form):
    term = forms.CharField(label=_("term"), required=False, max_length=40,
                           help_text=_("What people type, e.g. 社保."))
    expansions = forms.CharField(label=_("stands for"), required=False, max_length=500,
                                 help_text=_("The full terms, separated by 、 or commas, e.g. 社会保险."))


class SearchWordForm(forms.Form):
    word = forms.CharField(label=_("word"), required=False, max_length=40,
                           help_text=_("A word search keeps whole, e.g. a place name such as 桃江 or 渡江镇."))
    note = forms.CharField(label=_("note"), required=False, max_length=200)
