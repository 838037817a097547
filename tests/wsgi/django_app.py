"""The Django project the Django tests drive: settings made in code (SQLite in memory for django.contrib.auth's
users), the sessionhub engine, and one small view per behaviour."""

from __future__ import annotations

import tempfile
from pathlib import Path

import django
from django.conf import settings

from tests.support.django_project import PROJECT_SETTINGS

COOKIE = "session_token"

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="only-for-the-tests",
        ROOT_URLCONF=__name__,
        # A file, not :memory:, so that every thread of the WSGI server sees the same users.
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": Path(tempfile.mkdtemp()) / "db"}},
        SESSION_ENGINE="sessionhub.django",
        SESSION_COOKIE_NAME=COOKIE,
        **PROJECT_SETTINGS,
    )
    django.setup()

from django.contrib.auth import login, logout  # noqa: E402 (needs the settings above)
from django.contrib.auth.models import User  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

from sessionhub.django import SessionStore  # noqa: E402


def _ready_database() -> None:
    call_command("migrate", run_syncdb=True, verbosity=0)


def wsgi_app() -> WSGIHandler:
    """The project as a WSGI server runs it."""
    return WSGIHandler()


def user_named(name: str) -> User:
    user, _ = User.objects.get_or_create(username=name)
    return user


def describe(request: HttpRequest) -> JsonResponse:
    store = request.session
    assert isinstance(store, SessionStore)
    hub = store.stored
    return JsonResponse(
        {"data": dict(store.items()), "user": hub.user_id if hub else None, "auth": request.user.is_authenticated}
    )


def read(request: HttpRequest) -> HttpResponse:
    return describe(request)


def write(request: HttpRequest) -> HttpResponse:
    for key, value in request.GET.items():
        request.session[key] = value
    return describe(request)


def sign_in(request: HttpRequest, name: str) -> HttpResponse:
    login(request, user_named(name))
    return describe(request)


def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return describe(request)


urlpatterns = [
    path("", read),
    path("write", write),
    path("login/<str:name>", sign_in),
    path("logout", sign_out),
]

_ready_database()
