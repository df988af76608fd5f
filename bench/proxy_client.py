#!/usr/bin/env python3
"""Client for bench/proxy.sh: talks to bench/upstream.py, directly or through an HTTP proxy's
CONNECT tunnel (the proxy address is given explicitly; proxy environment variables are
ignored, so NO_PROXY inside the sandbox does not matter).

  proxy_client.py bulk --target 127.0.0.1:PORT --bytes N [--proxy 127.0.0.1:3128]
  proxy_client.py rate --target 127.0.0.1:PORT --count N --concurrency C [--proxy ...]
  proxy_client.py hold --target 127.0.0.1:PORT --count N [--proxy ...]
  proxy_client.py dns --name NAME --count N [--dns-server 127.0.0.53:53]

--transparent (bulk, rate): no proxy; the target's host is a name that is looked up first with
one DNS query to --dns-server (inside fence: the transparent path's DNS), and the connections go
to the address it answers (a synthetic address: the transparent path redirects them).
dns: N sequential A queries for NAME, each waiting for its answer; prints their latencies.

bulk and rate print "RESULT {json}" on stdout (with --control they first print "START" and
wait for a line on stdin, and wait for one more line after the result, so that the caller can
sample the proxy's CPU time around exactly the measured part). hold is driven through stdin/stdout: it prints
"IDLE", waits for a line on stdin, opens N tunnels (sending "HOLD" through each, so the
upstream keeps them open silently), prints "READY {json}", waits for a line, closes them all,
prints "CLOSED", waits for a line (or end of file) and exits. Every socket operation has a
timeout, so nothing waits forever.
"""
import argparse
import asyncio
import errno
import json
import resource
import select
import socket
import sys
import time

TIMEOUT = 30.0
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: fence-bench\r\n\r\n"


