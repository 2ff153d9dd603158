"""Texts that remember what they mean: a msgid and its parameters, rendered per reader.

One language per screen: a text that outlives the request that wrote it (a notification, a rule's
description shown in several places) is kept as a *node* — JSON that names the message id and its
parameters — and rendered in the reader's language when shown.

* a node is a plain string (taken as is), ``{"msgid": str, "params": {name: node | number}}``,
  ``{"join": [node, …]}`` (concatenation) or ``{"texts": {"zh-hans": str, "en": str}}`` (a text already written
  in each language, e.g. an error rendered when it happened: :func:`texts`);
* :class:`Text` renders in the active language when ``str()``-ed (for screens);
* :class:`Message` is a ``str`` whose value is ``中文 / English`` — what ``notify.bilingual()`` always
  returned, so existing callers that print it keep working — and carries its node too.

Django-free apart from gettext; no model imports (``core.policy`` uses it).
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext

log = logging.getLogger("govshare.messages")

FIRST_LANGUAGE = "zh-hans"
Node = Any


def _msgid(message: Any) -> str:
    """The untranslated message id of a lazy ``_()`` string (a plain string is its own id)."""
    if isinstance(message, Promise):
        with translation.override(None):  # no catalogue active: gettext returns the msgid itself
            return str(message)
    return str(message)


def to_node(value: Any) -> Node:
    """A JSON node for a message part or parameter: lazy strings keep their msgid."""
    if isinstance(value, Message | Text):
        return value.node
    if isinstance(value, Promise):
        return {"msgid": _msgid(value), "params": {}}
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    return str(value)


def render(node: Node, language: str | None = None) -> str:
    """The text of a node in ``language`` (default: the active language)."""
    if language is not None:
        with translation.override(language):
            return render(node)
    if isinstance(node, str):
        return node
    if isinstance(node, int | float):
        return str(node)
    if isinstance(node, dict):
        if "join" in node:
            return "".join(render(part) for part in node["join"])
        if "texts" in node:
            written = node["texts"]
            language = translation.get_language() or FIRST_LANGUAGE
            return str(written.get(FIRST_LANGUAGE if language.startswith("zh") else "en")
                       or written.get(FIRST_LANGUAGE) or "")
        msgid = str(node.get("msgid", ""))
        text_ = gettext(msgid) if msgid else ""
        params = node.get("params") or {}
        if params:
            values = {k: (v if isinstance(v, int | float) else render(v)) for k, v in params.items()}
            try:
                text_ = text_ % values
            except (KeyError, TypeError, ValueError):
                log.warning("message %r does not fit its parameters %r", msgid, sorted(values))
        return text_
    return str(node)


def texts(zh: str, en: str) -> Node:
    """A node of a text already written in each language (shown in the reader's)."""
    return {"texts": {FIRST_LANGUAGE: zh, "en": en}}


def stored(value: Any, limit: int = 300) -> tuple[str, Node | None]:
    """What a row keeps of a message: its text (``中文 / English``, for the console and the log; at most ``limit``
    characters) and its node (None for a plain ``str``, which is kept as it is) — for :func:`shown`."""
    if type(value) is str:
        return value[:limit], None
    node = value if isinstance(value, dict) else to_node(value)
    return bilingual_text(node)[:limit], node


def shown(node: Node | None, text: str, language: str | None = None) -> str:
    """A kept message in ``language`` (None: the active one): its node rendered, else the text kept."""
    return text if node is None else render(node, language)


def bilingual_text(node: Node) -> str:
    zh, en = render(node, FIRST_LANGUAGE), render(node, "en")
    return zh if zh == en else f"{zh} / {en}"


def _node(msgid: Any, params: dict[str, Any]) -> Node:
    return {"msgid": _msgid(msgid), "params": {k: to_node(v) for k, v in params.items()}}


class Text:
    """A text rendered in the active language whenever it is shown (``str``, templates, f-strings)."""

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node

    def render(self, language: str | None = None) -> str:
        return render(self.node, language)

    def __str__(self) -> str:
        return render(self.node)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"Text({self.node!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and other.node == self.node

    def __hash__(self) -> int:
        return hash(repr(self.node))

    def __add__(self, other: Any) -> Text:
        return Text({"join": [self.node, to_node(other)]})

    def __radd__(self, other: Any) -> Text:
        return Text({"join": [to_node(other), self.node]})


class Message(str):
    """A ``str`` of ``中文 / English`` that also remembers its msgid and parameters (``node``).

    ``message + "…"`` and ``"…" + message`` stay messages, so composed bodies keep their meaning."""

    node: Node

    def __new__(cls, node: Node) -> Message:
        obj = super().__new__(cls, bilingual_text(node))
        obj.node = node
        return obj

    def render(self, language: str | None = None) -> str:
        return render(self.node, language)

    def __add__(self, other: Any) -> Message:  # type: ignore[override]
        return Message({"join": [self.node, to_node(other)]})

    def __radd__(self, other: Any) -> Message:
        return Message({"join": [to_node(other), self.node]})

    def __reduce__(self) -> Any:
        return (Message, (self.node,))


def message(msgid: Any, **params: Any) -> Message:
    """A :class:`Message` for a lazy ``_()`` string with %-params."""
    return Message(_node(msgid, params))


def text(msgid: Any, **params: Any) -> Text:
    """A :class:`Text` for a lazy ``_()`` string with %-params."""
    return Text(_node(msgid, params))
