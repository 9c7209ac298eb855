#!/usr/bin/env python3
"""hostile_clients.py: clients that misbehave on tokqd's socket.

    hostile_clients.py stall SOCK N STOPFILE READYFILE [PARTIAL]
        Open N connections, send PARTIAL on each ("hdr": 2 bytes of a
        header, the default; "1mib": a header announcing 1 MiB then 1 MiB - 1
        bytes of its body), then stall.  Writes "ready OPENED" to READYFILE
        once all are open, and holds them until STOPFILE exists (at most
        120 s).  Prints JSON: opened, refused (connect failed), closed_early
        (the daemon hung up while we stalled).

    hostile_clients.py garbage SOCK N THREADS
        Send N hostile frames, each on a fresh connection, THREADS at a time,
        cycling through the kinds below; for each, read until the daemon
        closes the connection (or 5 s pass).  Prints JSON: sent, closed
        (hung up without a reply), error_reply (a reply with a non-zero
        code, then hung up or not), ok_reply (code 0: never expected), hung
        (neither within 5 s), per kind.

    hostile_clients.py flood SOCK NREQ STOPFILE READYFILE
        Pipeline NREQ `status` requests on one connection without ever
        reading a reply (a slow or malicious reader); writes "ready SENT" to
        READYFILE once NREQ are sent or the daemon stops taking them for
        3 s, then holds the connection until STOPFILE exists.

    hostile_clients.py greedy SOCK STOPFILE READYFILE
        Pipeline `status` requests on one connection as fast as the daemon
        answers them, reading every reply (a greedy but well-behaved
        client), until STOPFILE exists.  Writes "ready" to READYFILE once
        10,000 replies came back.  Prints JSON: replies.

    hostile_clients.py utf8 SOCK
        Send requests whose strings are not UTF-8 (an operation, an
        argument's name, values a reply echoes) and decode every reply
        strictly: each str must be valid UTF-8 (bytes.decode('utf-8',
        errors='strict')), as Python's msgpack with raw=False demands.
        Prints JSON: a list of {name, code, error, strict} per request
        (strict: false when a reply string was not UTF-8; error is the
        reply's error text with bad bytes shown as \\xHH by us).
"""
import json
import os
import random
import socket
import struct
import sys
import threading
import time


def frame(body):
    return struct.pack('>I', len(body)) + body


STATUS = bytes.fromhex('82a17601a26f70a6737461747573')   # {"v":1,"op":"status"}


def nested(depth):
    return b'\x91' * depth + b'\x01'                       # [[[...1]]]


KINDS = [
    ('len-0xffffffff', lambda r: b'\xff\xff\xff\xff'),
    ('len-1mib+1', lambda r: struct.pack('>I', (1 << 20) + 1)),
    ('len-0', lambda r: b'\0\0\0\0'),
    ('random-body', lambda r: frame(bytes(r.getrandbits(8) for _ in range(r.randint(1, 300))))),
    ('nested-100k', lambda r: frame(nested(100000))),
    ('map32-4g-items', lambda r: frame(b'\xdf\xff\xff\xff\xff')),
    ('str32-4g', lambda r: frame(b'\xdb\xff\xff\xff\xff' + b'A' * 16)),
    ('bin32-4g-key', lambda r: frame(b'\x81\xc6\xff\xff\xff\xff')),
    ('ext-types', lambda r: frame(b'\x81\xd4\x01\x02\xc7\x05\x01abcde')),
    ('good-then-garbage', lambda r: frame(STATUS) + frame(b'\xc1\xc1\xc1')),
    ('trailing-bytes', lambda r: frame(STATUS + b'\x00\x00')),
    ('huge-op-string', lambda r: frame(b'\x82\xa1v\x01\xa2op\xdb' + struct.pack('>I', 500000) + b'x' * 500000)),
    ('map-16k-keys', lambda r: frame(b'\xde\x40\x00' + b''.join(
        b'\xa1v\x01' for _ in range(0x4000)))),
    ('truncated-1mib', lambda r: struct.pack('>I', 1 << 20) + b'\x80' * 1000),
]


def recv_all_until_close(s, deadline):
    """Read replies until EOF, or until a reply with a non-zero code came
    (the daemon keeps a connection open after an error reply); returns
    (eof, [codes])."""
    buf, codes = b'', []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, codes
        s.settimeout(left)
        try:
            c = s.recv(65536)
        except socket.timeout:
            return False, codes
        except OSError:
            return True, codes
        if not c:
            return True, codes
        buf += c
        while len(buf) >= 4:
            n = struct.unpack('>I', buf[:4])[0]
            if len(buf) < 4 + n:
                break
            body, buf = buf[4:4 + n], buf[4 + n:]
            i = body.find(b'\xa4code')
            codes.append(body[i + 5] if i >= 0 and i + 5 < len(body) else -1)
            if codes[-1] != 0:
                return False, codes