def addr(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = min(hard, max(soft, want)) if hard != resource.RLIM_INFINITY else max(soft, want)
    if new != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


def connect_request(target):
    return ("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (*target, *target)).encode()


class Refused(Exception):
    """The proxy answered the CONNECT with something other than 200."""


def status_of(head):
    parts = head.split(b"\r\n", 1)[0].split(b" ", 2)
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0


# --- blocking helpers (bulk, sequential rate) ---------------------------------------------------

def open_blocking(target, proxy):
    s = socket.create_connection(proxy or target, timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if proxy:
        s.sendall(connect_request(target))
        head = b""
        while b"\r\n\r\n" not in head:
            got = s.recv(4096)
            if not got:
                raise Refused("proxy closed before answering CONNECT")
            head += got
        if status_of(head) != 200:
            s.close()
            raise Refused(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return s


def do_bulk(args):
    target, proxy = addr(args.target), args.proxy and addr(args.proxy)
    s = open_blocking(target, proxy)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    total = 0
    t0 = time.perf_counter()
    s.sendall(b"BULK %d\n" % args.bytes)
    while total < args.bytes:
        n = s.recv_into(view)
        if n == 0:
            break
        total += n
    secs = time.perf_counter() - t0
    s.close()
    return {"mode": "bulk", "via": "proxy" if proxy else "direct", "bytes": total,
            "expected": args.bytes, "seconds": secs,
            "MBps": total / secs / 1e6 if secs > 0 else 0.0}


def one_blocking(target, proxy):
    t0 = time.perf_counter()
    s = open_blocking(target, proxy)
    try:
        s.sendall(REQUEST)
        resp = b""
        while True:
            got = s.recv(4096)
            if not got:
                break
            resp += got
    finally:
        s.close()
    if status_of(resp) != 200:
        raise Refused("upstream answered %r" % resp[:40])
    return time.perf_counter() - t0


# --- asyncio helpers (concurrent rate, hold) -------------------------------------------------------

async def open_async(loop, target, proxy):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(s, proxy or target)
        if proxy:
            await loop.sock_sendall(s, connect_request(target))
            head = b""
            while b"\r\n\r\n" not in head:
                got = await loop.sock_recv(s, 4096)
                if not got:
                    raise Refused("proxy closed before answering CONNECT")
                head += got
            if status_of(head) != 200:
                raise Refused(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return s
    except BaseException:
        s.close()
        raise


async def one_async(loop, target, proxy):
    t0 = time.perf_counter()
    s = await open_async(loop, target, proxy)
    try:
        await loop.sock_sendall(s, REQUEST)
        resp = b""
        while True:
            got = await loop.sock_recv(s, 4096)
            if not got:
                break
            resp += got
    finally:
        s.close()
    if status_of(resp) != 200:
        raise Refused("upstream answered %r" % resp[:40])
    return time.perf_counter() - t0


def error_key(exc):
    if isinstance(exc, Refused):
        return "refused: " + str(exc)[:60]
    if isinstance(exc, OSError) and exc.errno:
        return "%s (errno %d)" % (type(exc).__name__, exc.errno)
    return type(exc).__name__


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(round(q * (len(sorted_vals) - 1))))]


def rate_epoll(target, proxy, count, concurrency, lat, errors):
    """count transactions, concurrency at a time, on one epoll loop (raw non-blocking sockets:
    much cheaper per connection than asyncio, so the client is not what limits the rate)."""
    ep = select.epoll()
    conns = {}                      # fd -> [sock, state, t0, buf]
    first = connect_request(target) if proxy else REQUEST
    dest = proxy or target
    left = count
    perf = time.perf_counter

    def fail(fd, key):
        c = conns.pop(fd)
        ep.unregister(fd)
        c[0].close()
        errors[key] = errors.get(key, 0) + 1

    def start():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = perf()
        err = s.connect_ex(dest)
        if err not in (0, errno.EINPROGRESS):
            s.close()
            key = "connect: %s" % errno.errorcode.get(err, err)
            errors[key] = errors.get(key, 0) + 1
            return
        conns[s.fileno()] = [s, 0, t0, b""]
        ep.register(s.fileno(), select.EPOLLOUT)

    t_begin = perf()
    while left > 0 and len(conns) < concurrency:
        left -= 1
        start()
    while conns:
        for fd, ev in ep.poll(1.0):
            c = conns.get(fd)
            if c is None:
                continue
            s = c[0]
            try:
                if c[1] == 0:                       # connected (or failed)
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        fail(fd, "connect: %s" % errno.errorcode.get(err, err))
                    else:
                        s.send(first)
                        c[1] = 1 if proxy else 2
                        ep.modify(fd, select.EPOLLIN)
                elif c[1] == 1:                     # reading the proxy's CONNECT answer
                    got = s.recv(4096)
                    if not got:
                        fail(fd, "refused: proxy closed before answering CONNECT")
                        continue
                    c[3] += got
                    if b"\r\n\r\n" in c[3]:
                        if status_of(c[3]) != 200:
                            fail(fd, "refused: " + c[3].split(b"\r\n", 1)[0].decode(
                                errors="replace")[:60])
                        else:
                            c[1], c[3] = 2, b""
                            s.send(REQUEST)
                else:                               # reading the response until EOF
                    got = s.recv(4096)
                    if got:
                        c[3] += got
                        continue
                    if status_of(c[3]) != 200:
                        fail(fd, "bad response %r" % c[3][:30])
                    else:
                        lat.append(perf() - c[2])
                        del conns[fd]
                        ep.unregister(fd)
                        s.close()
            except OSError as exc:
                fail(fd, error_key(exc))
            while left > 0 and len(conns) < concurrency:
                left -= 1
                start()
        now = perf()
        for fd in [fd for fd, c in conns.items() if now - c[2] > TIMEOUT]:
            fail(fd, "timeout")
    ep.close()
    return perf() - t_begin


def do_rate(args):
    target, proxy = addr(args.target), args.proxy and addr(args.proxy)
    raise_nofile(args.concurrency * 2 + 64)
    lat, errors = [], {}
    if args.concurrency <= 1:
        t0 = time.perf_counter()
        for _ in range(args.count):
            try:
                lat.append(one_blocking(target, proxy))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors[error_key(exc)] = errors.get(error_key(exc), 0) + 1
        wall = time.perf_counter() - t0
    else:
        wall = rate_epoll(target, proxy, args.count, args.concurrency, lat, errors)
    lat.sort()
    ms = lambda v: None if v is None else v * 1e3  # noqa: E731
    return {"mode": "rate", "via": "proxy" if proxy else "direct",
            "concurrency": args.concurrency, "count": args.count, "ok": len(lat),
            "errors": errors, "seconds": wall, "per_s": len(lat) / wall if wall > 0 else 0.0,
            "p50_ms": ms(pct(lat, 0.50)), "p90_ms": ms(pct(lat, 0.90)),
            "p99_ms": ms(pct(lat, 0.99)), "max_ms": ms(lat[-1] if lat else None)}


def do_hold(args):
    target, proxy = addr(args.target), args.proxy and addr(args.proxy)
    limit = raise_nofile(args.count + 64)
    print("IDLE", json.dumps({"nofile": limit}), flush=True)
    sys.stdin.readline()
    socks, errors = [], {}

    async def run():
        loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(args.concurrency)

        async def one():
            async with sem:
                try:
                    s = await asyncio.wait_for(open_async(loop, target, proxy), TIMEOUT)
                    await loop.sock_sendall(s, b"HOLD\n")
                    socks.append(s)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors[error_key(exc)] = errors.get(error_key(exc), 0) + 1
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(args.count)))
        return time.perf_counter() - t0
    secs = asyncio.run(run())
    # A tunnel the proxy gave up on reads as end of file: count the ones still open.
    time.sleep(0.2)
    alive = 0
    for s in socks:
        try:
            alive += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print("READY", json.dumps({"requested": args.count, "opened": len(socks), "alive": alive,
                               "errors": errors, "seconds": secs}), flush=True)
    sys.stdin.readline()
    for s in socks:
        s.close()
    print("CLOSED", flush=True)
    sys.stdin.readline()
    return 0


def dns_query(name, qid):
    labels = b"".join(bytes([len(l)]) + l.encode() for l in name.split("."))
    return qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + \
        b"\x00\x00\x01\x00\x01"


def dns_lookup(sock, server, name, qid):
    """One A query; returns the first address of the answer (or None)."""
    sock.sendto(dns_query(name, qid), server)
    while True:
        reply = sock.recv(4096)
        if reply[:2] == qid.to_bytes(2, "big"):
            break
    if reply[3] & 15 or len(reply) < 16 or reply[7] == 0:
        return None
    return socket.inet_ntoa(reply[-4:])


def do_dns(args):
    server = addr(args.dns_server)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    lat, errors = [], {}
    t_begin = time.perf_counter()
    for i in range(args.count):
        t0 = time.perf_counter()
        try:
            if dns_lookup(s, server, args.name, i & 0xffff) is None:
                errors["no address"] = errors.get("no address", 0) + 1
                continue
        except OSError as exc:
            errors[error_key(exc)] = errors.get(error_key(exc), 0) + 1
            continue
        lat.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_begin
    lat.sort()
    ms = lambda v: None if v is None else v * 1e3  # noqa: E731
    return {"mode": "dns", "count": args.count, "ok": len(lat), "errors": errors,
            "seconds": wall, "per_s": len(lat) / wall if wall > 0 else 0.0,
            "p50_ms": ms(pct(lat, 0.50)), "p90_ms": ms(pct(lat, 0.90)),
            "p99_ms": ms(pct(lat, 0.99)), "max_ms": ms(lat[-1] if lat else None)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("bulk", "rate", "hold", "dns"))
    p.add_argument("--target", help="upstream host:port")
    p.add_argument("--transparent", action="store_true",
                   help="look the target's host up by DNS (--dns-server) and connect directly")
    p.add_argument("--dns-server", default="127.0.0.53:53")
    p.add_argument("--name", help="dns: the name to ask for")
    p.add_argument("--proxy", help="HTTP proxy host:port (CONNECT); default: direct")
    p.add_argument("--bytes", type=int, default=1 << 30)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--control", action="store_true",
                   help="bulk/rate: print START and wait for a line on stdin before measuring, "
                        "and wait for another line after printing the result")
    args = p.parse_args()
    if args.transparent:
        host, port = addr(args.target)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(TIMEOUT)
        found = dns_lookup(s, addr(args.dns_server), host, 1)
        if found is None:
            print("no address for %s from %s" % (host, args.dns_server), file=sys.stderr)
            return 1
        args.target = "%s:%d" % (found, port)
    if args.mode == "hold":
        return do_hold(args)
    if args.control:
        print("START", flush=True)
        sys.stdin.readline()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    result = {"bulk": do_bulk, "rate": do_rate, "dns": do_dns}[args.mode](args)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    result["client_cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    print("RESULT", json.dumps(result), flush=True)
    if args.control:
        sys.stdin.readline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
