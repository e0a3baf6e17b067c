from __future__ import annotations

from pydantic import BaseModel

from supervise import Actor


class Query(BaseModel, frozen=True):
    sql: str


class DatabaseConfig(BaseModel):
    dsn: str


class Database(Actor[Query]):
    config: DatabaseConfig

    async def handle(self, msg: Query) -> list[str]:
        return [f"{self.config.dsn}: {msg.sql}"]
