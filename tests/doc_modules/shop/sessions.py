from __future__ import annotations

from pydantic import BaseModel

from supervise import Actor


class Line(BaseModel, frozen=True):
    text: str


class Session(Actor[Line]):
    async def handle(self, msg: Line) -> str:
        return msg.text
