"""Limits on what a caller may send (issue 12): the size of a request body."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mingbai.web.errors import error_response


class BodySizeLimit:
    """Refuses a body over ``limit`` bytes with 413, by its Content-Length or, streamed, as it
    arrives (nothing bigger is ever buffered). Paths in ``larger`` have their own limit."""

    def __init__(self, app: ASGIApp, *, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server stops a body at its declared length
            return
        # streamed (chunked): read it here, at most `limit` bytes, then hand it on
        chunks: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > limit:
                await self._refuse(scope, receive, send, limit)
                return
            if not message.get("more_body", False):
                break
        replay = iter(chunks)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response("too_large", f"the request body may have at most {limit} bytes", 413)
        await response(scope, receive, send)
