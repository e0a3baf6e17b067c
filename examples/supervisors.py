"""Supervisors: rest_for_one restarts a crashed child and everything that depends on it.

    python examples/supervisors.py

``db`` holds a connection, ``cache`` was filled from ``db`` when it started, and
``api`` serves from ``cache``. They start in that order. When ``db`` crashes
(here: a bad query), rest_for_one stops ``api`` then ``cache`` (reverse order),
and starts ``db``, ``cache``, ``api`` again (start order), so nothing keeps
state derived from the dead connection. A crash of ``api`` would restart only
``api``: nothing depends on it.
"""

from __future__ import annotations

import asyncio
import sys

import structlog
from pydantic import BaseModel

from supervise import Actor, ActorRef, ChildSpec, Strategy, SupervisorSpec, open_tree

log = structlog.get_logger("example")


class Query(BaseModel, frozen=True):
    sql: str


class Lookup(BaseModel, frozen=True):
    key: str


class Db(Actor[Query]):
    async def on_start(self) -> None:
        self.connection = object()  # stands for a real connection

    async def handle(self, msg: Query) -> str:
        if "DROP" in msg.sql:
            raise RuntimeError(f"refusing {msg.sql!r}")  # let it crash
        return f"rows for {msg.sql}"


class Cache(Actor[Lookup]):
    async def on_start(self) -> None:
        db: ActorRef[Query] = self.registry.whereis("shop/db")  # type: ignore[assignment]
        self.rows = await db.call(Query(sql="SELECT * FROM prices"))
        log.info("cache_filled", rows=self.rows)

    async def handle(self, msg: Lookup) -> str:
        return f"{msg.key} from {self.rows}"


class Api(Actor[Lookup]):
    async def handle(self, msg: Lookup) -> str:
        cache: ActorRef[Lookup] = self.registry.whereis("shop/cache")  # type: ignore[assignment]
        answer: str = await cache.call(msg)
        return answer


TREE = SupervisorSpec(
    name="shop",
    strategy=Strategy.REST_FOR_ONE,
    children=[
        ChildSpec(name="db", actor=Db),
        ChildSpec(name="cache", actor=Cache),
        ChildSpec(name="api", actor=Api),
    ],
)


async def main() -> str:
    async with open_tree(TREE) as tree:
        db, api = tree.whereis("shop/db"), tree.whereis("shop/api")
        assert isinstance(db, ActorRef)
        assert isinstance(api, ActorRef)
        with api.monitor() as api_down:  # api's current incarnation
            await db.cast(Query(sql="DROP TABLE prices"))  # db crashes; cache and api follow
            await api_down  # rest_for_one stopped api (then cache)
        await api.wait_running()  # db, cache, then api started again, in order
        answer: str = await api.call(Lookup(key="apples"))  # same refs, new incarnations
        print(f"--- after the restart: {answer}", flush=True)
    return answer


if __name__ == "__main__":
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S.%f"),
            structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()),
        ]
    )
    asyncio.run(main())
