"""Trees across processes and machines over NATS (the ``nats`` extra).

Importing this package imports nothing from nats-py; its modules do. ``import
supervise`` never imports this package, so without the extra nothing changes.

- `_server`: `NatsServer`, a local ``nats-server`` process (tests, benchmarks, examples).
- `_wire`: the wire envelopes (pydantic models as JSON, size-limited) and subject names.
- `_node`: `NodeConnection` and `open_node`, one node's connection: name and labels,
  heartbeats, the failure detector over the other nodes, requests to them.
- `_serving`: the half of `NodeConnection` that answers other nodes (calls and casts to
  the tree it serves, ``whereis``, node operations, remote monitors).
- `_remote`: `RemoteActorRef`, `RemoteMonitor`, `NodeOperation` and the built-in ones.
"""
