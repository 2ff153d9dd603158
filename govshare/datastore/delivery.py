"""What every delivery channel does before a row leaves the centre (issue 11; SHR-4, SEC-3, SEC-4).

1. :func:`authorise` — the one access check (:func:`govshare.sharing.access.check_access`, recorded when it
   refuses) for the items asked, the purpose and the channel; the decision names the grant and its masking.
2. :func:`masks_for` — the grant's masking rules parsed by the one masking library
   (:mod:`govshare.core.masking`), with the grant's own pseudonym key.  A rule that does not parse refuses the
   delivery (fail closed): the item would otherwise leave unmasked.
3. Rows are read from the centre (:mod:`govshare.datastore.engine.reader`) and masked by
   :func:`govshare.core.masking.mask_row` on the way out; filters and sorts never touch a masked item (they
   would reveal what the mask hides).

Paging cursors are sealed (:func:`sign_cursor`: encrypted and authenticated, they hold key values): bound to the
entry, the grant and the query, so a cursor changed by hand, or used with another query, is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cryptography.fernet import InvalidToken
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.models import CatalogEntry
from govshare.catalog.refs import get_published_entry
from govshare.core import crypto, masking, stamps
from govshare.core.errors import Forbidden, GovshareError, ValidationFailed
from govshare.core.messages import Text
from govshare.datastore.engine import reader, typed
from govshare.sharing.access import Decision, check_access
from govshare.sharing.models import Grant

CURSOR_SALT = "govshare.datastore.cursor.v1"


class AccessRefused(Forbidden):
    """The access check said no: the reasons, in the reader's language, say what to do."""


class NoData(GovshareError):
    status = 404


