"""The credits part of the dashboard's health line, from the producers' own API client."""

from __future__ import annotations

import asyncio

from producers.cli import make_client
from producers.settings import Settings


async def _remaining(settings: Settings) -> str:
    assert settings.lcw_api_key is not None
    async with make_client(settings, settings.lcw_api_key) as client:
        credits = await client.credits()
    return f"credits left today: {credits.remaining:,} of {credits.limit:,}"


def credits_line() -> str:
    """``credits left today: N of M``; the demo source needs none; an error is one short line."""
    settings = Settings()
    if settings.lcw_api_key is None:
        return "credits: demo source, none needed"
    try:
        return asyncio.run(_remaining(settings))
    except Exception as error:
        return f"credits: unknown ({type(error).__name__})"
