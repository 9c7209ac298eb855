#!/usr/bin/env python3
"""slow_nonblocking_reader.py: a caller whose end of tokq's stdout is a
non-blocking pipe, read slowly.

    slow_nonblocking_reader.py LINES -- COMMAND...

Runs COMMAND with stdin from the file LINES and stdout on a pipe set
O_NONBLOCK (as some event loops leave the pipes they hand a child), then
waits a second before reading, so the pipe fills and COMMAND's writes meet
EAGAIN; reads it a little at a time until EOF.  Prints COMMAND's exit
status on the first line, then what it wrote, unchanged.  Stdlib only.
"""
import fcntl
import os
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: slow_nonblocking_reader.py LINES -- COMMAND...")
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    with open(sys.argv[1], "rb") as inp:
        p = subprocess.Popen(sys.argv[3:], stdin=inp, stdout=w)
    os.close(w)
    time.sleep(1.0)
    data = bytearray()
    with os.fdopen(r, "rb", buffering=0) as f:
        while True:
            chunk = f.read(4096)
            if not chunk:
                break
            data += chunk
            time.sleep(0.0002)
    sys.stdout.buffer.write(b"%d\n" % p.wait() + bytes(data))


if __name__ == "__main__":
    main()
