#!/usr/bin/env python3
"""fake_tokqd.py: a stand-in for tokqd that answers the client wrongly on
purpose, to test how tokq reacts (exit 75 and its two cases).

    fake_tokqd.py MODE SOCK READYFILE LOGFILE

Listens on the Unix socket SOCK, writes "ready" to READYFILE, then for
each connection reads one whole request frame, appends its op (or "?") to
LOGFILE, one line per request, and then, by MODE:

    hangup   closes the connection without answering: the request was
             sent, so the client cannot know its outcome.
    temp     answers {"code": 4, "error": DETAIL}: refused as temporary
             (TOKQ_E_TEMP), as tokqd does when its store is busy.

After each connection is closed, a line is appended to LOGFILE.closed, so
that a test can wait for the close before it sends again.

Serves until killed.  Stdlib only; msgpack is built by hand.
"""
import os
import re
import socket
import struct
import sys

TOKQ_E_TEMP = 4


def mp_str(s):
    b = s.encode()
    if len(b) < 32:
        return bytes([0xa0 | len(b)]) + b
    return b'\xd9' + bytes([len(b)]) + b


def recv_exactly(c, n):
    buf = b''
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def main():
    mode, path, ready, logfile = sys.argv[1:5]
    if mode not in ('hangup', 'temp'):
        sys.exit('fake_tokqd.py: MODE is hangup or temp')
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(16)
    with open(ready, 'w') as f:
        f.write('ready\n')
    while True:
        c, _ = srv.accept()
        with c:
            hdr = recv_exactly(c, 4)
            if hdr is None:
                continue
            body = recv_exactly(c, struct.unpack('>I', hdr)[0])
            if body is None:
                continue
            # The op is a short str after the key "op" (a2 6f 70).
            m = re.search(rb'\xa2op[\xa0-\xbf]', body)
            op = '?'
            if m:
                n = body[m.end() - 1] & 0x1f
                op = body[m.end():m.end() + n].decode(errors='replace')
            with open(logfile, 'a') as f:
                f.write(op + '\n')
            if mode == 'temp':
                reply = (b'\x82' + mp_str('code') + bytes([TOKQ_E_TEMP]) +
                         mp_str('error') + mp_str('the store is busy'))
                c.sendall(struct.pack('>I', len(reply)) + reply)
            # hangup: close without a word
        with open(logfile + '.closed', 'a') as f:
            f.write('closed\n')


if __name__ == '__main__':
    main()
