"""The audit trail: schema of every record, the config field, runs sharing one file, syslog
(RFC 5424 on a unix socket the test owns), the command policy at preflight, and no lost
records under load."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import PY, fmt

EXIT_BLOCKED = 120

# Required fields and their types, per event (docs/audit-log.md).
SCHEMA = {
    "session_start": {"version": str, "argv": list, "cwd": str, "uid": int, "pid": int,
                      "policy_sha256": str, "features": dict},
    "sandbox_ready": {"command_pid": int, "landlock_abi": int, "seccomp": bool},
    "network": {"protocol": str, "host": str, "port": int, "resolved": str, "connected": str,
                "rule": str, "verdict": str, "reason": str, "bytes_up": int, "bytes_down": int,
                "duration_ms": int},
    "command": {"source": str, "argv": list, "verdict": str},
    "violation": {"kind": str, "operation": str, "sandbox_pid": int, "comm": str, "errno": int},
    "worker_fault": {"what": str},
    "session_end": {"duration_ms": int, "counts": dict},
}
COMMON = {"v": int, "time": str, "event": str, "pid": int}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def check_record(r: dict) -> None:
    for key, kind in COMMON.items():
        assert isinstance(r.get(key), kind), (key, r)
    assert r["v"] == 1 and TIME.match(r["time"]), r
    assert r["event"] in SCHEMA, r
    for key, kind in SCHEMA[r["event"]].items():
        assert isinstance(r.get(key), kind), (r["event"], key, r)
    if r["event"] == "session_end":
        assert ("exit_code" in r) != ("signal" in r), r
        for key in ("network_allowed", "network_denied", "inbound", "transparent", "dns",
                    "worker_faults", "violations", "commands_checked", "commands_blocked"):
            assert isinstance(r["counts"].get(key), int), (key, r)
    if "verdict" in r:
        assert r["verdict"] in ("allow", "deny"), r


def records(path: Path) -> list[dict]:
    out = [json.loads(line) for line in path.read_text().splitlines()]
    for r in out:
        check_record(r)
    return out


def test_records_of_a_plain_run_follow_the_schema(fence, tmp_path):
    log = tmp_path / "audit.jsonl"
    cp = fence.run(["true"], config={}, flags=["--audit-log", str(log)])
    assert cp.returncode == 0, fmt(cp)
    recs = records(log)
    assert [r["event"] for r in recs] == ["session_start", "sandbox_ready", "session_end"], recs
    start, ready, end = recs
    assert start["argv"] == ["true"] and start["cwd"] == str(fence.work)
    assert start["uid"] == os.getuid() and len(start["policy_sha256"]) == 64
    assert start["version"] and start["features"]["landlock_abi"] >= 1
    assert ready["landlock_abi"] >= 1 and ready["seccomp"] is True
    assert end["exit_code"] == 0
    assert len({r["pid"] for r in recs}) == 1


def test_config_field_names_the_audit_file(fence, work):
    cp = fence.run(["sh", "-c", "echo x >> audit.jsonl; rm -f audit.jsonl; echo done"],
                   config={"audit": {"file": "audit.jsonl"},
                           "filesystem": {"allowWrite": ["."]}})
    assert "done" in cp.stdout, fmt(cp)
    log = work / "audit.jsonl"
    recs = records(log)  # every line is still a record: the sandbox could not write or remove it
    assert recs[-1]["event"] == "session_end"
    assert "Read-only file system" in cp.stderr or "Device or resource busy" in cp.stderr, fmt(cp)


def test_command_line_wins_over_the_config_field(fence, work, tmp_path):
    log = tmp_path / "cli.jsonl"
    cp = fence.run(["true"], config={"audit": {"file": "cfg.jsonl"}},
                   flags=["--audit-log", str(log)])
    assert cp.returncode == 0, fmt(cp)
    assert log.exists() and not (work / "cfg.jsonl").exists()


def test_concurrent_runs_share_one_file(fence, tmp_path):
    log = tmp_path / "shared.jsonl"
    procs = [subprocess.Popen(fence.argv(["--", "sh", "-c", f"echo run{i}"], {},
                                         ["--audit-log", str(log)]),
                              cwd=str(fence.work), env=fence.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
             for i in range(10)]
    for p in procs:
        p.communicate(timeout=60)
        assert p.returncode == 0
    recs = records(log)  # every line parses: nothing interleaved
    by_pid: dict[int, list[str]] = {}
    for r in recs:
        by_pid.setdefault(r["pid"], []).append(r["event"])
    assert len(by_pid) == 10
    for events in by_pid.values():
        assert events == ["session_start", "sandbox_ready", "session_end"], by_pid


def test_unwritable_audit_file_stops_the_run(fence, tmp_path, work):
    # A writable working directory: "ran" is what the command would have left.
    cp = fence.run(["touch", str(work / "ran")], config={"filesystem": {"allowWrite": ["."]}},
                   flags=["--audit-log", str(tmp_path / "missing-dir" / "a.jsonl")])
    assert cp.returncode == 122, fmt(cp)
    assert not (work / "ran").exists()


# A sandboxed run with a writable project plants a link; the next run is asked to write its
# audit log there. The records carry text the command controls (its argv), so following the
# link would put that text into a file outside every writable tree (here a shell rc file).


def plant(fence, work, script):
    cp = fence.run(["sh", "-c", script], config={"filesystem": {"allowWrite": ["."]}})
    assert cp.returncode == 0, fmt(cp)


def assert_refused_audit(fence, work, log_arg, victims):
    before = {v: (v.read_bytes() if v.is_file() else None) for v in victims}
    cp = fence.run(["touch", str(work / "ran")], config={"filesystem": {"allowWrite": ["."]}},
                   flags=["--audit-log", log_arg])
    assert cp.returncode == 122, fmt(cp)
    assert not (work / "ran").exists(), "the command ran" + fmt(cp)
    errors = [l for l in cp.stderr.splitlines() if l.startswith("fence: ")]
    assert len(errors) == 1 and "audit log" in errors[0], fmt(cp)
    for v, content in before.items():
        assert (v.read_bytes() if v.is_file() else None) == content, v
    return errors[0]


def test_audit_log_through_a_planted_symlink_is_refused(fence, work, home):
    rc = home / ".bashrc"
    rc.write_text("# the user's shell rc\n")
    plant(fence, work, f"ln -s {rc} fence-audit.jsonl")
    assert (work / "fence-audit.jsonl").is_symlink()
    for spelling in ("./fence-audit.jsonl", str(work / "fence-audit.jsonl"),
                     "../work/fence-audit.jsonl"):
        line = assert_refused_audit(fence, work, spelling, [rc])
        assert "symlink" in line, line
    assert rc.read_text() == "# the user's shell rc\n"


def test_audit_log_through_a_planted_directory_symlink_is_refused(fence, work, tmp_path):
    outside = tmp_path / "autostart"
    outside.mkdir()
    plant(fence, work, f"ln -s {outside} logs && mkdir -p real && ln -s ../logs real/up")
    for spelling in ("logs/audit.jsonl", str(work / "logs" / "audit.jsonl"),
                     "real/up/audit.jsonl", "real/../logs/audit.jsonl"):
        line = assert_refused_audit(fence, work, spelling, [])
        assert "symlink" in line, line
    assert list(outside.iterdir()) == []


def test_audit_log_that_is_a_hard_link_is_refused(fence, work, tmp_path):
    # A second name of a file elsewhere (an earlier run with a wider policy could make one).
    victim = tmp_path / "victim.sh"
    victim.write_text("echo safe\n")
    os.link(victim, work / "audit.jsonl")
    line = assert_refused_audit(fence, work, "audit.jsonl", [victim])
    assert "hard link" in line, line


def test_audit_log_may_be_an_inherited_descriptor(fence, tmp_path):
    # `--audit-log >(jq .)`: /dev/fd/N is fence's own descriptor, not a file to resolve.
    r, w = os.pipe()
    try:
        cp = fence.run(["true"], config={}, flags=["--audit-log", f"/dev/fd/{w}"], pass_fds=(w,))
        os.close(w)
        w = -1
        assert cp.returncode == 0, fmt(cp)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    events = [json.loads(l)["event"] for l in data.decode().splitlines()]
    assert events == ["session_start", "sandbox_ready", "session_end"], events


def test_syslog_socket_through_a_planted_symlink_is_refused(fence, work, tmp_path):
    real = tmp_path / "real.sock"
    finish = syslog_listener(real)
    plant(fence, work, f"ln -s {real} log.sock && ln -s {tmp_path} sockdir")
    for spelling in ("log.sock", "sockdir/real.sock"):
        cp = fence.run(["touch", str(work / "ran")], config={"filesystem": {"allowWrite": ["."]}},
                       flags=[f"--audit-syslog={spelling}"])
        assert cp.returncode == 122, fmt(cp)
        assert "symlink" in cp.stderr and not (work / "ran").exists(), fmt(cp)
    assert finish() == []


# ------------------------------------------------------------------------------ syslog

RFC5424 = re.compile(
    r"^<(\d{1,3})>1 (\S+) (\S+) fence (\d+) (\S+) (\[fence@32473(?: [^=\s\]]+=\"(?:[^\"\\\]]|\\.)*\")*\]) (.*)$")


def syslog_listener(path: Path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    got: list[str] = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                got.append(sock.recv(65536).decode())
            except OSError:
                continue

    t = threading.Thread(target=loop, daemon=True)
    t.start()

    def finish():
        stop.set()
        t.join(timeout=2)
        sock.close()
        return got
    return finish


def test_audit_syslog_sends_rfc5424_records(fence, tmp_path):
    path = tmp_path / "log.sock"
    finish = syslog_listener(path)
    log = tmp_path / "audit.jsonl"
    cp = fence.run(["sh", "-c", "exit 3"], config={},
                   flags=[f"--audit-syslog={path}", "--audit-log", str(log)])
    messages = finish()
    assert cp.returncode == 3, fmt(cp)
    parsed = [RFC5424.match(m) for m in messages]
    assert all(parsed), messages
    msgids = [p.group(5) for p in parsed]
    assert msgids == [r["event"] for r in records(log)], (msgids, messages)
    end = parsed[msgids.index("session_end")]
    assert 'exit_code="3"' in end.group(6), end.group(0)
    assert int(end.group(1)) // 8 == 10  # facility authpriv
    assert all(int(p.group(4)) == int(parsed[0].group(4)) for p in parsed)  # one supervisor


def test_audit_syslog_without_a_socket_stops_the_run(fence, tmp_path, work):
    # A writable working directory: "ran" is what the command would have left.
    cp = fence.run(["touch", str(work / "ran")], config={"filesystem": {"allowWrite": ["."]}},
                   flags=[f"--audit-syslog={tmp_path / 'none.sock'}"])
    assert cp.returncode == 122, fmt(cp)
    assert "syslog" in cp.stderr, fmt(cp)
    assert not (work / "ran").exists()


# ------------------------------------------------------------------------------ command policy

def fake_program(work: Path, name: str) -> Path:
    p = work / name
    p.write_text("#!/bin/sh\necho RAN-" + name + " \"$@\"\n")
    p.chmod(0o755)
    return p


def test_denied_command_is_refused_before_anything_runs(fence, work, tmp_path):
    fake_program(work, "git")
    log = tmp_path / "audit.jsonl"
    cfg = {"command": {"deny": ["git push"]}}
    cp = fence.run(["./git", "push", "origin", "main"], config=cfg,
                   flags=["--audit-log", str(log)])
    assert cp.returncode == EXIT_BLOCKED, fmt(cp)
    assert "RAN-git" not in cp.stdout
    assert 'command blocked by rule "git push"' in cp.stderr, fmt(cp)
    recs = records(log)
    assert [r["event"] for r in recs] == ["session_start", "command", "session_end"], recs
    blocked = recs[1]
    assert blocked["verdict"] == "deny" and blocked["rule"] == "git push", recs
    assert blocked["source"] == "preflight" and blocked["argv"] == ["./git", "push", "origin", "main"]
    assert recs[-1]["exit_code"] == EXIT_BLOCKED and recs[-1]["counts"]["commands_blocked"] == 1


@pytest.mark.parametrize("script", [
    "ls && ./git push", "ls || ./git push", "ls; ./git push", "echo | ./git push",
    "ls\n./git push", "echo $(./git push)", "echo `./git push`", "(./git push)",
    "{ ./git push; }", "X=1 ./git push", "env ./git push", "command ./git push",
    "exec ./git push", "nice -n 5 ./git push", "timeout 5 ./git push", "echo x | xargs ./git push",
    "bash --norc -c './git push'", "sh -c 'x=push; ./git $x'", "./git -C . push",
    "sudo -u nobody ./git push", "bash -c \"sh -c './git push'\"",
])
def test_bypass_spellings_are_refused_at_preflight(fence, work, script):
    fake_program(work, "git")
    cp = fence.run(["-c", script], config={"command": {"deny": ["git push"]}}, raw_args=True)
    assert cp.returncode == EXIT_BLOCKED, fmt(cp)
    assert "RAN-git" not in cp.stdout


def test_allow_overrides_deny_and_innocent_commands_run(fence, work):
    fake_program(work, "git")
    cfg = {"command": {"deny": ["git push"], "allow": ["git push origin docs"]}}
    ok = fence.run(["-c", "./git push origin docs && ./git status && echo 'git push'"],
                   config=cfg, raw_args=True)
    assert ok.returncode == 0, fmt(ok)
    assert "RAN-git push origin docs" in ok.stdout and "RAN-git status" in ok.stdout
    blocked = fence.run(["-c", "./git push origin main"], config=cfg, raw_args=True)
    assert blocked.returncode == EXIT_BLOCKED, fmt(blocked)


def test_default_deny_list(fence, work):
    fake_program(work, "shutdown")
    cp = fence.run(["./shutdown", "-h", "now"], config={})
    assert cp.returncode == EXIT_BLOCKED, fmt(cp)
    assert "RAN-shutdown" not in cp.stdout and '"shutdown"' in cp.stderr
    off = fence.run(["./shutdown", "-h", "now"], config={"command": {"useDefaults": False}})
    assert off.returncode == 0 and "RAN-shutdown -h now" in off.stdout, fmt(off)


def test_monitor_lines_go_to_stderr_only(fence, work):
    fake_program(work, "git")
    cp = fence.run(["./git", "push"], config={"command": {"deny": ["git push"]}}, flags=["-m"])
    assert cp.returncode == EXIT_BLOCKED
    assert "[fence:cmd] ✗" in cp.stderr and "[fence:" not in cp.stdout, fmt(cp)


# ------------------------------------------------------------------------------ volume

def test_every_proxied_connection_has_a_record(fence, net, tmp_path):
    """10,000 connections through the proxy, 10,000 network records."""
    log = tmp_path / "audit.jsonl"
    n, threads = 10000, 16
    code = f'''
import socket, threading
def worker(count):
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", 3128), timeout=20)
        s.sendall(b"CONNECT {net.upstream}:80 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        head = b""
        while b"\\r\\n\\r\\n" not in head:
            chunk = s.recv(256)
            if not chunk:
                break
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head
        s.close()
ts = [threading.Thread(target=worker, args=({n // threads},)) for _ in range({threads})]
[t.start() for t in ts]
[t.join() for t in ts]
print("DONE", flush=True)
'''
    cp = fence.run([PY, "-c", code], config=net.config([net.upstream]),
                   flags=["--audit-log", str(log)], timeout=300)
    assert "DONE" in cp.stdout, fmt(cp)
    recs = records(log)
    network = [r for r in recs if r["event"] == "network"]
    assert len(network) == n, len(network)
    assert all(r["verdict"] == "allow" and r["host"] == net.upstream for r in network)
    assert recs[-1]["counts"]["network_allowed"] == n
