"""What crosses between nodes: pydantic envelopes as JSON, and the subjects they travel on.

Every payload on a supervise subject is one `Envelope`: a frozen pydantic model with
``extra="forbid"`` and a ``kind`` that selects it, serialised as JSON, never pickled.
`decode` refuses a payload over the size limit before parsing it and a payload that is
not exactly one valid envelope, with a `WireError` saying which; the receiving node logs
``message_rejected`` and drops it, so a stray or hostile publisher cannot crash a node.

An actor's message travels as ``type`` (``"module:QualName"`` of its model) and ``body``
(the model's fields as JSON). The receiver looks ``type`` up only among the target actor's
declared messages and validates ``body`` with that model: nothing named on the wire is
ever imported.

Subjects (``{c}`` the cluster, ``{n}`` a node, ``{name}`` an escaped registered name):

=========================  ==============================================================
``sup.{c}.hb.{n}``         `Heartbeat` from node ``n``, every ``heartbeat`` seconds
``sup.{c}.op.{n}``         request/reply: a typed node operation (`OpRequest`)
``sup.{c}.at.{n}.{name}``  request/reply or publish: `Send` to an actor on node ``n``
``sup.{c}.name.{name}``    request/reply: `Whereis` a registered name (any node serving it)
``sup.{c}.down.{n}``       `DownNotice` for a monitor node ``n`` holds
=========================  ==============================================================
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError

from .._errors import WireError

#: The largest payload a node accepts or sends (bytes); above it, `WireError`.
MAX_MESSAGE_BYTES = 1 << 20

#: Node and cluster names: one subject token of plain characters.
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_NAME = re.compile(NAME_PATTERN)
_UNSAFE = re.compile(r"[.*>%\s\x00-\x1f\x7f]")

#: How a node was found down.
DownHow = Literal["disconnect", "heartbeat", "no_responders", "restarted"]

#: What went wrong on the serving side of a request.
FailureCode = Literal[
    "noproc",  # nothing registered under that name on that node
    "not_running",  # registered, but nothing runs there now (between restarts)
    "bad_message",  # the message type is not the actor's, or its fields are invalid
    "call_failed",  # the handler raised (the actor crashed)
    "actor_exited",  # the actor ended before replying
    "mailbox_full",  # the actor's mailbox is full and its policy is `fail`
    "bad_reply",  # the reply could not be sent as JSON
    "unknown_op",  # no such node operation
    "op_failed",  # the node operation raised
]

NodeName = Annotated[str, Field(pattern=NAME_PATTERN)]


def check_name(what: str, value: str) -> str:
    """``value`` if it is a valid node or cluster name.

    Raises:
        ArgumentError: it is not one subject token of letters, digits, ``_`` and ``-``.
    """
    if not _NAME.match(value):
        from .._errors import ArgumentError

        raise ArgumentError(
            what,
            f"{value!r} is not a valid name; use 1 to 64 letters, digits, '_' or '-'",
        )
    return value


def token(name: str) -> str:
    """``name`` as one subject token: ``.``, ``*``, ``>``, ``%`` and blanks become ``%XX``."""
    if _UNSAFE.search(name) is None:
        return name
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", name)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1


class Heartbeat(_Wire):
    """A node is alive: published from its own event loop every ``interval`` seconds."""

    kind: Literal["hb"] = "hb"
    node: NodeName
    incarnation: str = Field(max_length=64)
    seq: int = Field(ge=0)
    interval: float = Field(gt=0, le=3600)
    labels: dict[str, str] = Field(default_factory=dict)


class Send(_Wire):
    """A message for the actor registered as ``to`` (a ``call`` expects a `Reply`)."""

    kind: Literal["call", "cast"]
    to: str = Field(min_length=1, max_length=1024)
    sender: NodeName
    type: str = Field(min_length=1, max_length=512)
    body: dict[str, Any]


class SendOut(_Wire):
    """`Send` as built by the sender: ``body`` is the message model itself."""

    kind: Literal["call", "cast"]
    to: str
    sender: str
    type: str
    body: Any


class Reply(_Wire):
    """A call's reply: the handler's return value as JSON."""

    kind: Literal["reply"] = "reply"
    node: NodeName
    body: JsonValue


class ReplyOut(_Wire):
    """`Reply` as built by the serving node: ``body`` is the handler's return value."""

    kind: Literal["reply"] = "reply"
    node: str
    body: Any


class Failure(_Wire):
    """A request failed on the serving node; ``error`` says how."""

    kind: Literal["error"] = "error"
    node: NodeName
    error: FailureCode
    message: str


class OpRequest(_Wire):
    """A typed node operation: ``op`` names it, ``body`` is its model's fields."""

    kind: Literal["op"] = "op"
    op: str = Field(min_length=1, max_length=128)
    sender: NodeName
    body: dict[str, Any]


class OpReply(_Wire):
    """A node operation's result: its result model's fields."""

    kind: Literal["op_reply"] = "op_reply"
    node: NodeName
    body: dict[str, Any]


class Whereis(_Wire):
    """Which node serves registered name ``name``? Answered with `Here`."""

    kind: Literal["whereis"] = "whereis"
    name: str = Field(min_length=1, max_length=1024)


class Here(_Wire):
    """Node ``node`` serves ``name``."""

    kind: Literal["here"] = "here"
    node: NodeName
    name: str


class DownNotice(_Wire):
    """The incarnation a remote monitor watched has ended."""

    kind: Literal["down"] = "down"
    node: NodeName
    monitor_id: int
    name: str
    reason: str = Field(max_length=64)
    detail: str | None = Field(default=None, max_length=4096)


Envelope = Annotated[
    Heartbeat | Send | Reply | Failure | OpRequest | OpReply | Whereis | Here | DownNotice,
    Field(discriminator="kind"),
]
_ENVELOPE: TypeAdapter[Envelope] = TypeAdapter(Envelope)


def decode(subject: str, data: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> Envelope:
    """The envelope in ``data``, received on ``subject``.

    Raises:
        WireError: ``data`` is larger than ``max_bytes`` (not parsed at all), or is not
            exactly one valid envelope.
    """
    if len(data) > max_bytes:
        raise WireError(subject, f"{len(data)} bytes, over the limit of {max_bytes}")
    try:
        return _ENVELOPE.validate_json(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise WireError(
            subject, f"not a supervise envelope ({len(errors)} errors; {where}: {first['msg']})"
        ) from None


def encode(subject: str, envelope: _Wire, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
    """``envelope`` as JSON bytes.

    Raises:
        WireError: the JSON is larger than ``max_bytes``, or a value in it (a reply, a
            message field) has no JSON form.
    """
    try:
        data = envelope.__pydantic_serializer__.to_json(envelope)
    except Exception as exc:  # PydanticSerializationError: a value with no JSON form
        raise WireError(subject, f"cannot be sent as JSON ({exc})") from exc
    if len(data) > max_bytes:
        raise WireError(subject, f"{len(data)} bytes, over the limit of {max_bytes}")
    return data


def type_name(model: type[BaseModel]) -> str:
    """A message model's wire name: ``"module:QualName"``."""
    return f"{model.__module__}:{model.__qualname__}"