@dataclass
class Delivery:
    """An allowed delivery: the decision, the items in order with their masks (None: unmasked)."""

    entry: CatalogEntry
    decision: Decision
    items: list[str]
    masks: list[masking.Mask | None]
    key: bytes | None  # the grant's pseudonym key
    catalog: dict[str, str] | None = None  # catalog_masking(entry), read once (None: not read yet)
    _masker: Callable[[Sequence[Any]], list[Any]] | None = field(default=None, repr=False, compare=False)
    _column_masker: Callable[[list[Sequence[Any]]], list[Sequence[Any]]] | None = field(
        default=None, repr=False, compare=False)

    @property
    def canonical_masks(self) -> dict[str, str]:
        """Every item's mask in its structured form (what a file was built with)."""
        return {name: (mask.canonical() if mask is not None else "none")
                for name, mask in zip(self.items, self.masks, strict=True)}

    @property
    def masked(self) -> dict[str, str]:
        return {name: mask.canonical() for name, mask in zip(self.items, self.masks, strict=True)
                if mask is not None and mask.hides_value}

    @property
    def filterable(self) -> list[str]:
        """The items a query may filter on: every item the grant covers (returned or not; the provider: every
        item of its entry) — filters on masked ones are refused (:attr:`masked_anywhere`)."""
        grant = self.decision.grant
        if grant is None:
            assert self.entry.current_version is not None
            return [item.name for item in self.entry.current_version.items.all()]
        return [name for name in grant.items if isinstance(name, str)]

    @property
    def masked_anywhere(self) -> dict[str, str]:
        """The grant's masking rules of every item it covers (a filter or sort on one would reveal what it hides)."""
        grant = self.decision.grant
        if grant is None:
            return {}
        rules = {name: str(rule) for name, rule in (grant.masking or {}).items() if rule and _hides(str(rule))}
        if self.catalog is None:
            self.catalog = catalog_masking(self.entry)
        for name, rule in self.catalog.items():  # as masks_for applies them
            rules.setdefault(name, rule)
        return rules

    def mask(self, row: tuple[Any, ...]) -> list[Any]:
        """The row as it may leave: each masked cell by its mask; a cell its mask cannot handle (a date rule on a
        text that is not a date) leaves as nothing — never as it is (fail closed)."""
        if self._masker is None:
            self._masker = masking.row_masker(self.masks, key=self.key, fail_closed=True)
        return self._masker(row)

    def mask_columns(self, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        """A page of rows as it may leave, column by column (``[i]``: the values of ``items[i]``), masked as
        :meth:`mask` masks each row — one pass per masked column, for the channels that write many rows."""
        if self._column_masker is None:
            self._column_masker = masking.column_masker(self.masks, key=self.key, fail_closed=True)
        return self._column_masker(masking.columns_of(rows, len(self.items)))


def authorise(entry: CatalogEntry, *, user: Any = None, system: Any = None, purpose: str, items: list[str] | None,
              channel: str, grant: Any = None, today: dt.date | None = None) -> Delivery:
    """The delivery of ``items`` (None: every item of the consumer's grant; the provider: of its entry) to ``user``
    or ``system``, or :class:`AccessRefused` with the access check's reasons (the refusal is in the audit log)."""
    if items is None:
        items = default_items(entry, user=user, system=system, purpose=purpose, channel=channel, today=today)
    decision = check_access(entry=entry, purpose=purpose, items=items, user=user, system=system, channel=channel,
                            record=True, grant=grant, today=today)
    if not decision.allowed:
        # the reasons rendered in the language each reader asks for (message, message_zh, message_en)
        raise AccessRefused("access_denied", _("No access: %(reasons)s"), reasons=Text(decision.explain().node))
    catalog = catalog_masking(entry) if decision.grant is not None else {}
    return Delivery(entry, decision, list(decision.items), *masks_for(decision, entry, catalog=catalog),
                    catalog=catalog)


#: a consuming system's allowed deliveries, kept while the access stamp stays the same (any write to the entry, its
#: versions and items, grants, systems, keys or departments changes it): (entry ref, system, purpose, items asked,
#: channel, today) → (entry, delivery).  Refusals are never kept: each is checked and audited again.
_SYSTEM_DELIVERIES = stamps.StampedCache(size=2048)
#: published entries by the reference a system's call names them by, kept likewise
_PUBLISHED = stamps.StampedCache(size=2048)


def published_entry(ref: str, stamp: Any) -> CatalogEntry:
    """:func:`get_published_entry` for a consuming system's call, kept under the access stamp ``stamp`` (as the
    request read it first); a reference that names nothing is never kept (404 each time)."""
    kept = _PUBLISHED.get(ref, stamp)
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    entry = get_published_entry(ref)
    _PUBLISHED.put(ref, stamp, entry)
    return entry


def authorise_system(ref: str, system: Any, *, purpose: str, items: list[str] | None, channel: str,
                     stamp: Any) -> tuple[CatalogEntry, Delivery]:
    """The published entry named ``ref`` and :func:`authorise`'s delivery of it to ``system`` — answered from what
    this process kept when nothing they depend on was written since.  ``stamp``: the access stamp as the request
    read it *first*, before its key and system were found (:func:`govshare.sharing.auth.access_stamp_of`): the
    system object and this answer are kept under that one value, so a change committed meanwhile is never kept
    under the earlier value.  The day is part of the question (a grant's first and last days count from
    midnight), and the check is asked for that same day."""
    today = timezone.localdate()
    asked = (ref, system.pk, system.department_id, purpose, tuple(items) if items is not None else None, channel,
             today)
    kept = _SYSTEM_DELIVERIES.get(asked, stamp)
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    entry = published_entry(ref, stamp)
    granted = authorise(entry, system=system, purpose=purpose, items=items, channel=channel, today=today)
    _SYSTEM_DELIVERIES.put(asked, stamp, (entry, granted))
    return entry, granted


def default_items(entry: CatalogEntry, *, user: Any = None, system: Any = None, purpose: str,
                  channel: str, today: dt.date | None = None) -> list[str] | None:
    """The items a consumer gets when it names none: those of its newest usable grant for this purpose and
    channel (a system: a grant for it or for no system in particular; a user: any, and a grant for a system
    only is refused by the access check with that reason; None — every item — for the provider's own data, or
    when there is no such grant: the access check then says why)."""
    department = getattr(system if system is not None else user, "department_id", None)
    if department is None or department == entry.provider_id:
        return None
    grants = Grant.objects.usable(today).filter(entry=entry, consumer_id=department, purpose=purpose, channel=channel)
    if system is not None:
        grants = grants.filter(Q(system__isnull=True) | Q(system=system))
    grant = grants.order_by("-granted_at", "-id").only("items").first()
    return granted_items(entry, grant) if grant is not None and grant.items else None


def granted_items(entry: CatalogEntry, grant: Any) -> list[str]:
    """The grant's items that the entry's current version still has — what a consumer gets when it names none, and
    what a delivery into its table carries (an item the provider's new version dropped is no longer delivered; the
    rest go on — review of the 21st session: every default call was refused ``unknown_items``).  All of them when
    none remains, so that the access check names them."""
    listed = [name for name in grant.items or [] if isinstance(name, str)]
    version = entry.current_version
    if version is None:
        return listed
    present = set(version.items.values_list("name", flat=True))
    kept = [name for name in listed if name in present]
    return kept or listed


def catalog_masking(entry: CatalogEntry) -> dict[str, str]:
    """The masking rules of the entry's sensitive items as the catalog has them now."""
    version = entry.current_version
    if version is None:
        return {}
    return {name: rule for name, rule in version.items.filter(is_sensitive=True).values_list("name", "masking_rule")
            if rule}


def masks_for(decision: Decision, entry: CatalogEntry | None = None, *,
              catalog: dict[str, str] | None = None) -> tuple[list[masking.Mask | None], bytes | None]:
    """The masks of the decision's items: the grant's rules — and, given ``entry``, the catalog's current rule for a
    sensitive item the grant leaves unmasked (an item that became sensitive after the grant, a grant rule that
    hides nothing: review M3).  The provider's own data is not masked.  ``catalog``: those rules, already read."""
    masks: list[masking.Mask | None] = []
    if catalog is None:
        catalog = catalog_masking(entry) if entry is not None and decision.grant is not None else {}
    for name in decision.items:
        rule = decision.masking.get(name)
        if name in catalog and (not rule or not _hides(rule)):
            rule = catalog[name]
        if not rule:
            masks.append(None)
            continue
        try:
            masks.append(masking.parse(rule))
        except masking.MaskRuleError:
            raise AccessRefused("masking_rule_unusable",
                                _("The masking rule of %(item)s (%(rule)s) cannot be applied, so the item is not "
                                  "delivered; ask the provider to correct the grant's masking."),
                                item=name, rule=rule) from None
    key = None
    if decision.grant is not None and any(m is not None and m.kind == "pseudonym" for m in masks):
        key = masking.grant_key(crypto.pseudonym_secret(), str(decision.grant.number or decision.grant.pk))
    return masks, key


def _hides(rule: str) -> bool:
    try:
        return masking.parse(rule).hides_value
    except masking.MaskRuleError:
        return True  # refused below with its reason


# -- values on the way out -----------------------------------------------------------------------------------

def jsonable(value: Any) -> Any:
    """A centre value for JSON: decimals as text (no precision lost), dates and times ISO, bytes base64."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


#: item letters whose values are JSON as the centre gives them (text, integers, booleans, floats)
_JSON_NATIVE = frozenset("CMLIBF")


def json_rows(granted: Delivery, letters: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """A page of centre rows as the data API's JSON rows (item → value): masked column by column
    (:meth:`Delivery.mask_columns`, the same values as :meth:`Delivery.mask` row by row), and only the columns that
    need it made JSON (:func:`jsonable`: decimals, dates, times, bytes — and every masked column, whatever its
    mask made of it).  ``letters``: each item's type letter."""
    columns = granted.mask_columns(rows)
    for i, (mask, letter) in enumerate(zip(granted.masks, letters, strict=True)):
        if mask is not None or letter not in _JSON_NATIVE:
            columns[i] = [jsonable(value) for value in columns[i]]
    items = granted.items
    return [dict(zip(items, values, strict=True)) for values in zip(*columns, strict=True)]


def exact_cells(row: list[Any]) -> list[Any]:
    """A masked row for a CSV file or page: date-times written in full (``2024-05-01 08:00:00.123456``) — the
    platform's export helper writes them to the second, right for its own lists but not for data."""
    return [value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value for value in row]


def tag(value: Any) -> Any:
    """A centre value as typed JSON (cursors, download filters and checkpoints): :mod:`…engine.typed`'s form."""
    return typed.encode([value])[0]


def untag(value: Any) -> Any:
    """The value :func:`tag` made JSON of."""
    return typed.decode([value])[0]


def query_fingerprint(entry: CatalogEntry, decision: Decision, query: reader.RowQuery) -> str:
    """What a cursor is bound to: the entry, the grant, the items, filters and sort."""
    grant = decision.grant.pk if decision.grant is not None else 0
    shape = [entry.pk, grant, list(query.items), [[f.item, f.op, [tag(v) for v in f.values]]
                                                   for f in query.filters], [list(s) for s in query.sort]]
    return hashlib.sha256(json.dumps(shape, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:24]


def sign_cursor(fingerprint: str, after: list[Any]) -> str:
    """The next page's cursor: sealed (encrypted and authenticated), since it holds the last row's sort and key
    values — a masked key's real value among them, which the consumer must not read."""
    body = json.dumps({"q": fingerprint, "a": [tag(v) for v in after]}, ensure_ascii=False).encode("utf-8")
    return crypto.seal(zlib.compress(body), CURSOR_SALT)


def read_cursor(fingerprint: str, text: str) -> list[Any]:
    """The position a cursor holds, if it was made by this platform for this very query."""
    try:
        found = json.loads(zlib.decompress(crypto.unseal(text, CURSOR_SALT)).decode("utf-8"))
        if not isinstance(found, dict) or found.get("q") != fingerprint:
            raise ValueError
        return [untag(v) for v in found["a"]]
    except (InvalidToken, zlib.error, UnicodeError, ValueError, KeyError, TypeError, IndexError):
        raise ValidationFailed("bad_cursor", _("The page cursor is not valid for this query (changed, or made for "
                                               "other filters): start again from the first page."),
                               field="cursor") from None
