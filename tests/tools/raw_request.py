#!/usr/bin/env python3
"""raw_request.py: send one request to tokqd and print its reply as JSON.

    raw_request.py SOCKET 'JSON'

JSON is the request map (docs/protocol.md), "v" added when absent.  It is
packed as msgpack by hand, stdlib only, so a test can reach the daemon with
values the tokq client refuses before sending: integers are packed as the
smallest msgpack integer that holds them (up to uint64 and down to int64),
floats as float64.  The reply map is printed as one JSON line (floats as
Python prints them); the exit status is 0 when a reply came, 2 otherwise.
"""
import json
import socket
import struct
import sys


def pack(o):
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 0x80:
            return struct.pack("B", o)
        if -32 <= o < 0:
            return struct.pack("b", o)
        if 0 <= o <= 0xFFFFFFFFFFFFFFFF:
            return b"\xcf" + struct.pack(">Q", o)
        if -(1 << 63) <= o < 0:
            return b"\xd3" + struct.pack(">q", o)
        raise ValueError("integer out of msgpack's range: %d" % o)
    if isinstance(o, float):
        return b"\xcb" + struct.pack(">d", o)
    if isinstance(o, str):
        b = o.encode("utf-8", "surrogateescape")
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(o, list):
        return b"\xdd" + struct.pack(">I", len(o)) + b"".join(pack(x) for x in o)
    if isinstance(o, dict):
        return b"\xdf" + struct.pack(">I", len(o)) + b"".join(
            pack(k) + pack(v) for k, v in o.items())
    raise TypeError("cannot pack %r" % (o,))


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        s = self.b[self.i:self.i + n]
        if len(s) != n:
            raise ValueError("truncated reply")
        self.i += n
        return s

    def num(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def obj(self):
        t = self.take(1)[0]
        if t < 0x80:
            return t
        if t >= 0xE0:
            return t - 256
        if 0x80 <= t <= 0x8F:
            return self.map(t & 0x0F)
        if 0x90 <= t <= 0x9F:
            return [self.obj() for _ in range(t & 0x0F)]
        if 0xA0 <= t <= 0xBF:
            return self.str(t & 0x1F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if t in simple:
            return simple[t]
        ints = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
                0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
                0xCA: ">f", 0xCB: ">d"}
        if t in ints:
            return self.num(ints[t])
        if t in (0xD9, 0xDA, 0xDB):
            return self.str(self.num({0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}[t]))
        if t in (0xDC, 0xDD):
            return [self.obj() for _ in range(self.num(">H" if t == 0xDC else ">I"))]
        if t in (0xDE, 0xDF):
            return self.map(self.num(">H" if t == 0xDE else ">I"))
        raise ValueError("unexpected msgpack byte 0x%02x" % t)

    def str(self, n):
        return self.take(n).decode("utf-8", "replace")

    def map(self, n):
        m = {}
        for _ in range(n):
            k = self.obj()
            m[k] = self.obj()
        return m


def recv_exactly(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("tokqd closed the connection")
        b += c
    return b


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: raw_request.py SOCKET JSON\n")
        return 2
    req = json.loads(sys.argv[2])
    if "v" not in req:
        req = dict([("v", 1)] + list(req.items()))
    body = pack(req)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(sys.argv[1])
        s.sendall(struct.pack(">I", len(body)) + body)
        n = struct.unpack(">I", recv_exactly(s, 4))[0]
        reply = Reader(recv_exactly(s, n)).obj()
        s.close()
    except (OSError, ValueError, ConnectionError) as e:
        sys.stderr.write("raw_request.py: %s\n" % e)
        return 2
    print(json.dumps(reply, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
