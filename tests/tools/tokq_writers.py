#!/usr/bin/env python3
"""tokq_writers.py: bots that record usage and never give up on a record.

    tokq_writers.py TOKQ SOCKET[,SOCKET...] NWRITERS STOPFILE

NWRITERS threads each run `tokq record` in a loop for user wN with unique
keys wN-0, wN-1, ...; each record is retried with the same key and the same
fields until tokq exits 0 (acknowledged).  With several sockets (tokqd on
several hosts sharing one PostgreSQL store) the attempts of a record go to
each in turn, so a retry reaches another daemon than the first attempt.
Exit 69 (that tokqd down) and 75 (hung up before answering, busy, or the
store unreachable) are expected while daemons are killed; anything else is
counted as unexpected.  Once STOPFILE exists, each writer finishes the
record it is on (retrying until acknowledged) and stops.

Prints one JSON object: per writer the user, acknowledged records, their
token sum, how many acknowledgements said "duplicate" (a retry of a record
whose first reply was lost), duplicates on a first attempt (must be 0), and
the exit codes seen.
"""
import json
import os
import subprocess
import sys
import threading
import time


def tokens_for(w, j):
    return 1 + (w * 7 + j * 13) % 97


def writer(tokq, socks, w, stopfile, res):
    user = 'w%d' % w
    r = {'user': user, 'acked': 0, 'tokens': 0, 'duplicates': 0,
         'first_try_duplicates': 0, 'rcs': {}, 'unexpected': [],
         'longest_retry_s': 0.0}
    j = 0
    while not os.path.exists(stopfile):
        key = '%s-%d' % (user, j)
        tok = tokens_for(w, j)
        attempt = 0
        t0 = time.monotonic()
        while True:
            sock = socks[(w + j + attempt) % len(socks)]
            attempt += 1
            cmd = [tokq, '--socket', sock, '--json', 'record', '--user', user,
                   '--model', 'm1', '--prompt', str(tok), '--completion', '0',
                   '--key', key]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            r['rcs'][str(p.returncode)] = r['rcs'].get(str(p.returncode), 0) + 1
            if p.returncode == 0:
                break
            if p.returncode not in (69, 75):
                r['unexpected'].append('%s: rc %d: %s' % (
                    key, p.returncode, p.stderr.decode(errors='replace').strip()))
                if len(r['unexpected']) > 20:
                    res[w] = r
                    return
            if time.monotonic() - t0 > 30:
                r['unexpected'].append('%s: not acknowledged within 30 s' % key)
                res[w] = r
                return
            time.sleep(0.02)
        r['longest_retry_s'] = round(max(r['longest_retry_s'], time.monotonic() - t0), 3)
        try:
            reply = json.loads(p.stdout)
        except ValueError:
            r['unexpected'].append('%s: reply is not JSON' % key)
            reply = {}
        if reply.get('duplicate'):
            r['duplicates'] += 1
            if attempt == 1:
                r['first_try_duplicates'] += 1
        if reply.get('total') != tok:
            r['unexpected'].append('%s: total %r, sent %d' % (key, reply.get('total'), tok))
        r['acked'] += 1
        r['tokens'] += tok
        j += 1
    res[w] = r


def main():
    tokq, socks, n, stopfile = sys.argv[1], sys.argv[2].split(','), int(sys.argv[3]), sys.argv[4]
    res = [None] * n
    ts = [threading.Thread(target=writer, args=(tokq, socks, w, stopfile, res))
          for w in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps({'writers': res}))


main()
