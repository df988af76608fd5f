#!/usr/bin/env bash
# Network fixture for the integration suite (DESIGN §8). Needs root.
#
#   FENCE_NET_STATE=/some/dir/state net_fixture.sh up     # create, print the state file path
#   FENCE_NET_STATE=/some/dir/state net_fixture.sh down   # tear down (idempotent)
#
# `up` creates two network namespaces joined by a veth pair:
#   host     (fence and pytest run here): 198.51.100.1/24, 2001:db8::1/64, lo
#   upstream (the "internet"):            198.51.100.10/24, 198.51.100.11/24, 2001:db8::10/64, lo
# Neither has a default route, so nothing can leave these two namespaces.
#
# Upstream (each server runs under `timeout`, and `down` kills it):
#   HTTP  on 198.51.100.10:80, :8080, 198.51.100.11:80, [2001:db8::10]:80
#   HTTPS on 198.51.100.10:443, 198.51.100.11:443, [2001:db8::10]:443 (self-signed cert: cert.pem)
#   DNS   on 198.51.100.10:53/udp answering NXDOMAIN to everything except A queries for names
#         under corp.test (answered 198.51.100.11); the host namespace's resolv.conf points
#         there with `search corp.test`, so unknown names fail fast and locally and a resolver
#         that applies the search list is caught; every datagram is logged to dns.log (and
#         its question name as "qname").
#   Served files: /hello.txt ("hello from upstream\n"), /big.bin (10 MiB, sha256 in the state
#   file), /repo.git (bare git repository, dumb HTTP), /simple/ (PEP 503 index with the wheel
#   fencefixture-1.0), /echo (JSON: request line, headers, local and peer address).
#   Every response carries `X-Upstream-Addr: <local ip>:<port>`. Requests go to access.log.
# Host namespace: canary listeners on 127.0.0.1, ::1, 198.51.100.1 and 2001:db8::1 (TCP ports
#   CANARY_PORTS, UDP 53) that log every connection/datagram to canary.log, which must stay
#   empty. /etc/netns/<host-ns>/{hosts,resolv.conf} map the test names (see write_hosts).
#
# The state file (KEY=VALUE lines, readable by everyone) describes all of this for the tests.
set -euo pipefail

cmd=${1:-}
if [[ $cmd != up && $cmd != down ]]; then
  echo "usage: FENCE_NET_STATE=FILE $0 up|down" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "$0: needs root" >&2
  exit 1
fi
state=${FENCE_NET_STATE:-}
if [[ -z $state ]]; then
  echo "$0: set FENCE_NET_STATE to the path of the state file" >&2
  exit 2
fi
PY=/usr/bin/python3
LIFETIME=${FENCE_NET_LIFETIME:-3600}
CANARY_PORTS="80,443,8080,1080,3128,18080"

statevar() { # statevar KEY -> value from the state file (empty if absent)
  [[ -f $state ]] || return 0
  sed -n "s/^$1=//p" "$state" | head -n1
}

