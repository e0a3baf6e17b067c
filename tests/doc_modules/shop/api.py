from __future__ import annotations

from pydantic import BaseModel, Field

from supervise import Actor


class Request(BaseModel, frozen=True):
    path: str


class ApiConfig(BaseModel):
    port: int = Field(ge=0, le=65535)


class Api(Actor[Request]):
    config: ApiConfig

    async def handle(self, msg: Request) -> str:
        return f"served {msg.path} on port {self.config.port}"
