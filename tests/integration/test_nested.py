"""fence inside fence: a further restriction of the outer sandbox, never a loosening.

The outer run lets its command read the fence binaries (allowRead) and write the working
directory; the command then runs fence again. Without nested runs the inner fence cannot start
at all (no user namespace can be made inside), so every test that expects the inner command to
run fails without the feature; the ones about refusals check the one-line reason."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from conftest import EXIT_CONFIG, PY, fmt

SUMMARY = "[fence] inside another fence sandbox"


def outer_config(fence, own_binaries: Path, work: Path, **extra) -> Path:
    config = {"filesystem": {"allowRead": [str(own_binaries)], "allowWrite": [str(work)]}}
    for section, values in extra.items():
        config.setdefault(section, {}).update(values)
    return fence.write_config(config)


def nested(fence, own_binaries, work, inner_script: str, inner_args: str = "", outer=None,
           outer_flags=(), after: str = "", before: str = ""):
    """Runs `sh -c inner_script` under an inner fence (inner_args) inside an outer fence."""
    inner = f"{own_binaries}/fence {inner_args} -- /bin/sh -c {shlex.quote(inner_script)}"
    script = f"{before}{inner}; echo inner-exit=$?; {after}"
    return fence.sh(script, config=outer or outer_config(fence, own_binaries, work),
                    flags=list(outer_flags))


def inner_exit(cp) -> int:
    for line in cp.stdout.splitlines():
        if line.startswith("inner-exit="):
            return int(line.split("=", 1)[1])
    raise AssertionError("no inner exit status:\n" + fmt(cp))


def test_inner_default_policy_cannot_write_where_the_outer_can(fence, own_binaries, work):
    for flags in ((), ("-m",)):
        cp = nested(fence, own_binaries, work,
                    f"echo ran; echo x > {work}/inner.txt; echo write=$?",
                    outer_flags=flags, after=f"echo y > {work}/outer.txt; echo outer-write=$?")
        assert cp.returncode == 0, fmt(cp)
        assert inner_exit(cp) == 0, fmt(cp)
        assert "ran\n" in cp.stdout and "write=2" in cp.stdout, fmt(cp)
        assert "outer-write=0" in cp.stdout, fmt(cp)
        assert not (work / "inner.txt").exists()
        assert (work / "outer.txt").read_text() == "y\n"
        assert SUMMARY in cp.stderr, fmt(cp)
        (work / "outer.txt").unlink()


def test_a_loose_inner_policy_gains_nothing(fence, own_binaries, work):
    (work / "a").mkdir()
    (work / "b").mkdir()
    outer = outer_config(fence, own_binaries, work)
    outer_json = json.loads(outer.read_text())
    outer_json["filesystem"]["allowWrite"] = [str(work / "a")]
    outer.write_text(json.dumps(outer_json))
    loose = own_binaries / "loose.json"
    loose.write_text(json.dumps({"filesystem": {"allowWrite": [str(work / "a"), str(work / "b"),
                                                               "/etc"]},
                                 "network": {"allowedDomains": ["*"]}}))
    cp = nested(fence, own_binaries, work,
                f"echo 1 > {work}/a/ok; echo a=$?; echo 2 > {work}/b/no; echo b=$?; "
                "echo 3 > /etc/fence-nested-test; echo etc=$?",
                inner_args=f"-s {loose}", outer=outer)
    assert inner_exit(cp) == 0, fmt(cp)
    assert "a=0" in cp.stdout and "b=2" in cp.stdout and "etc=2" in cp.stdout, fmt(cp)
    assert (work / "a" / "ok").exists()
    assert not (work / "b" / "no").exists()
    assert not Path("/etc/fence-nested-test").exists()


def test_three_levels_stack(fence, own_binaries, work):
    (work / "mid").mkdir()
    mid = work / "mid.json"
    mid.write_text(json.dumps({"filesystem": {"allowRead": [str(own_binaries)],
                                              "allowWrite": [str(work / "mid")]}}))
    innermost = f"{own_binaries}/fence -- /bin/sh -c " + shlex.quote(
        f"echo deep > {work}/mid/deep; echo deep=$?; echo t > $TMPDIR/t && echo tmp=ok")
    cp = nested(fence, own_binaries, work,
                f"{innermost}; echo m > {work}/mid/m; echo mid=$?; echo r > {work}/root; "
                "echo root=$?", inner_args=f"-s {mid}", outer_flags=("-m",))
    assert inner_exit(cp) == 0, fmt(cp)
    assert "deep=2" in cp.stdout and "tmp=ok" in cp.stdout, fmt(cp)
    assert "mid=0" in cp.stdout and "root=2" in cp.stdout, fmt(cp)
    assert not (work / "mid" / "deep").exists() and not (work / "root").exists()


def test_private_tmpdir_and_no_leftovers(fence, own_binaries, work):
    cp = nested(fence, own_binaries, work,
                'echo x > /tmp/shared; echo tmp=$?; echo y > "$TMPDIR/own" && cat "$TMPDIR/own"; '
                'echo "dir=$TMPDIR"', after="ls -a /tmp /dev/shm")
    assert inner_exit(cp) == 0, fmt(cp)
    # The outer sandbox's /tmp stays read-only: a private TMPDIR (in the outer sandbox's own
    # /dev/shm), removed at the end.
    assert "tmp=2" in cp.stdout and "y\n" in cp.stdout, fmt(cp)
    assert "dir=/dev/shm/fence-nested." in cp.stdout, fmt(cp)
    listing = cp.stdout.split("inner-exit=0", 1)[1]
    assert "fence-nested." not in listing and "shared" not in listing, fmt(cp)


def test_background_processes_end_with_the_nested_run(fence, own_binaries, work):
    cp = fence.sh(f"pid=$({own_binaries}/fence -- /bin/sh -c 'sleep 60 >/dev/null & echo $!'); "
                  "echo inner-exit=$?; sleep 0.3; kill -0 $pid 2>/dev/null && echo alive || "
                  "echo gone", config=outer_config(fence, own_binaries, work))
    assert inner_exit(cp) == 0, fmt(cp)
    assert "gone" in cp.stdout, fmt(cp)


def test_outer_network_settings_stay(fence, own_binaries, work):
    cp = nested(fence, own_binaries, work, 'echo "proxy=$HTTP_PROXY"',
                after='echo "outer=$HTTP_PROXY"')
    assert inner_exit(cp) == 0, fmt(cp)
    lines = dict(line.split("=", 1) for line in cp.stdout.splitlines() if "=" in line)
    assert lines["proxy"] and lines["proxy"] == lines["outer"], fmt(cp)


def test_policies_a_nested_run_cannot_honour_are_refused(fence, own_binaries, work, home):
    secret = home / "visible-secret"
    secret.write_text("s\n")
    cases = {
        "denyRead": ({"filesystem": {"denyRead": [str(secret)]}}, "filesystem.denyRead"),
        "command": ({"command": {"deny": ["curl"]}}, "command rule \"curl\""),
        "any-depth": ({"filesystem": {"allowWrite": [str(work)], "denyWrite": ["**/.env"]}},
                      "filesystem.denyWrite \"**/.env\""),
    }
    for name, (policy, reason) in cases.items():
        path = work / f"{name}.json"
        path.write_text(json.dumps(policy))
        cp = nested(fence, own_binaries, work, "echo ran", inner_args=f"-s {path}")
        assert inner_exit(cp) == EXIT_CONFIG, name + "\n" + fmt(cp)
        assert "ran" not in cp.stdout, fmt(cp)
        errors = [line for line in cp.stderr.splitlines() if line.startswith("fence: ")]
        assert len(errors) == 1 and reason in errors[0], name + "\n" + fmt(cp)
    cp = nested(fence, own_binaries, work, "echo ran", inner_args="-p 8080")
    assert inner_exit(cp) == EXIT_CONFIG and "-p" in cp.stderr, fmt(cp)
    # A directory that only refuses to be listed is not hidden: its files can still be read.
    unlistable = home / "unlistable"
    unlistable.mkdir()
    (unlistable / "key").write_text("TOPSECRET\n")
    unlistable.chmod(0o311)
    policy = work / "unlistable.json"
    policy.write_text(json.dumps({"filesystem": {"denyRead": [str(unlistable)]}}))
    cp = nested(fence, own_binaries, work, f"cat {unlistable}/key", inner_args=f"-s {policy}")
    unlistable.chmod(0o755)
    assert inner_exit(cp) == EXIT_CONFIG and "TOPSECRET" not in cp.stdout, fmt(cp)


def test_what_the_outer_sandbox_enforces_is_accepted(fence, own_binaries, work, home):
    secret = home / "hidden-secret"
    secret.write_text("s\n")
    outer = outer_config(fence, own_binaries, work,
                         filesystem={"denyRead": [str(secret)]},
                         command={"deny": ["curl"]})
    inner = work / "inner.json"
    inner.write_text(json.dumps({"filesystem": {"denyRead": [str(secret)]},
                                 "command": {"deny": ["curl"]}}))
    # In a file: the inner fence's own check of its command line would refuse the text.
    (work / "curl.sh").write_text("echo ran; curl --version >/dev/null; echo curl=$?\n")
    cp = nested(fence, own_binaries, work, f"/bin/sh {work}/curl.sh",
                inner_args=f"-s {inner}", outer=outer)
    assert inner_exit(cp) == 0, fmt(cp)
    assert "ran" in cp.stdout, fmt(cp)
    # curl refused at exec, by the outer sandbox's check of the same rule.
    assert "curl=0" not in cp.stdout, fmt(cp)


def test_forged_environment_on_the_host_is_no_nested_run(fence):
    cp = fence.run(["true"], flags=["-d"], env={"FENCE_SANDBOX": "1"})
    assert cp.returncode == 0, fmt(cp)
    assert "network namespace: lo only" in cp.stderr, fmt(cp)
    assert SUMMARY not in cp.stderr and "[fence:nested] inside" not in cp.stderr, fmt(cp)


REGISTRY = r'''
import socket, os, sys
def register(text):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect("/run/fence/nest.sock")
    s.send(text.encode())
    return s, s.recv(256).decode()
for junk in ["hello", "fence-nest 1 x\n", "fence-nest 1 5\nQ /\n", "fence-nest 1 5\nR rel\n",
             "fence-nest 1 5\nR /\0x\n", "fence-nest 1 " + str(os.getpid()) + "\n" + "R /\n" * 600]:
    print(repr(register(junk)[1]), flush=True)
# A registration for this very process: its children may no longer write anything.
keep, answer = register("fence-nest 1 %d\nR /\n" % os.getpid())
print("answer", answer, flush=True)
pid = os.fork()
if pid == 0:
    try:
        open(sys.argv[1] + "/child.txt", "w").write("x")
        print("child wrote", flush=True)
    except OSError as e:
        print("child refused", e.errno, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
open(sys.argv[1] + "/parent.txt", "w").write("x")
print("parent wrote", flush=True)
'''


def test_registry_refuses_malformed_and_restricts_the_registrant_children(
        fence, own_binaries, work):
    script = work / "registry.py"
    script.write_text(REGISTRY)
    cp = fence.run([PY, str(script), str(work)],
                   config=outer_config(fence, own_binaries, work), flags=["-m"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.count("'malformed registration'") == 6, fmt(cp)
    assert "answer ok" in cp.stdout, fmt(cp)
    assert "child refused 13" in cp.stdout and "parent wrote" in cp.stdout, fmt(cp)
    assert not (work / "child.txt").exists() and (work / "parent.txt").exists()
    assert os.path.exists(work / "parent.txt")


def test_nothing_is_left_in_the_host_run(fence, own_binaries, work):
    """/run/fence is made on the sandbox's own /run only, also when allowWrite covers the
    host's (the root half is the one that could write there)."""
    before = os.path.exists("/run/fence")
    cp = fence.run(["true"], config={"filesystem": {"allowWrite": ["/"]}})
    assert cp.returncode == 0, fmt(cp)
    assert os.path.exists("/run/fence") == before


