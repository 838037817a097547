"""The demo app behind `sessionhub demo`: sign-in, a travel assistant chat, demo progress, "my sessions" and an
operator page, on a real SessionManager (memory, or Redis when REDIS_URL is set)."""
