#!/usr/bin/env python3
"""pipelined_client.py: many requests on one connection, sent before any
reply is read, and the replies read back in order.

    pipelined_client.py SOCKET FILE

FILE holds one request map a line, as JSON ("v" added when absent).  All of
their frames go out in one write; then one reply frame is read for each
request, and each reply map is printed as one JSON line, in the order read.
Exit status 0 when every reply came, 2 otherwise.  Stdlib only (the packing
is raw_request.py's).
"""
import json
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_request import Reader, pack, recv_exactly  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: pipelined_client.py SOCKET FILE\n")
        return 2
    reqs = []
    with open(sys.argv[2]) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if "v" not in r:
                    r = dict([("v", 1)] + list(r.items()))
                reqs.append(r)
    data = b"".join(struct.pack(">I", len(b)) + b for b in map(pack, reqs))
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(sys.argv[1])
        s.sendall(data)
        for _ in reqs:
            n = struct.unpack(">I", recv_exactly(s, 4))[0]
            print(json.dumps(Reader(recv_exactly(s, n)).obj(), separators=(",", ":")))
        s.close()
    except (OSError, ValueError, ConnectionError) as e:
        sys.stderr.write("pipelined_client.py: %s\n" % e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
