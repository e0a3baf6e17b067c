"""The app: a counter actor in a supervision tree, opened by the ASGI lifespan.

A request that crashes the counter gets a 500; its supervisor restarts it at
once, and the next request is served by the new incarnation (with fresh
state). If the counter crashes more than 3 times in 5 seconds, the root
supervisor gives up: the tree has stopped, and this process can no longer do
its job. The lifespan then calls ``on_give_up``, and the server decides what to
do: ``__main__`` stops serving and exits with status 1, so that systemd or
Kubernetes starts a fresh process, as an Erlang node's supervisor would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supervise import (
    Actor,
    CallFailedError,
    ChildSpec,
    Request,
    SuperviseError,
    SupervisorSpec,
    open_tree,
)


class Add(Request[int], frozen=True):
    n: int


class Get(Request[int], frozen=True):
    pass


class Crash(BaseModel, frozen=True):
    """A request that makes the counter's handler raise (a bug, for the demonstration)."""


class Counter(Actor[Add | Get | Crash]):
    async def on_start(self) -> None:
        self.count = 0  # state starts afresh in every incarnation

    async def handle(self, msg: Add | Get | Crash) -> int:
        match msg:
            case Add(n=n):
                self.count += n
            case Crash():
                raise RuntimeError("the counter was asked to crash")
        return self.count


SPEC = SupervisorSpec(
    name="web",
    max_restarts=3,
    max_seconds=5,
    children=[ChildSpec(name="counter", actor=Counter)],
)


async def count(request: HTTPRequest) -> Response:
    # retry_while_restarting: a request that arrives while the counter is
    # between a crash and its restart waits for it (within the call's timeout).
    value = await request.state.counter.call(Get(), retry_while_restarting=True)
    return JSONResponse({"count": value})


async def add(request: HTTPRequest) -> Response:
    n = int(request.query_params.get("n", "1"))
    value = await request.state.counter.call(Add(n=n), retry_while_restarting=True)
    return JSONResponse({"count": value})


async def crash(request: HTTPRequest) -> Response:
    # The counter's handler raises: the call fails with CallFailedError (a 500, below).
    await request.state.counter.call(Crash(), retry_while_restarting=True)
    return Response(status_code=204)


async def crashed(request: HTTPRequest, exc: Exception) -> Response:
    # The handler of this request's call raised: the actor crashed (a bug, hence 500).
    assert isinstance(exc, CallFailedError)
    actor = exc.actor.rsplit("/", 1)[-1]
    return JSONResponse(
        {"error": f"the {actor} crashed; its supervisor restarts it"}, status_code=500
    )


async def unavailable(request: HTTPRequest, exc: Exception) -> Response:
    # Not running (the tree gave up), a timeout, a full mailbox: try again later.
    return JSONResponse({"error": str(exc)}, status_code=503)


def create_app(on_give_up: Callable[[BaseException], object]) -> Starlette:
    """The app; ``on_give_up`` is called if the root supervisor gives up."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        # The tree starts before the server takes requests and stops after the
        # last one. If the root gives up, on_give_up is called, this lifespan
        # is cancelled, and `async with` raises RestartIntensityExceeded (the
        # server logs it as a lifespan failure).
        async with open_tree(SPEC, on_give_up=on_give_up) as tree:
            yield {"counter": tree.actor("web/counter", Counter)}

    return Starlette(
        routes=[
            Route("/count", count),
            Route("/add", add, methods=["POST"]),
            Route("/crash", crash, methods=["POST"]),
        ],
        # Starlette picks the handler of the closest class: CallFailedError first.
        exception_handlers={CallFailedError: crashed, SuperviseError: unavailable},
        lifespan=lifespan,
    )
