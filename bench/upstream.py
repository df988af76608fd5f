#!/usr/bin/env python3
"""Loopback upstream server for bench/proxy.sh.

Listens on 127.0.0.1 (ephemeral ports) and prints one line "BULK_PORT RATE_PORT DNS_PORT" on
stdout once all are listening. It exits by itself after --lifetime seconds (default 1800), or when
stdin reaches end of file (the script that started it holds the other end).

Bulk port (one thread per connection, blocking sockets): the client sends one line
"BULK <n>\n"; the server sends n bytes from a preallocated buffer and closes.

Rate port (one epoll loop on raw descriptors): per connection, the server reads until the end of the
request headers ("\r\n\r\n") and answers a small HTTP/1.1 response with "Connection: close",
then closes. A connection that sends "HOLD\n" instead is kept open, silently, until the client
closes it (used to hold open tunnels for the memory measurement).

DNS port (UDP, one thread): answers every query with its question and one A record,
127.0.0.1 (the baseline for the transparent path's DNS answers: a round trip on loopback to a
responder that decides nothing).
"""
import argparse
import os
import resource
import select
import socket
import sys
import threading
import time

CHUNK = 1 << 20  # bytes per send() of the bulk stream
BUF = memoryview(b"\xa5" * (4 * CHUNK))
BODY = b"ok\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(BODY)) + BODY


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def bulk_conn(conn):
    try:
        conn.settimeout(120)
        data = b""
        while b"\n" not in data and len(data) < 256:
            got = conn.recv(256)
            if not got:
                return
            data += got
        words = data.split(b"\n", 1)[0].split()
        if len(words) != 2 or words[0] != b"BULK":
            return
        left = int(words[1])
        off = 0
        while left > 0:
            n = min(left, CHUNK)
            if off + n > len(BUF):
                off = 0
            conn.sendall(BUF[off:off + n])
            off += n
            left -= n
        conn.shutdown(socket.SHUT_WR)
        # Wait for the client's close so the last bytes are not reset away.
        while conn.recv(65536):
            pass
    except OSError:
        pass
    finally:
        conn.close()


def bulk_server(lsock):
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=bulk_conn, args=(conn,), daemon=True).start()


def rate_loop(lsock, lifetime):
    """The rate server: one epoll loop on raw file descriptors (much cheaper per connection
    than asyncio, so the upstream is not what limits the connection-rate measurement)."""
    ep = select.epoll()
    lfd = lsock.fileno()
    lsock.setblocking(False)
    ep.register(lfd, select.EPOLLIN)
    stdin = sys.stdin.fileno()
    ep.register(stdin, select.EPOLLIN)
    bufs = {}        # fd -> bytes received so far, or None when holding
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline:
        for fd, _ in ep.poll(1.0):
            if fd == lfd:
                while True:
                    try:
                        cfd, _ = lsock._accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # EMFILE and friends: try again on the next event
                        break
                    ep.register(cfd, select.EPOLLIN)
                    bufs[cfd] = b""
            elif fd == stdin:
                if not os.read(stdin, 4096):
                    return
            else:
                try:
                    data = os.read(fd, 16384)
                except OSError:
                    data = b""
                buf = bufs[fd]
                if not data:
                    ep.unregister(fd)
                    os.close(fd)
                    del bufs[fd]
                    continue
                if buf is None:
                    continue  # holding: ignore anything else
                buf += data
                if buf.startswith(b"HOLD\n"):
                    bufs[fd] = None
                elif b"\r\n\r\n" in buf:
                    try:
                        os.write(fd, RESPONSE)  # small: a fresh socket's buffer takes it
                    except OSError:
                        pass
                    ep.unregister(fd)
                    os.close(fd)
                    del bufs[fd]
                elif len(buf) > 16384:
                    ep.unregister(fd)
                    os.close(fd)
                    del bufs[fd]
                else:
                    bufs[fd] = buf


def dns_server(usock):
    while True:
        q, peer = usock.recvfrom(4096)
        if len(q) < 17:
            continue
        end = 12
        while end < len(q) and q[end] != 0:
            end += q[end] + 1
        question = q[12:end + 5]
        answer = (q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question +
                  b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01")
        usock.sendto(answer, peer)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bulk-port", type=int, default=0)
    p.add_argument("--rate-port", type=int, default=0)
    p.add_argument("--lifetime", type=float, default=1800.0)
    args = p.parse_args()
    raise_nofile()

    blsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blsock.bind(("127.0.0.1", args.bulk_port))
    blsock.listen(128)
    threading.Thread(target=bulk_server, args=(blsock,), daemon=True).start()

    rlsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    rlsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rlsock.bind(("127.0.0.1", args.rate_port))
    rlsock.listen(4096)
    usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    usock.bind(("127.0.0.1", 0))
    threading.Thread(target=dns_server, args=(usock,), daemon=True).start()
    print(blsock.getsockname()[1], rlsock.getsockname()[1], usock.getsockname()[1], flush=True)
    rate_loop(rlsock, args.lifetime)


if __name__ == "__main__":
    main()