def test_nested_command_cannot_touch_other_processes_limits(fence, own_binaries, work):
    cp = nested(fence, own_binaries, work,
                "prlimit --pid 1 --nofile=3:3 && echo init-limited; "
                "prlimit --pid $PPID --cpu=1:1 && echo launcher-limited; "
                "prlimit --nofile=64:64 && echo own-limit",
                after="prlimit --pid 1 --nofile=3:3 && echo outer-limited-init")
    assert inner_exit(cp) == 0, fmt(cp)
    assert "own-limit" in cp.stdout, fmt(cp)
    for line in ("init-limited", "launcher-limited", "outer-limited-init"):
        assert line not in cp.stdout, fmt(cp)


def test_nested_metadata_and_shared_directories(fence, own_binaries, work):
    victim = work / "victim"
    victim.write_text("v\n")
    victim.chmod(0o644)
    cp = nested(fence, own_binaries, work,
                f"chmod 0777 {victim}; echo chmod=$?; touch -d 2000-01-01 {victim}; "
                "echo touch=$?; echo evil > /dev/shm/outer-shm; echo shm=$?; "
                'rm -f "/run/user/$(id -u)/outer-cfg"; echo rm=$?; '
                'echo ok > "$TMPDIR/t" && echo own-tmp=ok; cat /dev/shm/outer-file; '
                'echo cat=$?; echo x 1<>/dev/shm/outer-file; echo rw=$?; '
                f"python3 -c 'import os; fd = os.open(\"{victim}\", os.O_RDONLY); "
                "os.utime(fd, (1e9, 1e9))' 2>/dev/null; echo futimens=$?",
                before="echo secret > /dev/shm/outer-file; ")
    assert inner_exit(cp) == 0, fmt(cp)
    assert "chmod=1" in cp.stdout and "touch=1" in cp.stdout, fmt(cp)
    assert "shm=2" in cp.stdout and "own-tmp=ok" in cp.stdout, fmt(cp)
    # The outer /dev/shm is neither read nor written; times do not change through an fd.
    assert "cat=1" in cp.stdout and "rw=2" in cp.stdout and "futimens=1" in cp.stdout, fmt(cp)
    assert "secret" not in cp.stdout, fmt(cp)
    assert (victim.stat().st_mode & 0o777) == 0o644 and victim.stat().st_mtime > 1e9
    # rm of a missing file succeeds quietly; the point is that nothing else is writable there.


