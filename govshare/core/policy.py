"""Policy profiles: every deadline, notice period, retention and list that differs by jurisdiction.

Profiles are YAML files (shipped in ``govshare/core/policies/``, or a file an operator checks
with ``govshare policy check FILE``).  A profile may ``extends:`` another; each value carries the
article it comes from (``source``).  Loading validates the whole file and names the failing key:

    deadlines.share_provider_answer.amount: must be a positive integer

Code never writes a statutory number as a literal: it asks ``get_profile(name).deadline(key)``.
"""

from __future__ import annotations

import calendar
import copy
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from govshare.core.errors import ValidationFailed
from govshare.core.messages import Text, text

PROFILE_DIR = Path(__file__).resolve().parent / "policies"

#: deadline kinds every complete profile defines (REQUIREMENTS.md, "Deadlines and numbers")
DEADLINE_KEYS = {
    "share_first_review": _("centre's first review of a conditional share request (SHR-2)"),
    "share_provider_answer": _("provider answers a conditional share request (SHR-2)"),
    "open_application_answer": _("answer to a public open-data application (OPN-3)"),
    "catalog_change_notice": _("notice to consumers before changing/withdrawing a catalog entry (CAT-4)"),
    "catalog_update_after_change": _("catalog update after a legal or functional change (CAT-5)"),
    "data_error_correction": _("provider verifies and corrects reported data errors (SHR-8, CAT-10)"),
    "coordination_settlement": _("sharing authority settles a coordination case (SHR-3)"),
    "rectification": _("department rectifies after a notice (SUP-3)"),
}
RETENTION_KEYS = {"audit_log": _("audit-log retention (SEC-4)")}
LIST_KEYS = {
    "open_data_domains": _("open-data domains (OPN-1, CAT-1)"),
    "share_purposes": _("purposes a grant may state (SHR-4)"),
}
UNITS = ("working_days", "calendar_days", "months")
#: what the template profile (seed 000, "XXXX" rule) writes where a real profile cites its article
PLACEHOLDER_MARKS = ("XXXX", "(replace)")
#: a leap year, so that 29 February is a date a yearly report may fall on
_LEAP_YEAR = 2024
TOP_LEVEL = {"name", "title", "extends", "description", "deadlines", "retention", "lists", "reports",
             "reminders"}


class ProfileError(ValidationFailed):
    def __init__(self, key: str, message: Any, **params: Any) -> None:
        super().__init__("invalid_profile", message, where=key, **params)


@dataclass(frozen=True)
class LocalText:
    """A profile's own text (title, description, note) in Chinese and English, shown in the reader's
    language (one language per screen, issue 8).  The YAML writes either one string (the same in
    every language: a name, a quotation of the rule) or ``{zh: …, en: …}``."""

    zh: str
    en: str = ""

    def render(self, language: str | None = None) -> str:
        chosen = language or translation.get_language() or "zh-hans"
        if chosen.startswith("en") and self.en:
            return self.en
        return self.zh or self.en

    def __str__(self) -> str:
        return self.render()

    def __bool__(self) -> bool:
        return bool(self.zh or self.en)


NO_TEXT = LocalText("")


@dataclass(frozen=True)
class Period:
    """An amount of time from a rule, with the article it comes from."""

    key: str
    amount: int
    unit: str
    source: str
    note: LocalText = NO_TEXT

    def length(self) -> Text:
        """"2 working days" / "2 个工作日" — in the reader's language when shown."""
        one = self.amount == 1
        msgid = {
            "working_days": _("%(amount)d working day") if one else _("%(amount)d working days"),
            "calendar_days": _("%(amount)d day") if one else _("%(amount)d days"),
            "months": _("%(amount)d month") if one else _("%(amount)d months"),
        }[self.unit]
        return text(msgid, amount=self.amount)

    def describe(self) -> Text:
        """The length and the article it comes from, in the reader's language when shown (one
        language per screen; a notification stores it as msgid + params)."""
        return text(_("%(length)s (%(source)s)"), length=self.length(), source=self.source)


@dataclass(frozen=True)
class YearlyDate:
    key: str
    month: int
    day: int | str  # a day number or "last"
    source: str


