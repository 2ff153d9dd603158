"""Forms of the sharing web pages (SHR-1 … SHR-8).

Like the catalog's forms they only collect and show input: the rules are the actions'
(:mod:`govshare.sharing.actions`), whose errors the views attach to the field they name.  That is
why most fields are optional here — an empty required field is reported by the action together
with every other problem, not one at a time by Django.  Choices (purposes, channels, systems,
items) come from the policy profile, the entry and the user's department, passed in by the view.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from govshare.catalog.enums import ShareMethod
from govshare.sharing.models import DataRequest

LETTER_ACCEPT = ".pdf,.png,.jpg,.jpeg"


class SharingForm(forms.Form):
    """A form whose ``required_fields`` are marked with * (the action enforces them)."""

    required_fields: frozenset[str] = frozenset()


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


def _date(**kwargs: Any) -> forms.DateField:
    return forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                           **kwargs)


def _choices(values: Iterable[str], blank: bool = True) -> list[tuple[str, str]]:
    return ([("", "—")] if blank else []) + [(v, v) for v in values]


def channel_choices(methods: Iterable[str] | None) -> list[tuple[str, str]]:
    """The entry's share methods (库表/文件/接口), or all three when the entry names none."""
    labels = dict(ShareMethod.choices)
    wanted = [m for m in (methods or []) if m in labels] or list(labels)
    return [(m, str(labels[m])) for m in wanted]


def _items_field(label: Any = None, required: bool = False) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(label=label or _("information items"), required=required, choices=(),
                                     widget=forms.CheckboxSelectMultiple,
                                     error_messages={"required": _("Choose at least one information item.")})


# ------------------------------------------------------------------ consumer: SHR-1, SHR-2


