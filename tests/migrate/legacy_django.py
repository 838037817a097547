"""A legacy Django project, run in its own process (Django's settings are one per process, and the suite's own
Django project uses sessionhub's engine): django.contrib.sessions with the database engine (SQLite or PostgreSQL)
or the cache engine (Django's Redis cache), django.contrib.auth signing users in.

    python -m tests.migrate.legacy_django CONFIG_JSON < ACTIONS_JSON > COOKIES_JSON

CONFIG: {"secret_key", "engine": "db" | "cache", "database": Django's DATABASES["default"], "redis_url",
"cache_serializer" (a dotted path, or null for the Redis cache's default, which pickles)}. ACTIONS, in order:
["sign_in", name] signs a user in (a new session), ["anonymous", label, {data}] starts a session without a user,
["write", name, {data}] writes to that session, ["write_key", session key, {data}] to the session of a cookie from
an earlier run. Prints each name's `sessionid` cookie.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import django
from django.conf import settings

from tests.support.django_project import PROJECT_SETTINGS


def configure(config: dict[str, Any]) -> None:
    engine = config["engine"]
    caches: dict[str, Any] = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if engine == "cache":
        options = {"serializer": config["cache_serializer"]} if config.get("cache_serializer") else {}
        caches = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": config["redis_url"],
                "OPTIONS": options,
            }
        }
    settings.configure(
        SECRET_KEY=config["secret_key"],
        ROOT_URLCONF=__name__,
        DATABASES={"default": config["database"]},
        CACHES=caches,
        SESSION_ENGINE=f"django.contrib.sessions.backends.{engine}",
        **PROJECT_SETTINGS,
    )
    django.setup()


def sign_in(request: Any, name: str) -> Any:
    from django.contrib.auth import login
    from django.contrib.auth.models import User
    from django.http import JsonResponse

    user, _ = User.objects.get_or_create(username=name)
    login(request, user)
    request.session["cart"] = ["lamp", "oil"]
    return JsonResponse({"ok": True})


def write(request: Any) -> Any:
    from django.http import JsonResponse

    for key, value in json.loads(request.body).items():
        request.session[key] = value
    return JsonResponse({"ok": True})


urlpatterns: list[Any] = []


def main() -> None:
    configure(json.loads(sys.argv[1]))
    from django.core.management import call_command
    from django.test import Client
    from django.urls import path

    urlpatterns.extend([path("sign-in/<str:name>", sign_in), path("write", write)])
    call_command("migrate", verbosity=0)
    browsers: dict[str, Client] = {}
    for action, name, *rest in json.load(sys.stdin):
        if action == "sign_in":
            browsers[name] = Client()
            assert browsers[name].post(f"/sign-in/{name}").status_code == 200
        elif action == "write_key":
            client = Client()
            client.cookies["sessionid"] = name
            assert client.post("/write", rest[0], content_type="application/json").status_code == 200
        else:
            client = browsers.setdefault(name, Client()) if action == "anonymous" else browsers[name]
            assert client.post("/write", rest[0], content_type="application/json").status_code == 200
    json.dump({name: client.cookies["sessionid"].value for name, client in browsers.items()}, sys.stdout)


if __name__ == "__main__":
    main()
