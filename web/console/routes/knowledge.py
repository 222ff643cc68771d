"""Console routes of the knowledge page: the founder's FAQ files, edited in place.

The page lists every topic file of ``KNOWLEDGE_DIR`` and its passages (titles, which
languages each has, how often it answered a customer), and the customer questions recorded
in ``knowledge_answers`` with the passage that answered them or the refusal. Forms add, edit
and delete passages and topic files; every write goes through
:mod:`analytics.store.knowledge_files` (validated by the one parser, confined to the folder,
atomic, refused when the file changed since the form was loaded). A refused edit shows the
form again with the founder's text and the reason.

POST bodies are read here, at most :data:`MAX_FORM_BYTES`, and decoded strictly: invalid
UTF-8 (which is also how a lone surrogate arrives) is refused with 400, not replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from analytics.core.settings import get_settings
from analytics.store import knowledge_files as kf
from analytics.store.knowledge_files import KnowledgeEditError, PassageDraft, TopicDraft
from web.console.deps import DB, PREFIX, Csrf, User, back, render
from web.console.i18n import t
from web.console.queries import knowledge as queries

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console

HERE = f"{PREFIX}/knowledge"
MAX_FORM_BYTES = 512 * 1024
MAX_FIELDS = 20
FORM_TYPE = "application/x-www-form-urlencoded"
TOO_LARGE = f"表单太大（上限 {MAX_FORM_BYTES} 字节）。 / The form is too large (limit {MAX_FORM_BYTES} bytes)."
NOT_UTF8 = "表单不是有效的 UTF-8 文本。 / The form is not valid UTF-8 text."
TOO_MANY_FIELDS = "表单字段太多。 / The form has too many fields."
NOT_FORM = "只接受普通表单提交。 / Only a plain form submission is accepted."
STATUS = {"stale": 409, "not_found": 404}
FIELDS = ("id", "title_zh", "title_en", "text_zh", "text_en")


def _folder() -> Path:
    return get_settings().knowledge_dir


async def form_body(request: Request, user: User) -> bytes:
    """The POST body, at most :data:`MAX_FORM_BYTES` (else 413), read after the session check.

    It is kept on the request so that the CSRF check that follows reads the same body.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise HTTPException(status_code=413, detail=TOO_LARGE)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise HTTPException(status_code=413, detail=TOO_LARGE)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's own cache of the body, read again by request.form()
    return body


Body = Annotated[bytes, Depends(form_body)]


def parse_form(request: Request, body: bytes) -> dict[str, str]:
    """The form's fields (first value of each), decoded strictly.

    Raises:
        HTTPException: 415 for anything but a URL-encoded form, 400 for invalid UTF-8 or
            too many fields.
    """
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        raise HTTPException(status_code=415, detail=NOT_FORM)
    try:
        fields = parse_qs(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError as exc:
        raise HTTPException(status_code=400, detail=NOT_UTF8) from exc
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=TOO_MANY_FIELDS) from exc
    return {key: values[0] for key, values in fields.items()}


def _error_text(lang: str, error: KnowledgeEditError, *, deleting: bool = False) -> str:
    key = "kb_err_stale_delete" if deleting and error.code == "stale" else f"kb_err_{error.code}"
    return " ".join(x for x in (t(lang, key), error.detail) if x)


def _topic_or_404(topic: str) -> kf.TopicFile:
    try:
        return kf.read_topic(_folder(), topic)
    except KnowledgeEditError as exc:
        raise HTTPException(status_code=404, detail=t("en", "kb_err_not_found")) from exc


# --- pages ------------------------------------------------------------------------------------


@router.get("/knowledge", response_class=HTMLResponse)
def knowledge_page(
    request: Request, user: User, db: DB, passage: str = "", refused: bool = False
) -> HTMLResponse:
    """Every topic and passage, and the questions answered from them (or refused)."""
    folder = _folder()
    topics = kf.read_topics(folder)
    passage_id = passage if kf.NAME.fullmatch(passage or "") else None
    return render(
        request,
        "knowledge.html",
        user,
        nav="knowledge",
        folder=folder.name,
        topics=topics,
        passage_count=sum(len(topic.passages) for topic in topics),
        use=queries.passage_use(db),
        refused_total=queries.refused_count(db),
        answers=queries.recent_answers(db, passage_id=passage_id, refused=refused),
        passage_filter=passage_id,
        refused_filter=refused,
    )


def _form(request: Request, user: Any, status: int = 200, **context: Any) -> HTMLResponse:
    """Renders the passage / topic form (``mode`` is ``edit``, ``new`` or ``topic``)."""
    return render(request, "knowledge_form.html", user, status=status, nav="knowledge", **context)


@router.get("/knowledge/edit", response_class=HTMLResponse)
def edit_page(request: Request, user: User, db: DB, topic: str, id: str) -> HTMLResponse:
    """The edit form of one passage, with the questions it answered."""
    current = _topic_or_404(topic)
    found = next((p for p in current.passages if p.id == id), None)
    if found is None:
        raise HTTPException(status_code=404, detail=t("en", "kb_err_not_found"))
    values = {name: getattr(found, name) or "" for name in FIELDS}
    return _form(
        request,
        user,
        mode="edit",
        topic=topic,
        digest=current.digest,
        values=values,
        answers=queries.recent_answers(db, passage_id=id),
    )


