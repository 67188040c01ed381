#!/usr/bin/env python3
"""Answer whether a MongoDB-protocol server at a mongodb:// URI replies to `ping`.

Speaks just enough of the wire protocol (one OP_MSG) that no driver is needed.
Exit 0: it answered ok. Exit 1: nothing answered. Exit 2: the URI cannot be probed
(e.g. mongodb+srv or several hosts), which callers treat as "trust it".
"""
import socket
import struct
import sys
from urllib.parse import urlsplit


def bson(items):
    body = b""
    for key, value in items:
        name = key.encode() + b"\x00"
        if isinstance(value, int):
            body += b"\x10" + name + struct.pack("<i", value)
        else:
            raw = value.encode() + b"\x00"
            body += b"\x02" + name + struct.pack("<i", len(raw)) + raw
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def ping(host, port, timeout=2.0):
    doc = bson([("ping", 1), ("$db", "admin")])
    msg = struct.pack("<I", 0) + b"\x00" + doc
    header = struct.pack("<iiii", 16 + len(msg), 1, 0, 2013)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(header + msg)
        head = b""
        while len(head) < 16:
            chunk = sock.recv(16 - len(head))
            if not chunk:
                return False
            head += chunk
        length = struct.unpack("<i", head[:4])[0]
        rest = b""
        while len(rest) < length - 16:
            chunk = sock.recv(length - 16 - len(rest))
            if not chunk:
                return False
            rest += chunk
    return b"\x01ok\x00" + struct.pack("<d", 1.0) in rest


def main():
    uri = sys.argv[1]
    if not uri.startswith("mongodb://"):
        return 2
    netloc = urlsplit(uri).netloc.rsplit("@", 1)[-1]
    if "," in netloc:
        return 2
    host, _, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "27017")
    host = host.strip("[]") or "127.0.0.1"
    try:
        return 0 if ping(host, int(port or 27017)) else 1
    except (OSError, ValueError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