ABSTRACT = r'''
import socket, os, subprocess, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind("\0fence-outer-abstract")
server.listen(4)
path_server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
path_server.bind("/tmp/outer.sock")
path_server.listen(4)
probe = """
import socket, sys
for address in ["\\0fence-outer-abstract", sys.argv[1]]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(address)
        print("reached", repr(address[:8]), flush=True)
    except OSError as e:
        print("refused", e.errno, flush=True)
"""
r = subprocess.run([sys.argv[1] + "/fence", "--", sys.executable, "-c", probe,
                    "/tmp/outer.sock"], capture_output=True, text=True)
print(r.stdout, r.stderr, flush=True)
server.setblocking(False)
path_server.setblocking(False)
for s in (server, path_server):
    try:
        s.accept()
        print("accepted", flush=True)
    except BlockingIOError:
        pass
'''


def test_nested_command_reaches_no_unix_socket_of_the_outer_sandbox(fence, own_binaries, work):
    script = work / "abstract.py"
    script.write_text(ABSTRACT)
    cp = fence.run([PY, str(script), str(own_binaries)],
                   config=outer_config(fence, own_binaries, work), flags=["-m"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.count("refused") == 2 and "reached" not in cp.stdout, fmt(cp)
    assert "accepted" not in cp.stdout, fmt(cp)


def test_orphans_of_a_killed_nested_launcher_gain_nothing(fence, own_binaries, work):
    """Killing the nested launcher from outside the nested run (the outer shell may) leaves its
    command's processes with nothing but refusals for what the nested ruleset forbade."""
    escaped = work / "escaped"
    inner = (f"(while :; do (echo x > {escaped}) 2>/dev/null && break; sleep 0.05; done) & "
             "sleep 30")
    script = (f"{own_binaries}/fence -- /bin/sh -c {shlex.quote(inner)} & "
              f"sleep 1; pkill -KILL -f {own_binaries}/fence-launche[r]; sleep 1.5; "
              "echo outer-done")
    cp = fence.sh(script, config=outer_config(fence, own_binaries, work), timeout=60)
    assert "outer-done" in cp.stdout, fmt(cp)
    assert not escaped.exists(), fmt(cp)
