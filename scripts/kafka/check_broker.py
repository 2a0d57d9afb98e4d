#!/usr/bin/env python3
"""Readiness probe for the development Kafka broker: a real ApiVersions + Metadata round trip.

Standard library only (no kafka client needed), so scripts/services.sh can run it with any
python3 before a virtualenv exists. Exit 0 and print one summary line when the broker answers a
Metadata request that lists at least one broker; exit 1 otherwise.

    python3 scripts/kafka/check_broker.py 127.0.0.1:9092
"""

from __future__ import annotations

import socket
import struct
import sys

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"dictamesh-services-check"


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    # Request header v1 (non-flexible): api_key, api_version, correlation_id, client_id.
    header = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _read_exact(sock, 4))[0]
    data = _read_exact(sock, size)
    (got_corr,) = struct.unpack_from(">i", data, 0)
    if got_corr != corr:
        raise RuntimeError(f"correlation id mismatch: sent {corr}, got {got_corr}")
    return data[4:]  # response header v0 is just the correlation id


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise RuntimeError("connection closed by broker")
        buf += chunk
    return bytes(buf)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s


def check(host: str, port: int, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        r = _Reader(_request(sock, API_VERSIONS, 0, 1, b""))
        error = r.take(">h")
        if error:
            raise RuntimeError(f"ApiVersions error code {error}")
        versions = {}
        for _ in range(r.take(">i")):
            key, lo, hi = r.take(">h"), r.take(">h"), r.take(">h")
            versions[key] = (lo, hi)
        if API_METADATA not in versions:
            raise RuntimeError("broker does not offer the Metadata API yet")
        lo, hi = versions[API_METADATA]
        # v4..v8 are the last non-flexible versions, which is all this tiny encoder speaks.
        version = min(hi, 8)
        if version < max(lo, 4):
            raise RuntimeError(f"no Metadata version in 4..8 (broker offers {lo}..{hi})")
        body = struct.pack(">ib", -1, 0)  # all topics (null array), no auto-creation
        if version >= 8:
            body += struct.pack(">bb", 0, 0)  # no authorized-operations lists
        r = _Reader(_request(sock, API_METADATA, version, 2, body))
        r.take(">i")  # throttle_time_ms
        brokers = []
        for _ in range(r.take(">i")):
            node_id, bhost, bport = r.take(">i"), r.string(), r.take(">i")
            r.string()  # rack
            brokers.append(f"{node_id}@{bhost}:{bport}")
        cluster_id = r.string()
        controller = r.take(">i")
        topics = r.take(">i")
        if not brokers:
            raise RuntimeError("Metadata lists no brokers yet")
        return (
            f"metadata v{version}: brokers={','.join(brokers)} controller={controller} "
            f"cluster_id={cluster_id} topics={topics}"
        )


def main() -> int:
    target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
    host, _, port = target.rpartition(":")
    try:
        print(check(host or "127.0.0.1", int(port), timeout=5.0))
    except (OSError, RuntimeError, struct.error) as exc:
        print(f"kafka not ready at {target}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