def garbage(path, n, threads):
    res = {'sent': 0, 'closed': 0, 'error_reply': 0, 'ok_reply': 0, 'hung': 0,
           'connect_failed': 0, 'by_kind': {}}
    lock = threading.Lock()
    counter = iter(range(n))

    def one(i, r):
        name, make = KINDS[i % len(KINDS)]
        data = make(r)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            connect_patiently(s, path)
        except OSError:
            with lock:
                res['connect_failed'] += 1
            return
        try:
            s.sendall(data)
            if name.startswith('truncated'):
                s.shutdown(socket.SHUT_WR)  # cut short: the daemon sees EOF
        except OSError:
            pass        # the daemon hung up while we sent: that is a close
        eof, codes = recv_all_until_close(s, time.monotonic() + 5)
        s.close()
        # A good frame before the garbage is answered with code 0; judge
        # what followed it.
        if name == 'good-then-garbage' and codes[:1] == [0]:
            codes = codes[1:]
        if codes and all(c != 0 for c in codes):
            what = 'error_reply'
        elif codes:
            what = 'ok_reply'
        elif eof:
            what = 'closed'
        else:
            what = 'hung'
        with lock:
            res['sent'] += 1
            res[what] += 1
            k = res['by_kind'].setdefault(name, {})
            k[what] = k.get(what, 0) + 1

    def worker(seed):
        r = random.Random(seed)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            one(i, r)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps(res))


def wait_stop(stopfile, limit=120):
    t0 = time.monotonic()
    while not os.path.exists(stopfile) and time.monotonic() - t0 < limit:
        time.sleep(0.05)


def connect_patiently(s, path, limit=5):
    """connect(), waiting while the listen backlog is full (EAGAIN)."""
    t0 = time.monotonic()
    while True:
        try:
            s.connect(path)
            return
        except BlockingIOError:
            if time.monotonic() - t0 > limit:
                raise
            time.sleep(0.01)


def stall(path, n, stopfile, readyfile, partial):
    socks, refused = [], 0
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            connect_patiently(s, path)
            if partial == '1mib':
                s.sendall(struct.pack('>I', 1 << 20) + b'\x80' * ((1 << 20) - 1))
            else:
                s.sendall(b'\0\0')
            socks.append(s)
        except OSError:
            refused += 1
            s.close()
    with open(readyfile + '.tmp', 'w') as f:
        f.write('ready %d\n' % len(socks))
    os.rename(readyfile + '.tmp', readyfile)
    wait_stop(stopfile)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b'':
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    print(json.dumps({'opened': len(socks), 'refused': refused, 'closed_early': closed}))


def flood(path, nreq, stopfile, readyfile):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(3)
    batch = frame(STATUS) * 1000
    sent = 0
    try:
        while sent < nreq:
            s.sendall(batch)
            sent += 1000
    except (socket.timeout, OSError):
        pass
    with open(readyfile + '.tmp', 'w') as f:
        f.write('ready %d\n' % sent)
    os.rename(readyfile + '.tmp', readyfile)
    wait_stop(stopfile)
    s.close()
    print(json.dumps({'sent': sent}))


def greedy(path, stopfile, readyfile):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    batch = frame(STATUS) * 500
    done = threading.Event()

    def send():
        try:
            while not done.is_set():
                s.sendall(batch)
        except OSError:
            pass
    t = threading.Thread(target=send, daemon=True)
    t.start()
    replies, buf, ready = 0, b'', False
    while not os.path.exists(stopfile):
        try:
            data = s.recv(1 << 16)
        except ConnectionResetError:
            data = b''      # closed by the daemon with our input unread
        if not data:
            break
        buf += data
        while len(buf) >= 4 and len(buf) - 4 >= struct.unpack('>I', buf[:4])[0]:
            buf = buf[4 + struct.unpack('>I', buf[:4])[0]:]
            replies += 1
        if not ready and replies >= 10000:
            with open(readyfile + '.tmp', 'w') as f:
                f.write('ready\n')
            os.rename(readyfile + '.tmp', readyfile)
            ready = True
    done.set()
    s.close()
    print(json.dumps({'replies': replies}))


def mp_str(b):
    """A msgpack str holding the bytes b as they are."""
    n = len(b)
    if n < 32:
        return bytes([0xa0 | n]) + b
    if n < 256:
        return b'\xd9' + bytes([n]) + b
    return b'\xda' + struct.pack('>H', n) + b


def mp_pack(o):
    """Pack a request: dicts, bytes and str (as str), ints >= 0, lists."""
    if isinstance(o, dict):
        out = bytes([0x80 | len(o)])
        for k, v in o.items():
            out += mp_pack(k) + mp_pack(v)
        return out
    if isinstance(o, list):
        return bytes([0x90 | len(o)]) + b''.join(mp_pack(v) for v in o)
    if isinstance(o, str):
        return mp_str(o.encode())
    if isinstance(o, bytes):
        return mp_str(o)
    if isinstance(o, bool):
        return b'\xc3' if o else b'\xc2'
    if isinstance(o, int) and 0 <= o < 128:
        return bytes([o])
    raise ValueError(o)


class Strict(Exception):
    pass


