"""Runs inside fence (bench/connect.sh): connects N times to a unix socket and N times to a TCP
port, both served by a forked process in the same sandbox, and prints the rates."""
import os
import select
import socket
import sys
import time

n = int(sys.argv[1])
unix_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "bench-connect.sock")
userver = socket.socket(socket.AF_UNIX)
userver.bind(unix_path)
userver.listen(128)
tserver = socket.socket()
tserver.bind(("127.0.0.1", 0))
tserver.listen(128)
tport = tserver.getsockname()[1]

pid = os.fork()
if pid == 0:
    while True:
        ready, _, _ = select.select([userver, tserver], [], [])
        for s in ready:
            s.accept()[0].close()

def rate(family, address):
    start = time.perf_counter()
    for _ in range(n):
        s = socket.socket(family)
        s.connect(address)
        s.close()
    return n / (time.perf_counter() - start)

rate(socket.AF_UNIX, unix_path)  # warm-up
print(f"unix {rate(socket.AF_UNIX, unix_path):.0f}", flush=True)
print(f"tcp {rate(socket.AF_INET, ('127.0.0.1', tport)):.0f}", flush=True)
os.kill(pid, 9)
