"""Console routes of the teach page: corrections so far, the training-data diff, retraining."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from web.console.config import get_config
from web.console.deps import DB, PREFIX, Csrf, User, back, render
from web.console.queries.teach import recent_corrections
from web.console.retrain import RETRAINER
from web.console.teach import corrections_overview, git_diff
from web.settings import get_settings

JSON_MEDIA_TYPE = "application/json"

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


@router.get("/teach", response_class=HTMLResponse)
def teach_page(request: Request, user: User, db: DB) -> HTMLResponse:
    """Corrections so far, the training-data diff and the retrain button."""
    config = get_config()
    return render(
        request,
        "teach.html",
        user,
        recent=recent_corrections(db),
        files=corrections_overview(config.nlu_dir),
        diff=git_diff(config.repo_root, config.nlu_dir),
        job=RETRAINER.job,
    )


@router.post("/teach/retrain")
def retrain(request: Request, user: Csrf) -> Response:
    """Starts retraining in the background (one job at a time)."""
    settings = get_settings()
    job = RETRAINER.start(get_config(), settings.rasa_url, settings.rasa_jwt_secret)
    if JSON_MEDIA_TYPE in request.headers.get("accept", ""):
        return JSONResponse(job.as_dict())
    return back(f"{PREFIX}/teach")


@router.get("/api/retrain")
def retrain_status(user: User) -> JSONResponse:
    """Progress of the current (or last) retraining job."""
    job = RETRAINER.job
    return JSONResponse(job.as_dict() if job else {"status": "none"})
