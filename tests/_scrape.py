"""A raw HTTP client for the tests of the HTTP endpoint and the metrics it serves."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from prometheus_client import parser

from supervise import Tree

Samples = dict[tuple[str, str], float]


async def exchange(tree: Tree, data: bytes, *, half_close: bool = False) -> tuple[int, bytes]:
    """Send raw bytes to the tree's HTTP endpoint; the status and body of its response."""
    assert tree.http_url is not None
    url = urlsplit(tree.http_url)
    assert url.hostname is not None
    assert url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        async with asyncio.timeout(30):
            raw = await reader.read()  # the endpoint closes after one response
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def get(tree: Tree, target: str) -> tuple[int, bytes]:
    return await exchange(tree, f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())


async def scrape(tree: Tree) -> Samples:
    """``GET /metrics``, parsed: (sample name, path label) -> value (``le`` folded in)."""
    status, body = await get(tree, "/metrics")
    assert status == 200
    samples: Samples = {}
    for family in parser.text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if "path" not in sample.labels:
                continue
            name = sample.name
            if "le" in sample.labels:
                name += f"[{sample.labels['le']}]"
            samples[name, sample.labels["path"]] = sample.value
    return samples


def paths(samples: Samples, prefix: str) -> set[str]:
    return {path for _, path in samples if path.startswith(prefix)}