@dataclass(frozen=True)
class Profile:
    name: str
    title: LocalText
    description: LocalText
    extends: str | None
    deadlines: dict[str, Period]
    retention: dict[str, Period]
    lists: dict[str, tuple[str, ...]]
    list_sources: dict[str, str]
    reports: dict[str, YearlyDate]
    reminders: dict[str, int] = field(default_factory=dict)

    def deadline(self, key: str) -> Period:
        try:
            return self.deadlines[key]
        except KeyError:
            raise ProfileError(f"deadlines.{key}", _("The profile %(profile)s does not define this deadline."),
                               profile=self.name) from None

    def list(self, key: str) -> tuple[str, ...]:
        try:
            return self.lists[key]
        except KeyError:
            raise ProfileError(f"lists.{key}", _("The profile %(profile)s does not define this list."),
                               profile=self.name) from None

    def sources(self) -> tuple[str, ...]:
        """The article every value cites."""
        return (*(p.source for p in self.deadlines.values()), *(p.source for p in self.retention.values()),
                *self.list_sources.values(), *(d.source for d in self.reports.values()))

    @property
    def is_placeholder(self) -> bool:
        """A starting point (the ``template`` profile, or a copy not yet filled in) whose values cite
        no real article: it may be shown and copied, never assigned to a jurisdiction."""
        return any(mark in source for source in self.sources() for mark in PLACEHOLDER_MARKS)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": str(self.title),
            "description": str(self.description),
            "extends": self.extends,
            "deadlines": {k: {"amount": v.amount, "unit": v.unit, "source": v.source, "note": str(v.note)}
                          for k, v in self.deadlines.items()},
            "retention": {k: {"amount": v.amount, "unit": v.unit, "source": v.source, "note": str(v.note)}
                          for k, v in self.retention.items()},
            "lists": {k: {"values": list(v), "source": self.list_sources.get(k, "")} for k, v in self.lists.items()},
            "reports": {k: {"month": v.month, "day": v.day, "source": v.source} for k, v in self.reports.items()},
            "reminders": dict(self.reminders),
            "is_placeholder": self.is_placeholder,
        }


# ------------------------------------------------------------------ loading and validation

class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, mark: Any) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key
        self.mark = mark