def mp_unpack(b, i=0):
    """Decode one msgpack object at b[i:]; (object, next index).  A str
    that is not valid UTF-8 raises Strict."""
    t = b[i]
    i += 1
    if t <= 0x7f:
        return t, i
    if t >= 0xe0:
        return t - 256, i
    if 0x80 <= t <= 0x8f or t in (0xde, 0xdf):
        if t <= 0x8f:
            n = t & 0x0f
        elif t == 0xde:
            n, i = struct.unpack('>H', b[i:i + 2])[0], i + 2
        else:
            n, i = struct.unpack('>I', b[i:i + 4])[0], i + 4
        d = {}
        for _ in range(n):
            k, i = mp_unpack(b, i)
            v, i = mp_unpack(b, i)
            d[k] = v
        return d, i
    if 0x90 <= t <= 0x9f or t in (0xdc, 0xdd):
        if t <= 0x9f:
            n = t & 0x0f
        elif t == 0xdc:
            n, i = struct.unpack('>H', b[i:i + 2])[0], i + 2
        else:
            n, i = struct.unpack('>I', b[i:i + 4])[0], i + 4
        a = []
        for _ in range(n):
            v, i = mp_unpack(b, i)
            a.append(v)
        return a, i
    if 0xa0 <= t <= 0xbf or t in (0xd9, 0xda, 0xdb):
        if t <= 0xbf:
            n = t & 0x1f
        elif t == 0xd9:
            n, i = b[i], i + 1
        elif t == 0xda:
            n, i = struct.unpack('>H', b[i:i + 2])[0], i + 2
        else:
            n, i = struct.unpack('>I', b[i:i + 4])[0], i + 4
        raw = b[i:i + n]
        try:
            return raw.decode('utf-8', errors='strict'), i + n
        except UnicodeDecodeError:
            raise Strict(raw)
    if t == 0xc0:
        return None, i
    if t in (0xc2, 0xc3):
        return t == 0xc3, i
    fixed = {0xcc: ('>B', 1), 0xcd: ('>H', 2), 0xce: ('>I', 4), 0xcf: ('>Q', 8),
             0xd0: ('>b', 1), 0xd1: ('>h', 2), 0xd2: ('>i', 4), 0xd3: ('>q', 8),
             0xca: ('>f', 4), 0xcb: ('>d', 8)}
    if t in fixed:
        f, n = fixed[t]
        return struct.unpack(f, b[i:i + n])[0], i + n
    raise ValueError('msgpack type 0x%02x' % t)


# Each: a name and a request whose strings are not all UTF-8.
UTF8_CASES = [
    ('op', {'v': 1, 'op': b'\xff\xfe\xfd'}),
    ('argument-name', {'v': 1, 'op': 'status', b'\xc3(zz': 1}),
    ('hold', {'v': 1, 'op': 'release', 'hold': b'h\xff\xfe'}),
    ('selector', {'v': 1, 'op': 'limit_set', 'selector': b'us\xe9r',
                  'metric': 'tokens', 'limit': 5}),
    ('metric', {'v': 1, 'op': 'limit_set', 'selector': 'user', 'subject': 'u1',
                'metric': b'tok\xedens', 'limit': 5}),
    ('window', {'v': 1, 'op': 'limit_set', 'selector': 'user', 'subject': 'u1',
                'metric': 'tokens', 'window': b'1\xffh', 'limit': 5}),
    ('surrogate', {'v': 1, 'op': b'\xed\xa0\x80op'}),
    ('overlong', {'v': 1, 'op': b'\xc0\xafop'}),
    ('import-key', {'v': 1, 'op': 'import', 'events': [{b'\xf8key': 1}]}),
    # A valid name cut by the 255-byte bound of an error text: the cut
    # must not leave half a character.
    ('long-valid', {'v': 1, 'op': 'release', 'hold': 'hh' + '\u00e9' * 200}),
    ('valid', {'v': 1, 'op': 'd\u00e9j\u00e0-vu'}),
]


def utf8(path):
    res = []
    for name, req in UTF8_CASES:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        s.sendall(frame(mp_pack(req)))
        buf = b''
        while len(buf) < 4 or len(buf) < 4 + struct.unpack('>I', buf[:4])[0]:
            c = s.recv(65536)
            if not c:
                break
            buf += c
        s.close()
        r = {'name': name, 'code': None, 'error': None, 'strict': True}
        if len(buf) < 4:
            r['error'] = 'no reply'
            res.append(r)
            continue
        body = buf[4:4 + struct.unpack('>I', buf[:4])[0]]
        try:
            rep, _ = mp_unpack(body)
            r['code'] = rep.get('code')
            r['error'] = rep.get('error')
        except Strict as e:
            r['strict'] = False
            r['error'] = repr(e.args[0])
        res.append(r)
    print(json.dumps(res))


def main():
    mode = sys.argv[1]
    if mode == 'garbage':
        garbage(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == 'stall':
        stall(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5],
              sys.argv[6] if len(sys.argv) > 6 else 'hdr')
    elif mode == 'flood':
        flood(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif mode == 'greedy':
        greedy(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == 'utf8':
        utf8(sys.argv[2])
    else:
        sys.exit('unknown mode %s' % mode)


main()
