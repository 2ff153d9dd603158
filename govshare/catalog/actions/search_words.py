"""The centre's search word list (CAT-9): words segmentation keeps whole (see
:class:`govshare.catalog.search_engine.Dictionary`).  The index is segmented with them, so every
change starts a rebuild of the index (the ``catalog.reindex`` job) after the commit."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from govshare.catalog.actions._common import required_text
from govshare.catalog.models import SearchWord
from govshare.core import audit
from govshare.core.audit_codes import AuditCode
from govshare.core.errors import ValidationFailed
from govshare.core.permissions import require
from govshare.core.roles import Capability

MAX_WORD_CHARS = 40
_WORD = re.compile(r"[\w·]+")


def clean_word(word: str) -> str:
    """A word as segmentation sees it: full-width to half-width, lower case, one word of two
    characters or more, no spaces."""
    text = unicodedata.normalize("NFKC", required_text(word, "word", MAX_WORD_CHARS)).lower()
    if not _WORD.fullmatch(text):
        raise ValidationFailed("invalid_word", _("A search word is one word: letters, digits or Chinese characters, "
                                                 "without spaces or punctuation."), field="word")
    if len(text) < 2:
        raise ValidationFailed("too_short", _("A search word has at least two characters."), field="word")
    return text


def _start_reindex(actor: Any) -> Any:
    from govshare.catalog import search_tasks  # noqa: F401  (registers the job handler)
    from govshare.core import jobs

    return jobs.create_job("catalog.reindex", _("Rebuild the catalog search index"), {},
                           user=actor)


@transaction.atomic
def do_set_search_word(actor: Any, word: str, note: str = "") -> SearchWord:
    """Add a word to the list (or change its note).  A new word rebuilds the search index."""
    require(actor, Capability.MANAGE_SYNONYMS)
    word = clean_word(word)
    note = (note or "").strip()
    if len(note) > 200:
        raise ValidationFailed("too_long", _("At most %(max)s characters."), field="note", max=200)
    existing = SearchWord.objects.select_for_update().filter(word=word).first()
    if existing is not None:
        if existing.note != note:
            audit.record(AuditCode.SEARCH_WORDS_CHANGED, actor=actor, obj=existing,
                         changes={"note": [existing.note, note]})
            existing.note = note
            existing.updated_by = actor
            existing.updated_at = timezone.now()
            existing.save()
        return existing
    created = SearchWord.objects.create(word=word, note=note, updated_by=actor)
    job = _start_reindex(actor)
    audit.record(AuditCode.SEARCH_WORDS_CHANGED, actor=actor, obj=created, changes={"word": [None, word]},
                 detail={"job": str(job.pk)})
    return created


@transaction.atomic
def do_delete_search_word(actor: Any, word: str) -> None:
    """Remove a word from the list; the search index is rebuilt."""
    require(actor, Capability.MANAGE_SYNONYMS)
    key = unicodedata.normalize("NFKC", (word or "").strip()).lower()
    existing = SearchWord.objects.select_for_update().filter(word=key).first()
    if existing is None:
        raise ValidationFailed("unknown_word", _("%(word)s is not in the search word list."), field="word",
                               word=word)
    job = _start_reindex(actor)
    audit.record(AuditCode.SEARCH_WORDS_CHANGED, actor=actor, obj=existing, changes={"word": [existing.word, None]},
                 detail={"job": str(job.pk)})
    existing.delete()
