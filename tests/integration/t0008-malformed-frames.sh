#!/usr/bin/env bash
# Hostile frames on raw connections close that connection, never the
# daemon: after each one tokqd still answers tokq status, and a good frame
# on a fresh connection still gets a code 0 reply.
# shellcheck source-path=SCRIPTDIR source=lib.sh disable=SC2119
. "$(dirname "$0")/lib.sh"
need python3 jq

# rawframe.py SOCK HEX [--then-close | --eof]: connect, send the bytes (and
# with --eof shut down our side, as a client that is done), read what comes
# back until EOF or silence (3 s before a reply, 0.3 s after one), and print
# one word:
#   closed         EOF (or a reset) with no reply
#   reply CODE...  the "code" of each reply frame (then "+closed" when EOF
#                  followed)
#   open           no reply and no EOF within 3 s
#   sent           --then-close: we hung up right after sending
#   connect-failed
cat >"$T/rawframe.py" <<'PY'
import socket, struct, sys

def unpack(b, i=0):
    """A small msgpack decoder: enough for a reply map."""
    t = b[i]
    if t <= 0x7f: return t, i + 1
    if t >= 0xe0: return t - 0x100, i + 1
    if 0x80 <= t <= 0x8f: return unmap(b, i + 1, t & 0x0f)
    if 0x90 <= t <= 0x9f: return unarr(b, i + 1, t & 0x0f)
    if 0xa0 <= t <= 0xbf:
        n = t & 0x1f
        return b[i + 1:i + 1 + n].decode(), i + 1 + n
    fixed = {0xc0: None, 0xc2: False, 0xc3: True}
    if t in fixed: return fixed[t], i + 1
    fmt = {0xca: '>f', 0xcb: '>d', 0xcc: '>B', 0xcd: '>H', 0xce: '>I',
           0xcf: '>Q', 0xd0: '>b', 0xd1: '>h', 0xd2: '>i', 0xd3: '>q'}
    if t in fmt:
        n = struct.calcsize(fmt[t])
        return struct.unpack(fmt[t], b[i + 1:i + 1 + n])[0], i + 1 + n
    if t in (0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6):
        w = {0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4}[t]
        n = int.from_bytes(b[i + 1:i + 1 + w], 'big')
        s = b[i + 1 + w:i + 1 + w + n]
        return (s.decode() if t >= 0xd9 else s), i + 1 + w + n
    if t in (0xdc, 0xdd):
        w = 2 if t == 0xdc else 4
        return unarr(b, i + 1 + w, int.from_bytes(b[i + 1:i + 1 + w], 'big'))
    if t in (0xde, 0xdf):
        w = 2 if t == 0xde else 4
        return unmap(b, i + 1 + w, int.from_bytes(b[i + 1:i + 1 + w], 'big'))
    raise ValueError('msgpack type 0x%02x' % t)

def unarr(b, i, n):
    a = []
    for _ in range(n):
        v, i = unpack(b, i)
        a.append(v)
    return a, i

def unmap(b, i, n):
    m = {}
    for _ in range(n):
        k, i = unpack(b, i)
        v, i = unpack(b, i)
        m[k] = v
    return m, i

def recv_exact(s, n):
    buf = b''
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            return None
        buf += c
    return buf

def main():
    path, data = sys.argv[1], bytes.fromhex(sys.argv[2])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(path)
    except OSError:
        print('connect-failed'); return
    try:
        s.sendall(data)
    except OSError:
        print('closed'); return
    if '--then-close' in sys.argv:
        s.close(); print('sent'); return
    if '--eof' in sys.argv:
        s.shutdown(socket.SHUT_WR)
    codes, eof = [], False
    try:
        while True:
            hdr = recv_exact(s, 4)
            if hdr is None:
                eof = True; break
            body = recv_exact(s, struct.unpack('>I', hdr)[0])
            if body is None:
                eof = True; break
            try:
                reply, _ = unpack(body)
                codes.append(str(reply.get('code')) if isinstance(reply, dict) else 'not-a-map')
            except Exception:
                codes.append('undecodable')
            s.settimeout(0.3)
    except socket.timeout:
        pass
    except ConnectionResetError:
        eof = True
    if not codes:
        print('closed' if eof else 'open')
    else:
        print('reply %s%s' % (' '.join(codes), '+closed' if eof else ''))

main()
PY

# The system's python3 when there is one: a version manager's shim costs
# a few hundred ms per start, and this script starts python 40 times.
PYTHON=$(command -v /usr/bin/python3 || command -v python3)
raw() { "$PYTHON" "$T/rawframe.py" "$SOCK" "$@"; }
frame() { printf '%08x%s' $((${#1} / 2)) "$1"; }	# frame HEX: length-prefixed

GOOD=82a17601a26f70a6737461747573	# {"v":1,"op":"status"}

start_tokqd

is "$(raw "$(frame $GOOD)" --eof)" "reply 0+closed" "a good status frame gets a code 0 reply"
is "$(raw "$(frame $GOOD)$(frame $GOOD)" --eof)" "reply 0 0+closed" "pipelined frames: one reply each, in order"

survived=0
# hostile NAME EXPECT HEX [--then-close]: EXPECT is an ERE for rawframe's word.
hostile() {
	local name=$1 want=$2 hex=$3
	shift 3
	local good
	like "$(raw "$hex" "$@")" "$want" "$name: refused on that connection"
	tq status
	is "$rc" 0 "after $name: tokq status still answers"
	good=$(raw "$(frame $GOOD)" --eof)
	is "$good" "reply 0+closed" "after $name: a good frame still gets code 0"
	if [ "$rc" = 0 ] && [ "$good" = "reply 0+closed" ]; then
		survived=$((survived + 1))
	fi
}

hostile "length 0xFFFFFFFF" '^closed$' ffffffff
hostile "length 1 MiB + 1" '^closed$' 00100001
hostile "length 0" '^closed$' 00000000
hostile "16 bytes of garbage" '^closed$' "00000010$(printf 'c1%.0s' $(seq 16))"
hostile "a fixint then trailing bytes" '^closed$' "$(frame 0001020304)"
hostile "array32 claiming 4G items" '^closed$' "$(frame ddffffffff)"
hostile "map32 claiming 4G items" '^closed$' "$(frame dfffffffff)"
hostile "str32 claiming 4 GB" '^closed$' "$(frame dbffffffff41)"
hostile "maps nested 17 deep" '^closed$' "$(frame "$(printf '81a161%.0s' $(seq 16))81a16101")"
hostile "a truncated frame, then hang up" '^sent$' "00000064${GOOD}" --then-close
hostile "a header cut short, then hang up" '^sent$' 0000 --then-close
hostile "the reserved byte 0xc1" '^closed$' "$(frame c1)"
hostile "an array at the top level" '^(closed|reply [1-9][0-9]*(\+closed)?)$' "$(frame 93010203)"
hostile "a string at the top level" '^(closed|reply [1-9][0-9]*(\+closed)?)$' "$(frame a3616263)"
hostile "a map with an integer key" '^(closed|reply [1-9][0-9]*(\+closed)?)$' "$(frame 8201010202)"
hostile "protocol version 99" '^reply 6(\+closed)?$' "$(frame 82a17663a26f70a6737461747573)"
hostile "an unknown op" '^reply 1(\+closed)?$' "$(frame 82a17601a26f70a3666f6f)"

diag "tokqd survived $survived hostile frames"
tqj status
is "$rc" 0 "tokqd is still up after all of them"
is "$(jqv .events)" 0 "and none of them recorded anything"

stop_tokqd
done_testing