class _StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load`` keeps the last of two equal keys without a word; a profile that says
    ``title:`` twice (or a deadline twice) is refused, naming the key and its line."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *base" merges are meant to be overridden
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base constructor names that problem
                continue
            if duplicate:
                raise _DuplicateKey(key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(str(path), _("File not found.")) from None
    except UnicodeDecodeError:
        raise ProfileError(str(path), _("The file is not UTF-8 text.")) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as exc:
        raise ProfileError(f"{path.name}:{exc.mark.line + 1}:{exc.mark.column + 1}",
                           _("The key %(name)s appears twice in the same section."), name=exc.key) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        raise ProfileError(where, _("Not valid YAML: %(problem)s"),
                           problem=getattr(exc, "problem", None) or str(exc)) from None
    if not isinstance(data, dict):
        raise ProfileError(path.name, _("A profile must be a mapping of keys to values."))
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Sections merge key by key; an entry (one deadline, one list) is replaced whole, so an
    overriding value never inherits the parent's ``source``."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **copy.deepcopy(value)}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _positive_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ProfileError(key, _("must be a positive integer, got %(value)r."), value=value)
    return value


def _source(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(key, _("every value must cite its source article (e.g. \"LN-§15\")."))
    return value.strip()


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProfileError(key, _("must be a mapping."))
    return value


def _local_text(value: Any, key: str) -> LocalText:
    """One string, or ``{zh: …, en: …}`` (both required: each language renders alone)."""
    if value is None or value == "":
        return NO_TEXT
    if isinstance(value, str):
        return LocalText(value.strip(), value.strip())
    value = _mapping(value, key)
    unknown = set(value) - {"zh", "en"}
    if unknown:
        raise ProfileError(f"{key}.{sorted(unknown)[0]}", _("unknown key (allowed: %(allowed)s)."), allowed="en, zh")
    for language in ("zh", "en"):
        if not isinstance(value.get(language), str) or not value[language].strip():
            raise ProfileError(f"{key}.{language}", _("must be a non-empty text."))
    return LocalText(value["zh"].strip(), value["en"].strip())


def _period(key: str, raw: Any) -> Period:
    raw = _mapping(raw, key)
    unknown = set(raw) - {"amount", "unit", "source", "note"}
    if unknown:
        raise ProfileError(f"{key}.{sorted(unknown)[0]}", _("unknown key."))
    amount = _positive_int(raw.get("amount"), f"{key}.amount")
    unit = raw.get("unit")
    if unit not in UNITS:
        raise ProfileError(f"{key}.unit", _("must be one of %(units)s, got %(value)r."),
                           units=", ".join(UNITS), value=unit)
    return Period(key.split(".")[-1], amount, unit, _source(raw.get("source"), f"{key}.source"),
                  _local_text(raw.get("note"), f"{key}.note"))


def parse_profile(data: dict[str, Any], name: str, *, require_complete: bool = True) -> Profile:
    unknown = set(data) - TOP_LEVEL
    if unknown:
        raise ProfileError(sorted(unknown)[0], _("unknown key (allowed: %(allowed)s)."),
                           allowed=", ".join(sorted(TOP_LEVEL)))
    deadlines = {k: _period(f"deadlines.{k}", v) for k, v in _mapping(data.get("deadlines", {}), "deadlines").items()}
    retention = {k: _period(f"retention.{k}", v) for k, v in _mapping(data.get("retention", {}), "retention").items()}
    for key in deadlines:
        if key not in DEADLINE_KEYS:
            raise ProfileError(f"deadlines.{key}", _("unknown deadline (known: %(known)s)."),
                               known=", ".join(sorted(DEADLINE_KEYS)))
    for key in retention:
        if key not in RETENTION_KEYS:
            raise ProfileError(f"retention.{key}", _("unknown retention (known: %(known)s)."),
                               known=", ".join(sorted(RETENTION_KEYS)))
    lists: dict[str, tuple[str, ...]] = {}
    list_sources: dict[str, str] = {}
    for key, raw in _mapping(data.get("lists", {}), "lists").items():
        where = f"lists.{key}"
        if key not in LIST_KEYS:
            raise ProfileError(where, _("unknown list (known: %(known)s)."), known=", ".join(sorted(LIST_KEYS)))
        raw = _mapping(raw, where)
        values = raw.get("values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise ProfileError(f"{where}.values", _("must be a non-empty list of names."))
        if len(set(values)) != len(values):
            dup = next(v for v in values if values.count(v) > 1)
            raise ProfileError(f"{where}.values", _("%(value)s is listed twice."), value=dup)
        lists[key] = tuple(v.strip() for v in values)
        list_sources[key] = _source(raw.get("source"), f"{where}.source")
    reports: dict[str, YearlyDate] = {}
    for key, raw in _mapping(data.get("reports", {}), "reports").items():
        where = f"reports.{key}"
        raw = _mapping(raw, where)
        month = raw.get("month")
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            raise ProfileError(f"{where}.month", _("must be a month number 1-12, got %(value)r."), value=month)
        day = raw.get("day")
        if day != "last" and (isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 31):
            raise ProfileError(f"{where}.day", _("must be a day number 1-31 or \"last\", got %(value)r."),
                               value=day)
        if day != "last" and day > calendar.monthrange(_LEAP_YEAR, month)[1]:
            raise ProfileError(f"{where}.day", _("there is no day %(day)d in month %(month)d."), day=day,
                               month=month)
        reports[key] = YearlyDate(key, month, day, _source(raw.get("source"), f"{where}.source"))
    reminders = {}
    for key, raw in _mapping(data.get("reminders", {}), "reminders").items():
        reminders[key] = _positive_int(raw, f"reminders.{key}")
    profile = Profile(
        name=str(data.get("name") or name),
        title=_local_text(data.get("title"), "title") or LocalText(name, name),
        description=_local_text(data.get("description"), "description"),
        extends=data.get("extends"),
        deadlines=deadlines,
        retention=retention,
        lists=lists,
        list_sources=list_sources,
        reports=reports,
        reminders=reminders,
    )
    if require_complete:
        for group, keys, have in (("deadlines", DEADLINE_KEYS, deadlines), ("retention", RETENTION_KEYS, retention),
                                  ("lists", LIST_KEYS, lists)):
            for key in keys:
                if key not in have:
                    raise ProfileError(f"{group}.{key}", _("missing (required in every profile: %(what)s)."),
                                       what=keys[key])
        floor = _retention_floor()
        audit_months = _as_months(retention["audit_log"])
        if floor is not None and audit_months < floor:
            raise ProfileError("retention.audit_log.amount",
                               _("must keep audit logs at least %(floor)d months (SEC-4)."), floor=floor)
    return profile


def _as_months(period: Period) -> float:
    if period.unit == "months":
        return period.amount
    return period.amount / 30.0


def _retention_floor() -> int | None:
    """The platform-wide floor for audit retention is the national baseline profile's value."""
    path = PROFILE_DIR / "national.yaml"
    if not path.exists():
        return None
    raw = _read_yaml(path).get("retention", {}).get("audit_log", {})
    amount = raw.get("amount")
    return amount if raw.get("unit") == "months" and isinstance(amount, int) else None


def _resolve(data: dict[str, Any], name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    parent = data.get("extends")
    if not parent:
        return data
    if not isinstance(parent, str):
        raise ProfileError("extends", _("must be the name of another profile."))
    if parent in seen:
        raise ProfileError("extends", _("profiles extend each other in a loop: %(chain)s."),
                           chain=" → ".join((*seen, parent)))
    base = _resolve(_read_yaml(_path_of(parent)), parent, (*seen, parent))
    own = {k: v for k, v in data.items() if k != "extends"}
    merged = _merge({k: v for k, v in base.items() if k not in {"name", "title", "description", "extends"}}, own)
    merged["extends"] = parent
    return merged


def _path_of(name: str) -> Path:
    if not name or any(ch in name for ch in "/\\.") or name.startswith("-"):
        raise ProfileError("name", _("%(name)r is not a valid profile name."), name=name)
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        raise ValidationFailed("unknown_profile", _("There is no policy profile named %(name)s (known: %(known)s)."),
                               name=name, known=", ".join(available_profiles()), field="policy_profile")
    return path


def load_file(path: Path | str) -> Profile:
    """Load and validate a profile file (used by ``govshare policy check FILE``)."""
    path = Path(path)
    data = _read_yaml(path)
    name = str(data.get("name") or path.stem)
    try:
        return parse_profile(_resolve(data, name, (name,)), name)
    except ProfileError as exc:
        exc.where = f"{path.name}: {exc.where}"
        raise


@lru_cache(maxsize=32)
def get_profile(name: str) -> Profile:
    return load_file(_path_of(name))


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def require_assignable(name: str) -> Profile:
    """The profile a jurisdiction may be governed by: it exists, is valid, and cites real articles
    (not the placeholders of the ``template`` profile).  Raises ValidationFailed on ``policy_profile``."""
    profile = get_profile(name)
    if profile.is_placeholder:
        raise ValidationFailed(
            "placeholder_profile",
            _("The policy profile %(name)s is a template whose sources are placeholders (XXXX, \"(replace)\"): "
              "copy it, cite the local rule's articles, and assign the copy."),
            name=name, field="policy_profile")
    return profile


def assignable_profiles() -> list[str]:
    """Names a jurisdiction may be given (choices of the jurisdiction form)."""
    names = []
    for name in available_profiles():
        try:
            require_assignable(name)
        except ValidationFailed:
            continue
        names.append(name)
    return names


def profile_for_jurisdiction(jurisdiction: Any) -> Profile:
    from django.conf import settings

    name = getattr(jurisdiction, "policy_profile", None) or settings.GOVSHARE_DEFAULT_PROFILE
    return get_profile(name)


def platform_profile() -> Profile:
    from django.conf import settings

    return get_profile(settings.GOVSHARE_DEFAULT_PROFILE)