class SubscribeForm(SharingForm):
    """无条件共享: purpose, items (all by default), channel, optional system and end date."""

    required_fields = frozenset({"purpose", "items", "channel"})

    purpose = forms.ChoiceField(label=_("purpose"), required=False, choices=())
    purpose_detail = forms.CharField(label=_("purpose in detail"), required=False, widget=_textarea(2),
                                     max_length=2000)
    items = _items_field(required=True)
    channel = forms.ChoiceField(label=_("delivery channel"), required=False, choices=())
    system = forms.ChoiceField(label=_("consuming information system"), required=False, choices=(),
                               help_text=_("Optional: limit the grant to one of your registered systems."))
    period_end = _date(label=_("use until"), help_text=_("Optional: the grant expires after this day."))

    def __init__(self, *args: Any, purposes: Iterable[str], items: list[str], methods: Iterable[str] | None,
                 systems: Iterable[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = _choices(purposes)  # type: ignore[attr-defined]
        self.fields["items"].choices = [(i, i) for i in items]  # type: ignore[attr-defined]
        self.fields["items"].initial = list(items)
        channels = channel_choices(methods)
        self.fields["channel"].choices = channels  # type: ignore[attr-defined]
        self.fields["channel"].initial = channels[0][0]
        self.fields["system"].choices = [("", "—"), *((str(pk), name) for pk, name in systems)]  # type: ignore


class ApplicationForm(SharingForm):
    """有条件共享: the application (SHR-2).  ``letter_required`` is False when resubmitting (a new
    letter replaces the old one)."""

    items = _items_field()
    purpose = forms.ChoiceField(label=_("purpose"), required=False, choices=())
    purpose_detail = forms.CharField(label=_("purpose in detail"), required=False, widget=_textarea(3),
                                     max_length=2000)
    system = forms.ChoiceField(label=_("consuming information system"), required=False, choices=())
    period_start = _date(label=_("use from"), help_text=_("Empty: from today."))
    period_end = _date(label=_("use until"))
    channel = forms.ChoiceField(label=_("delivery channel"), required=False, choices=())
    contact_name = forms.CharField(label=_("contact"), required=False, max_length=50)
    contact_phone = forms.CharField(label=_("contact phone"), required=False, max_length=30)
    letter = forms.FileField(label=_("stamped application letter"), required=False, allow_empty_file=True,
                             widget=forms.FileInput(attrs={"accept": LETTER_ACCEPT}),
                             help_text=_("The stamped application letter (加盖公章的申请函): a PDF, PNG or JPEG file."))

    REQUIRED = frozenset({"items", "purpose", "system", "period_end", "channel", "contact_name", "contact_phone",
                          "letter"})

    def __init__(self, *args: Any, purposes: Iterable[str], items: list[str], methods: Iterable[str] | None,
                 systems: Iterable[tuple[int, str]], letter_required: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["items"].choices = [(i, i) for i in items]  # type: ignore[attr-defined]
        self.fields["purpose"].choices = _choices(purposes)  # type: ignore[attr-defined]
        self.fields["system"].choices = [("", "—"), *((str(pk), name) for pk, name in systems)]  # type: ignore
        self.fields["channel"].choices = [("", "—"), *channel_choices(methods)]  # type: ignore[attr-defined]
        self.required_fields = self.REQUIRED if letter_required else self.REQUIRED - {"letter"}
        if not letter_required:
            self.fields["letter"].help_text = _("Optional: a new letter replaces the one on file.")

    def data_for_action(self, letter: tuple[str, bytes] | None) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "items": list(data.get("items") or []),
            "purpose": data.get("purpose") or "",
            "purpose_detail": data.get("purpose_detail") or "",
            "system": data.get("system") or "",
            "period_start": data.get("period_start"),
            "period_end": data.get("period_end"),
            "channel": data.get("channel") or "",
            "contact_name": data.get("contact_name") or "",
            "contact_phone": data.get("contact_phone") or "",
            "letter": letter,
        }


class ReasonForm(SharingForm):
    """One text: a reason, a comment or a note (the action says whether it is required)."""

    reason = forms.CharField(label=_("reason"), required=False, widget=_textarea(2), max_length=2000)

    def __init__(self, *args: Any, label: Any = None, required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if label is not None:
            self.fields["reason"].label = label
        if required:
            self.required_fields = frozenset({"reason"})


class FirstReviewForm(SharingForm):
    comment = forms.CharField(label=_("comment"), required=False, widget=_textarea(2), max_length=2000,
                              help_text=_("Required when returning or rejecting: the applicant reads it."))


# ------------------------------------------------------------------ provider: the answer (SHR-2 stage 2)


class ApproveForm(SharingForm):
    """Approve, possibly narrowing the items (pre-checked: the requested ones), with per-item
    masking (pre-filled from the catalog's masking rules of the sensitive items), expiry, conditions."""

    items = _items_field(_("items granted"))
    expires_on = _date(label=_("valid until"), help_text=_("Empty: the end of the requested period."))
    conditions = forms.CharField(label=_("conditions of use"), required=False, widget=_textarea(2),
                                 max_length=2000)

    def __init__(self, *args: Any, requested: list[str], masking: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requested = list(requested)
        self.fields["items"].choices = [(i, i) for i in requested]  # type: ignore[attr-defined]
        self.fields["items"].initial = list(requested)
        for index, name in enumerate(requested):
            self.fields[f"mask_{index}"] = forms.CharField(
                label=_("masking of %(item)s") % {"item": name}, required=False, max_length=200,
                initial=masking.get(name, ""))

    def mask_field(self, name: str) -> str:
        return f"mask_{self.requested.index(name)}"

    def aliases(self) -> dict[str, str]:
        """The action's ``masking.<item>`` fields are this form's ``mask_<n>``."""
        return {f"masking.{name}": f"mask_{i}" for i, name in enumerate(self.requested)} | {"masking": "items"}

    def masking(self) -> dict[str, str]:
        chosen = set(self.cleaned_data.get("items") or [])
        out = {}
        for index, name in enumerate(self.requested):
            value = (self.cleaned_data.get(f"mask_{index}") or "").strip()
            if name in chosen and value:
                out[name] = value
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One row per requested item for the answer table: checkbox state, masking input."""
        chosen = set(self["items"].value() or [])
        return [{"index": i, "name": name, "checked": name in chosen, "mask": self[f"mask_{i}"]}
                for i, name in enumerate(self.requested)]


class RefuseForm(SharingForm):
    required_fields = frozenset({"basis", "reason"})

    basis = forms.CharField(label=_("legal or policy basis of the refusal"), required=False, widget=_textarea(2),
                            max_length=2000)
    reason = forms.CharField(label=_("reason of the refusal"), required=False, widget=_textarea(3),
                             max_length=2000)


# ------------------------------------------------------------------ coordination (SHR-3)


class CaseOpenForm(SharingForm):
    required_fields = frozenset({"reason", "items", "purpose"})

    reason = forms.CharField(label=_("why the data is needed"), required=False, widget=_textarea(4),
                             max_length=2000)
    items = _items_field()
    purpose = forms.ChoiceField(label=_("purpose"), required=False, choices=())

    def __init__(self, *args: Any, purposes: Iterable[str], items: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["items"].choices = [(i, i) for i in items]  # type: ignore[attr-defined]
        self.fields["purpose"].choices = _choices(purposes)  # type: ignore[attr-defined]


class CaseNoteForm(SharingForm):
    required_fields = frozenset({"text"})

    text = forms.CharField(label=_("statement"), required=False, widget=_textarea(3), max_length=5000)


class SettleForm(SharingForm):
    required_fields = frozenset({"reason"})

    reason = forms.CharField(label=_("outcome and its reason"), required=False, widget=_textarea(3),
                             max_length=2000)
    items = _items_field(_("items granted"))
    expires_on = _date(label=_("valid until"), help_text=_("Required for a grant."))
    channel = forms.ChoiceField(label=_("delivery channel"), required=False, choices=())
    conditions = forms.CharField(label=_("conditions of use"), required=False, widget=_textarea(2),
                                 max_length=2000)

    def __init__(self, *args: Any, items: list[str], chosen: list[str], methods: Iterable[str] | None,
                 channel: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["items"].choices = [(i, i) for i in items]  # type: ignore[attr-defined]
        self.fields["items"].initial = list(chosen)
        self.fields["channel"].choices = [("", "—"), *channel_choices(methods)]  # type: ignore[attr-defined]
        self.fields["channel"].initial = channel


# ------------------------------------------------------------------ data requests (SHR-5, SHR-6)


class DataRequestForm(SharingForm):
    scope = forms.ChoiceField(label=_("scope"), choices=DataRequest.Scope.choices, initial=DataRequest.Scope.LOCAL,
                              widget=forms.RadioSelect)
    title = forms.CharField(label=_("data wanted"), required=False, max_length=200)
    description = forms.CharField(label=_("description"), required=False, widget=_textarea(4), max_length=5000)
    wanted_items = forms.CharField(label=_("information items wanted"), required=False, widget=_textarea(2),
                                   max_length=5000)
    purpose = forms.ChoiceField(label=_("purpose"), required=False, choices=())
    suggested_owner = forms.ChoiceField(label=_("suggested owner"), required=False, choices=(),
                                        help_text=_("Local requests: the department you think holds the data."))
    upper_jurisdiction = forms.ChoiceField(label=_("upper-level platform"), required=False, choices=(),
                                           help_text=_("Upper-level requests only."))
    upper_resource = forms.CharField(label=_("upper-level resource (code or name)"), required=False,
                                     max_length=200, help_text=_("Upper-level requests only."))

    required_fields = frozenset({"scope", "title", "description", "purpose"})

    def __init__(self, *args: Any, purposes: Iterable[str], departments: Iterable[tuple[int, str]],
                 uppers: Iterable[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = _choices(purposes)  # type: ignore[attr-defined]
        self.fields["suggested_owner"].choices = [("", "—"), *((str(pk), n) for pk, n in departments)]  # type: ignore
        self.fields["upper_jurisdiction"].choices = [("", "—"), *((str(pk), n) for pk, n in uppers)]  # type: ignore


class AssignForm(SharingForm):
    required_fields = frozenset({"owner"})

    owner = forms.ChoiceField(label=_("presumed owner"), required=False, choices=())
    note = forms.CharField(label=_("note to the owner"), required=False, widget=_textarea(2), max_length=2000)

    def __init__(self, *args: Any, departments: Iterable[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "—"), *((str(pk), n) for pk, n in departments)]  # type: ignore


class RegisterEntryForm(SharingForm):
    required_fields = frozenset({"entry"})

    entry = forms.ChoiceField(label=_("catalog entry of your department"), required=False, choices=(),
                              help_text=_("Register the entry in the catalog first if it is new."))

    def __init__(self, *args: Any, entries: Iterable[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entry"].choices = [("", "—"), *((str(pk), n) for pk, n in entries)]  # type: ignore


class UpperAnswerForm(SharingForm):
    required_fields = frozenset({"answer"})

    fulfilled = forms.ChoiceField(label=_("upper-level answer"), choices=[
        ("1", _("Provided by the upper level")), ("0", _("Refused by the upper level"))],
        initial="1", widget=forms.RadioSelect)
    answer = forms.CharField(label=_("answer"), required=False, widget=_textarea(3), max_length=2000)
    reference = forms.CharField(label=_("upper-level reference"), required=False, max_length=100)


# ------------------------------------------------------------------ error reports (SHR-8)


class ErrorReportForm(SharingForm):
    required_fields = frozenset({"field", "record_keys", "description"})

    field = forms.ChoiceField(label=_("information item"), required=False, choices=())
    record_keys = forms.CharField(label=_("record keys"), required=False, widget=_textarea(2), max_length=2000,
                                  help_text=_("Which records are wrong, e.g. their primary keys."))
    description = forms.CharField(label=_("what is wrong"), required=False, widget=_textarea(4), max_length=5000)

    def __init__(self, *args: Any, items: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = _choices(items)  # type: ignore[attr-defined]


class ResolveForm(SharingForm):
    required_fields = frozenset({"resolution"})

    outcome = forms.ChoiceField(label=_("outcome"), choices=[
        ("corrected", _("Corrected")), ("not_an_error", _("Checked: the data is right"))],
        initial="corrected", widget=forms.RadioSelect)
    resolution = forms.CharField(label=_("resolution"), required=False, widget=_textarea(3), max_length=2000)


# ------------------------------------------------------------------ systems, digest, high-frequency


class SystemForm(SharingForm):
    required_fields = frozenset({"name", "code"})

    name = forms.CharField(label=_("system name"), required=False, max_length=200)
    code = forms.CharField(label=_("system code"), required=False, max_length=40,
                           help_text=_("Letters, digits, '-', '_' and '.'; unique on the platform."))
    description = forms.CharField(label=_("description"), required=False, max_length=500)


class DigestForm(SharingForm):
    enabled = forms.BooleanField(label=_("Send the department a daily digest e-mail"), required=False)


class NoteForm(SharingForm):
    note = forms.CharField(label=_("note"), required=False, widget=_textarea(2), max_length=2000)
