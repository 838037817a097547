"""The settings every Django project of the suite shares (sessionhub's engine's, and the legacy project's that
writes Django's own sessions): sessions and auth through their middleware, fast test-only password hashing."""

from typing import Any

PROJECT_SETTINGS: dict[str, Any] = {
    "ALLOWED_HOSTS": ["*"],
    "INSTALLED_APPS": ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"],
    "MIDDLEWARE": [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],  # fast, for test users only
    "USE_TZ": True,
}