@router.get("/knowledge/new", response_class=HTMLResponse)
def new_passage_page(request: Request, user: User, topic: str) -> HTMLResponse:
    """The form of a new passage in a topic file."""
    current = _topic_or_404(topic)
    values = dict.fromkeys(FIELDS, "") | {"id": f"{topic}-"}
    return _form(request, user, mode="new", topic=topic, digest=current.digest, values=values)


@router.get("/knowledge/new-topic", response_class=HTMLResponse)
def new_topic_page(request: Request, user: User) -> HTMLResponse:
    """The form of a new topic file and its first passage."""
    values = dict.fromkeys((*FIELDS, "topic", "topic_title_zh", "topic_title_en"), "")
    return _form(request, user, mode="topic", topic="", digest="", values=values)


# --- writes -----------------------------------------------------------------------------------


def _draft(form: dict[str, str]) -> PassageDraft:
    return PassageDraft(*(form.get(name, "") for name in FIELDS))


def _refused(
    request: Request, user: Any, mode: str, form: dict[str, str], error: KnowledgeEditError
) -> HTMLResponse:
    """The form again, with what the founder typed and why it was not saved."""
    keys = (*FIELDS, "topic", "topic_title_zh", "topic_title_en")
    return _form(
        request,
        user,
        status=STATUS.get(error.code, 400),
        mode=mode,
        topic=form.get("topic", ""),
        digest=form.get("digest", ""),
        values={key: form.get(key, "") for key in keys},
        error=_error_text(user.lang, error),
        error_code=error.code,
    )


def _saved(user: Any, topic: str, passage_id: str = "", key: str = "kb_saved") -> Response:
    anchor = f"#p-{passage_id}" if passage_id else f"#t-{topic}"
    return back(HERE + anchor, msg=t(user.lang, key))


@router.post("/knowledge/passage/update")
async def update_passage(request: Request, body: Body, user: Csrf) -> Response:
    """Saves an edited passage (same id) into its topic file."""
    form = parse_form(request, body)
    topic, draft = form.get("topic", ""), _draft(form)
    try:
        await run_in_threadpool(kf.update_passage, _folder(), topic, draft, form.get("digest", ""))
    except KnowledgeEditError as error:
        return _refused(request, user, "edit", form, error)
    return _saved(user, topic, draft.id)


@router.post("/knowledge/passage/add")
async def add_passage(request: Request, body: Body, user: Csrf) -> Response:
    """Appends a new passage to a topic file."""
    form = parse_form(request, body)
    topic, draft = form.get("topic", ""), _draft(form)
    try:
        await run_in_threadpool(kf.add_passage, _folder(), topic, draft, form.get("digest", ""))
    except KnowledgeEditError as error:
        return _refused(request, user, "new", form, error)
    return _saved(user, topic, draft.id)


@router.post("/knowledge/topic/add")
async def add_topic(request: Request, body: Body, user: Csrf) -> Response:
    """Creates a topic file with its first passage."""
    form = parse_form(request, body)
    topic = TopicDraft(
        form.get("topic", ""), form.get("topic_title_zh", ""), form.get("topic_title_en", "")
    )
    try:
        await run_in_threadpool(kf.add_topic, _folder(), topic, _draft(form))
    except KnowledgeEditError as error:
        return _refused(request, user, "topic", form, error)
    return _saved(user, topic.topic, form.get("id", ""))


@router.post("/knowledge/passage/delete")
async def delete_passage(request: Request, body: Body, user: Csrf) -> Response:
    """Deletes one passage (the confirmation box must be ticked)."""
    form = parse_form(request, body)
    topic, passage_id = form.get("topic", ""), form.get("id", "")
    edit_url = f"{HERE}/edit?topic={quote(topic)}&id={quote(passage_id)}"
    if form.get("confirm") != "yes":
        return back(edit_url, err=t(user.lang, "kb_err_confirm"))
    try:
        await run_in_threadpool(
            kf.delete_passage, _folder(), topic, passage_id, form.get("digest", "")
        )
    except KnowledgeEditError as error:
        return back(edit_url, err=_error_text(user.lang, error, deleting=True))
    return _saved(user, topic, key="kb_deleted")


@router.post("/knowledge/topic/delete")
async def delete_topic(request: Request, body: Body, user: Csrf) -> Response:
    """Deletes a whole topic file (the confirmation box must be ticked)."""
    form = parse_form(request, body)
    topic = form.get("topic", "")
    if form.get("confirm") != "yes":
        return back(HERE, err=t(user.lang, "kb_err_confirm"))
    try:
        await run_in_threadpool(kf.delete_topic, _folder(), topic, form.get("digest", ""))
    except KnowledgeEditError as error:
        return back(HERE, err=_error_text(user.lang, error, deleting=True))
    return back(HERE, msg=t(user.lang, "kb_deleted"))