down() {
  [[ -f $state ]] || return 0
  local host_ns up_ns dir pids pid
  host_ns=$(statevar HOST_NS)
  up_ns=$(statevar UPSTREAM_NS)
  dir=$(statevar DIR)
  # Servers we started (their pids are in the state file), then anything else still inside
  # the two namespaces (only processes started for this fixture can be there).
  pids=$(statevar SERVER_PIDS)
  for pid in ${pids//,/ }; do kill "$pid" 2>/dev/null || true; done
  for ns in "$host_ns" "$up_ns"; do
    [[ -n $ns ]] || continue
    if ip netns list | grep -qw -- "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    fi
  done
  for pid in ${pids//,/ }; do kill -KILL "$pid" 2>/dev/null || true; done
  for ns in "$host_ns" "$up_ns"; do
    [[ -n $ns ]] || continue
    ip netns del "$ns" 2>/dev/null || true
    [[ -d /etc/netns/$ns ]] && rm -rf "/etc/netns/$ns"
  done
  rmdir /etc/netns 2>/dev/null || true
  # The state directory: only remove what `up` created (it marks it).
  if [[ -n $dir && -f $dir/.fence-net-fixture ]]; then
    rm -rf "$dir"
  fi
  rm -f "$state"
}

if [[ $cmd == down ]]; then
  down
  exit 0
fi

# ---------------------------------------------------------------------------------------- up
if [[ -f $state ]]; then
  host_ns=$(statevar HOST_NS)
  if [[ -n $host_ns ]] && ip netns list | grep -qw -- "$host_ns"; then
    echo "$state"   # already up
    exit 0
  fi
  down
fi

suffix=$(printf '%04x%04x' $$ $((RANDOM)))
suffix=${suffix: -6}
host_ns=fnc${suffix}h
up_ns=fnc${suffix}u
veth_host=fnc${suffix}a
veth_up=fnc${suffix}b
dir=$(mktemp -d /tmp/fence-net.XXXXXX)
touch "$dir/.fence-net-fixture"
mkdir -p "$(dirname "$state")"

# Write the state early so that `down` can clean up after a failure below.
cat >"$state" <<EOF
HOST_NS=$host_ns
UPSTREAM_NS=$up_ns
DIR=$dir
EOF
trap 'rc=$?; if [[ $rc -ne 0 ]]; then echo "$0: up failed, tearing down" >&2; down; fi' EXIT

ip netns add "$host_ns"
ip netns add "$up_ns"
ip link add "$veth_host" type veth peer name "$veth_up"
ip link set "$veth_host" netns "$host_ns"
ip link set "$veth_up" netns "$up_ns"
H() { ip netns exec "$host_ns" "$@"; }
U() { ip netns exec "$up_ns" "$@"; }
H ip link set lo up
U ip link set lo up
H ip addr add 198.51.100.1/24 dev "$veth_host"
H ip -6 addr add 2001:db8::1/64 dev "$veth_host" nodad
U ip addr add 198.51.100.10/24 dev "$veth_up"
U ip addr add 198.51.100.11/24 dev "$veth_up"
U ip -6 addr add 2001:db8::10/64 dev "$veth_up" nodad
H ip link set "$veth_host" up
U ip link set "$veth_up" up

# Name resolution inside the host namespace (`ip netns exec` bind-mounts these over /etc).
mkdir -p "/etc/netns/$host_ns"
cat >"/etc/netns/$host_ns/hosts" <<'EOF'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
198.51.100.10	allowed.example
198.51.100.10	www.allowed.example
198.51.100.10	deep.sub.allowed.example
198.51.100.10	other.example
198.51.100.10	denied.example
198.51.100.11	alt.example
2001:db8::10	v6.example
127.0.0.1	loopback.example
10.0.0.5	private.example
169.254.169.254	linklocal.example
198.51.100.10	mixed.example
10.0.0.5	mixed.example
198.51.100.1	selfhost.example
EOF
# The search list is hostile on purpose: fence must resolve exactly the name it decided on,
# never NAME.corp.test (which the DNS responder below answers).
cat >"/etc/netns/$host_ns/resolv.conf" <<'EOF'
nameserver 198.51.100.10
search corp.test
options timeout:1 attempts:1 ndots:5
EOF
chmod -R a+rX "/etc/netns/$host_ns"

# ----------------------------------------------------------------------------- served content
www=$dir/www
mkdir -p "$www"
printf 'hello from upstream\n' >"$www/hello.txt"
big_sha=$("$PY" - "$www/big.bin" <<'EOF'
import hashlib, random, sys
data = random.Random(20240601).randbytes(10 << 20)
open(sys.argv[1], "wb").write(data)
print(hashlib.sha256(data).hexdigest())
EOF
)
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout "$dir/key.pem" -out "$dir/cert.pem" \
  -subj /CN=allowed.example \
  -addext subjectAltName=DNS:allowed.example,DNS:*.allowed.example,DNS:alt.example,DNS:v6.example \
  >/dev/null 2>&1

# A bare repository served over dumb HTTP.
src=$dir/repo-src
git init -q -b main "$src"
printf 'fence fixture repository\n' >"$src/README"
git -C "$src" add README
git -C "$src" -c user.name=fixture -c user.email=fixture@allowed.example \
  commit -q -m "fixture commit"
git clone -q --bare "$src" "$www/repo.git"
git -C "$www/repo.git" update-server-info
rm -rf "$src"

# A PEP 503 index with one pure-Python wheel (built by hand: a wheel is a zip file).
"$PY" - "$www/simple" <<'EOF'
import base64, hashlib, os, sys, zipfile
root = sys.argv[1]
pkg = os.path.join(root, "fencefixture")
os.makedirs(pkg, exist_ok=True)
name = "fencefixture-1.0-py3-none-any.whl"
files = {
    "fencefixture/__init__.py": b"VALUE = 'fence fixture wheel'\n",
    "fencefixture-1.0.dist-info/METADATA":
        b"Metadata-Version: 2.1\nName: fencefixture\nVersion: 1.0\n",
    "fencefixture-1.0.dist-info/WHEEL":
        b"Wheel-Version: 1.0\nGenerator: fence-fixture\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for n, d in files.items():
    h = base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
    record.append(f"{n},sha256={h},{len(d)}")
record.append("fencefixture-1.0.dist-info/RECORD,,")
files["fencefixture-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
with zipfile.ZipFile(os.path.join(pkg, name), "w") as z:
    for n, d in files.items():
        z.writestr(n, d)
digest = hashlib.sha256(open(os.path.join(pkg, name), "rb").read()).hexdigest()
with open(os.path.join(pkg, "index.html"), "w") as f:
    f.write(f'<!DOCTYPE html><html><body><a href="{name}#sha256={digest}">{name}</a>'
            '</body></html>\n')
with open(os.path.join(root, "index.html"), "w") as f:
    f.write('<!DOCTYPE html><html><body><a href="fencefixture/">fencefixture</a>'
            '</body></html>\n')
EOF

# ---------------------------------------------------------------------------------- servers
cat >"$dir/upstream.py" <<'EOF'
import functools, http.server, json, socket, socketserver, ssl, sys, threading, time

www, certfile, keyfile, access_log, dns_log = sys.argv[1:6]
lock = threading.Lock()

def log(path, line):
    with lock, open(path, "a") as f:
        f.write(line + "\n")

class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def local(self):
        a = self.connection.getsockname()
        return f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}"
    def end_headers(self):
        self.send_header("X-Upstream-Addr", self.local())
        super().end_headers()
    def log_message(self, fmt, *args):
        pass
    def log_request(self, code="-", size="-"):
        log(access_log, json.dumps({"time": time.time(), "local": self.local(),
                                    "peer": self.client_address[0], "line": self.requestline,
                                    "host": self.headers.get("Host"), "code": str(code)}))
    def do_GET(self):
        if self.path.split("?")[0] == "/echo":
            body = json.dumps({"line": self.requestline, "headers": list(self.headers.items()),
                               "local": self.local(), "peer": self.client_address[0]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

def serve(addr, port, tls):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    cls = type("S", (Server,), {"address_family": family})
    srv = cls((addr, port), functools.partial(Handler, directory=www))
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        # Handshake in the handler thread, so one slow client cannot stall the others.
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.51.100.10", 53))
    while True:
        data, peer = s.recvfrom(4096)
        labels, i = [], 12
        try:
            while data[i]:
                labels.append(data[i + 1:i + 1 + data[i]].decode("latin-1"))
                i += data[i] + 1
            question = data[12:i + 5]
            qtype = int.from_bytes(data[i + 1:i + 3], "big")
        except IndexError:
            question = None
        qname = ".".join(labels).lower()
        log(dns_log, json.dumps({"time": time.time(), "peer": peer[0], "qname": qname,
                                 "data": data.decode("latin-1")}))
        if len(data) < 12 or question is None:
            continue
        rd = data[2] & 0x01
        if qname.endswith(".corp.test") and qtype == 1:
            # Same id, QR=1, RD copied, RA=1, NOERROR, one answer: A 198.51.100.11, TTL 5.
            answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04" + bytes([198, 51, 100, 11])
            s.sendto(data[:2] + bytes([0x80 | rd, 0x80]) + b"\x00\x01\x00\x01\x00\x00\x00\x00"
                     + question + answer, peer)
            continue
        # Same id, QR=1, RD copied, RA=1, RCODE=3 (NXDOMAIN), one question, no answers.
        s.sendto(data[:2] + bytes([0x80 | rd, 0x83]) + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question, peer)

for addr in ("198.51.100.10", "198.51.100.11", "2001:db8::10"):
    serve(addr, 80, False)
    serve(addr, 443, True)
serve("198.51.100.10", 8080, False)
threading.Thread(target=dns, daemon=True).start()
print("READY", flush=True)
threading.Event().wait()
EOF

cat >"$dir/canary.py" <<'EOF'
import json, select, socket, sys, time
log_path, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(",")]
socks = []
for addr in ("127.0.0.1", "::1", "198.51.100.1", "2001:db8::1"):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    for port in ports:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        socks.append(s)
    u = socket.socket(family, socket.SOCK_DGRAM)
    u.bind((addr, 53))
    socks.append(u)
print("READY", flush=True)
while True:
    ready, _, _ = select.select(socks, [], [])
    for s in ready:
        local = s.getsockname()
        if s.type == socket.SOCK_STREAM:
            conn, peer = s.accept()
            conn.close()
            rec = {"proto": "tcp", "local": f"{local[0]}:{local[1]}", "peer": peer[0]}
        else:
            data, peer = s.recvfrom(65536)
            rec = {"proto": "udp", "local": f"{local[0]}:{local[1]}", "peer": peer[0],
                   "data": data[:200].decode("latin-1")}
        rec["time"] = time.time()
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
EOF

: >"$dir/access.log"
: >"$dir/dns.log"
: >"$dir/canary.log"
chmod 644 "$dir/access.log" "$dir/dns.log" "$dir/canary.log"

start() { # start NS LOGNAME ARGS... -> pid of the backgrounded server
  local ns=$1 name=$2
  shift 2
  setsid ip netns exec "$ns" timeout -s KILL "$LIFETIME" "$@" \
    </dev/null >"$dir/$name.out" 2>&1 &
  echo $!
}
pid_up=$(start "$up_ns" upstream "$PY" -u "$dir/upstream.py" "$www" "$dir/cert.pem" "$dir/key.pem" \
  "$dir/access.log" "$dir/dns.log")
pid_canary=$(start "$host_ns" canary "$PY" -u "$dir/canary.py" "$dir/canary.log" "$CANARY_PORTS")

ready() { grep -q READY "$dir/$1.out" 2>/dev/null; }
for _ in $(seq 100); do
  ready upstream && ready canary && break
  sleep 0.1
done
if ! ready upstream || ! ready canary; then
  echo "$0: servers did not start:" >&2
  cat "$dir/upstream.out" "$dir/canary.out" >&2
  exit 1
fi
# The upstream answers from the host namespace (direct, no proxy).
H curl -sS --noproxy '*' --max-time 5 -o /dev/null http://198.51.100.10/hello.txt

# The private key is not something the tests need; everything else is world-readable.
chmod 755 "$dir"
chmod -R a+rX "$www"
chmod 644 "$dir/cert.pem" "$dir/upstream.out" "$dir/canary.out"
chmod 600 "$dir/key.pem"

cat >"$state" <<EOF
HOST_NS=$host_ns
UPSTREAM_NS=$up_ns
DIR=$dir
SERVER_PIDS=$pid_up,$pid_canary
HOST_ADDR=198.51.100.1
HOST_ADDR6=2001:db8::1
UPSTREAM_ADDR=198.51.100.10
UPSTREAM_ADDR2=198.51.100.11
UPSTREAM_ADDR6=2001:db8::10
HTTP_PORT=80
HTTP_ALT_PORT=8080
HTTPS_PORT=443
DNS_PORT=53
CANARY_PORTS=$CANARY_PORTS
CANARY_LOG=$dir/canary.log
ACCESS_LOG=$dir/access.log
DNS_LOG=$dir/dns.log
CERT=$dir/cert.pem
WWW=$www
HELLO=hello from upstream
BIG_SIZE=$((10 << 20))
BIG_SHA256=$big_sha
EOF
chmod 644 "$state"
trap - EXIT
echo "$state"
