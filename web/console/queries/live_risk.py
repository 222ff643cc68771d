"""The live churn risk as the console shows it (table ``live_risk``).

The conversation loop (:mod:`analytics.loop.live_risk`) rewrites one row per verified
customer on each of their messages: the score, its level, the reasons (each in Chinese and
English) and whether the founder should be alerted. The console shows it beside the
nightly score on the customer's panel and as a column of the inbox; its band is
:func:`analytics.core.vocabulary.risk_band` of the score, the same band as everywhere else.

Lists read it in the same query as their rows (:data:`LIVE_RISK_COLUMNS`, outer-joined on
the customer), never one query per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from analytics.core.vocabulary import LANG_EN, LANG_ZH, risk_band
from analytics.store.models import LiveRisk
from web.console.facts import load_json

KEY_SCORE = "live_risk_score"
KEY_REASONS = "live_risk_reasons"
KEY_ALERT = "live_risk_alert"
KEY_UPDATED_AT = "live_risk_updated_at"
KEY_LEVEL = "live_risk_level"
"""The band of the live score (added to list rows, e.g. for the CSV export)."""
KEY_VIEW = "live_risk"
"""The :class:`LiveRiskView` of a list row (``None`` when the customer has no live risk)."""
REASON_CODE = "code"

LIVE_RISK_COLUMNS = [
    LiveRisk.score.label(KEY_SCORE),
    LiveRisk.reasons.label(KEY_REASONS),
    LiveRisk.alert.label(KEY_ALERT),
    LiveRisk.updated_at.label(KEY_UPDATED_AT),
]
"""Columns to select with ``outerjoin(LiveRisk, LiveRisk.customer_id == <customer id>)``."""


@dataclass(frozen=True)
class LiveReason:
    """One reason behind the live risk, in both languages."""

    code: str
    zh: str
    en: str

    def text(self, lang: str) -> str:
        """The reason in ``lang`` (the other language, then the code, when missing)."""
        first, second = (self.zh, self.en) if lang == LANG_ZH else (self.en, self.zh)
        return first or second or self.code


@dataclass(frozen=True)
class LiveRiskView:
    """A customer's live risk, ready to show."""

    score: float
    band: str
    alert: bool
    updated_at: datetime | None
    reasons: tuple[LiveReason, ...]

    def reason_texts(self, lang: str) -> list[str]:
        """The reasons in ``lang``, strongest first."""
        return [reason.text(lang) for reason in self.reasons]


def _reason(item: Any) -> LiveReason:
    if isinstance(item, dict):
        return LiveReason(
            code=str(item.get(REASON_CODE) or ""),
            zh=str(item.get(LANG_ZH) or ""),
            en=str(item.get(LANG_EN) or ""),
        )
    return LiveReason(code=str(item), zh="", en="")


def live_risk_view(
    score: float | None, reasons: Any, alert: bool | None, updated_at: datetime | None
) -> LiveRiskView | None:
    """The view of stored values (``None`` when there is no score).

    Args:
        score: ``live_risk.score``.
        reasons: ``live_risk.reasons`` (a JSON list of ``{code, contribution, en, zh}``).
        alert: ``live_risk.alert``.
        updated_at: ``live_risk.updated_at``.

    Returns:
        The view, or ``None``.
    """
    if score is None:
        return None
    items = load_json(reasons)
    if not isinstance(items, list):
        items = [] if items is None else [items]
    return LiveRiskView(
        score=float(score),
        band=risk_band(float(score)),
        alert=bool(alert),
        updated_at=updated_at,
        reasons=tuple(_reason(item) for item in items),
    )


def attach_live_risk(row: dict[str, Any]) -> None:
    """Replaces a list row's :data:`LIVE_RISK_COLUMNS` by :data:`KEY_VIEW` and its level."""
    view = live_risk_view(
        row.pop(KEY_SCORE, None),
        row.pop(KEY_REASONS, None),
        row.pop(KEY_ALERT, None),
        row.pop(KEY_UPDATED_AT, None),
    )
    row[KEY_VIEW] = view
    row[KEY_SCORE] = view.score if view else None
    row[KEY_LEVEL] = view.band if view else ""


def attach_live_risks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`attach_live_risk` on every row; returns the rows."""
    for row in rows:
        attach_live_risk(row)
    return rows


def live_risk_of(db: Session, customer_id: int) -> LiveRiskView | None:
    """One customer's live risk (by primary key), or ``None``."""
    row = db.get(LiveRisk, customer_id)
    if row is None:
        return None
    return live_risk_view(row.score, row.reasons, row.alert, row.updated_at)
