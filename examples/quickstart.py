"""sessionhub in one screen: create, read, change, rotate, sign in, list and revoke sessions.

Runs on the in-memory backend, or on Redis when REDIS_URL is set (REDIS_URL=redis://localhost:6379/0).
"""

from __future__ import annotations

import asyncio

from sessionhub import ClientInfo, SessionManager, Settings


async def main() -> None:
    settings = Settings(max_sessions_per_user=3)
    async with SessionManager.from_settings(settings) as manager:
        print(f"backend: {manager.backend.name}")

        visitor = await manager.create(data={"cart": ["papyrus"]}, client=ClientInfo(ip="203.0.113.9"))
        print(f"anonymous session {visitor.id} created with cart {visitor.data['cart']}")

        loaded = await manager.get(visitor.token)
        assert loaded is not None
        loaded.data["cart"].append("scarab")
        await manager.save(loaded)
        print(f"cart saved: {(await manager.get(visitor.token)).data['cart']}")  # type: ignore[union-attr]

        signed_in = await manager.login(visitor.token, "amira", client=ClientInfo(user_agent="laptop"))
        print(f"signed in as {signed_in.user_id}: new session {signed_in.id}, cart kept {signed_in.data['cart']}")
        print(f"the anonymous token still works? {await manager.get(visitor.token) is not None}")

        rotated = await manager.rotate(signed_in.token)  # type: ignore[arg-type]
        print(f"rotated to {rotated.id}; old token works? {await manager.get(signed_in.token) is not None}")

        phone = await manager.login(None, "amira", client=ClientInfo(user_agent="phone"))
        for session in await manager.list_user_sessions("amira"):
            print(f"  amira's session {session.id} on {session.client.user_agent}, active {session.last_active_at}")

        ended = await manager.revoke_user_sessions("amira", except_session_id=phone.id)
        still_in = await manager.get(phone.token) is not None
        print(f"signed out {ended} other device(s); phone still signed in: {still_in}")

        await manager.revoke(phone.id)
        print(f"after revoking the phone: {len(await manager.list_user_sessions('amira'))} session(s) left")
        print(f"stats: {await manager.stats()}")
        print(f"health: {await manager.health()}")


if __name__ == "__main__":
    asyncio.run(main())
