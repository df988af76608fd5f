"""Configuration in the Go tool's format: templates (-t, extends), extends chains, the user
config's locations, `config show`, JSONC, every upstream key (enforced, refused when this build
cannot enforce it, or accepted with a -d note), defaultDenyRead/strictDenyRead,
forceNewSession and denyWrite "**/NAME". Each test runs the real binaries; each fails without
its feature (before it, every one of these files was refused with `unknown key`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import assert_started, err, fmt, ok

def session_sha(audit: Path) -> list[str]:
    return [json.loads(line)["policy_sha256"] for line in audit.read_text().splitlines()
            if json.loads(line).get("event") == "session_start"]


def test_code_template_as_its_description_says(fence, net, home, work):
    """`extends: code` plus the fixture's name: credentials hidden, git push refused, the
    project writable, the allowed name reachable and any other refused."""
    (home / ".ssh").mkdir()
    (home / ".ssh/id_rsa").write_text("PRIVATE KEY\n")
    cfg = {"extends": "code", "network": {"allowedDomains": ["allowed.example"]}}
    cp = fence.sh("cat ~/.ssh/id_rsa || echo ssh-hidden; echo ok > made.txt && cat made.txt; "
                  "curl -sS --max-time 20 http://allowed.example/hello.txt; "
                  "curl -sS --max-time 20 -o /dev/null -w '%{http_code}\\n' "
                  "http://denied.example/hello.txt", config=cfg, flags=["-d"])
    assert "ssh-hidden" in cp.stdout and "PRIVATE" not in cp.stdout, fmt(cp)
    assert (work / "made.txt").read_text() == "ok\n"
    assert net.hello in cp.stdout, fmt(cp)
    assert cp.stdout.strip().endswith("403"), fmt(cp)
    lines = [line for line in cp.stderr.splitlines() if line.startswith("[fence:")]
    assert lines[0].startswith("[fence:config] settings file: "), fmt(cp)
    assert lines[1] == "[fence:config] └── builtin template: code", fmt(cp)
    push = fence.run(["git", "push", "origin", "main"], config=cfg)
    assert push.returncode == 120, fmt(push)


def test_every_template_loads_runs_and_shows(fence, tmp_path):
    listing = fence.run([], flags=["--list-templates"], raw_args=True)
    assert listing.returncode == 0, fmt(listing)
    names = [line.split()[0] for line in listing.stdout.splitlines()[1:]]
    assert names == ["code", "code-relaxed", "code-strict", "local-dev-server", "git-readonly",
                     "disable-telemetry", "hermes", "npm-install", "pip-install"]
    audit_t, audit_s = tmp_path / "t.jsonl", tmp_path / "s.jsonl"
    for name in names:
        shown = fence.run(["config", "show", "-t", name], raw_args=True)
        assert shown.returncode == 0, fmt(shown)
        assert shown.stderr.splitlines()[0] == f"builtin template: {name}", fmt(shown)
        json.loads(shown.stdout)
        saved = fence.write_config(shown.stdout)
        a = fence.run(["true"], flags=["-t", name, "--audit-log", str(audit_t)])
        b = fence.run(["true"], config=saved, flags=["--audit-log", str(audit_s)])
        assert a.returncode == 0 and b.returncode == 0, fmt(a) + fmt(b)
    # config show's output, fed back with -s, is the same policy (same digest).
    assert session_sha(audit_t) == session_sha(audit_s)
    assert len(set(session_sha(audit_t))) == len(names)


def test_config_show_runs_nothing_and_fence_dash_dash_config_runs_a_program(fence, work):
    marker = work / "ran"
    script = work / "config"
    script.write_text(f"#!/bin/sh\ntouch {marker}\necho program-config\n")
    script.chmod(0o755)
    env = {"PATH": f"{work}:/usr/bin:/bin"}
    shown = fence.run(["config", "show"], raw_args=True, env=env)
    assert shown.returncode == 0 and not marker.exists(), fmt(shown)
    assert shown.stderr.startswith("builtin default"), fmt(shown)
    ran = fence.run(["config"], env=env, config={"filesystem": {"allowWrite": ["."]}})
    assert ran.returncode == 0 and "program-config" in ran.stdout, fmt(ran)
    bad = fence.run(["config", "edit"], raw_args=True)
    assert bad.returncode == 122 and "usage: fence config show" in bad.stderr, fmt(bad)


def test_extends_chain_of_files_with_jsonc(fence, work, tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "base.jsonc").write_text(
        '{\n  "$schema": "https://example.invalid/fence.schema.json",\n'
        '  // the base: the project writable\n'
        '  "filesystem": {"allowWrite": ["."],},\n'
        '  "command": {"deny": ["echo forbidden",],},\n}\n')
    (conf / "fence.json").write_text(
        '{"extends": "./base.jsonc", /* and the child */ '
        '"filesystem": {"denyWrite": ["keep.txt"]}}')
    (work / "keep.txt").write_text("original\n")
    cp = fence.sh("echo x > new.txt && echo y > keep.txt", config=conf / "fence.json",
                  flags=["-d"])
    assert (work / "new.txt").exists(), fmt(cp)
    assert (work / "keep.txt").read_text() == "original\n"
    assert f"[fence:config] └── file: {conf}/./base.jsonc" in cp.stderr, fmt(cp)
    blocked = fence.run(["echo", "forbidden"], config=conf / "fence.json")
    assert blocked.returncode == 120, fmt(blocked)


def test_extends_cycle_and_missing_are_errors_and_nothing_runs(fence, work, tmp_path):
    marker = work / "ran"
    (tmp_path / "a.json").write_text('{"extends": "./b.json"}')
    (tmp_path / "b.json").write_text('{"extends": "./a.json"}')
    cp = fence.run(["touch", str(marker)], config=tmp_path / "a.json")
    assert cp.returncode == 122 and "circular extends" in cp.stderr, fmt(cp)
    (tmp_path / "c.json").write_text('{"extends": "nope"}')
    cp = fence.run(["touch", str(marker)], config=tmp_path / "c.json")
    assert cp.returncode == 122 and 'unknown template "nope"' in cp.stderr, fmt(cp)
    cp = fence.run(["touch", str(marker)], flags=["-t", "nope"])
    assert cp.returncode == 122 and "unknown template" in cp.stderr, fmt(cp)
    assert not marker.exists()


def test_every_file_of_the_chain_is_read_only_inside(fence, work):
    """A base in a writable directory must not be editable by the sandboxed command (it would
    widen the next run as much as editing the file named with -s)."""
    (work / "base.json").write_text('{"filesystem": {"allowWrite": ["."]}}')
    (work / "fence.json").write_text('{"extends": "./base.json"}')
    cp = fence.py("attempt('base', write, 'base.json', '{}')\n"
                  "attempt('top', write, 'fence.json', '{}')\n"
                  "attempt('other', write, 'other.txt', 'x')\n",
                  config=work / "fence.json")
    assert_started(cp)
    assert err(cp, "base") and err(cp, "top") and ok(cp, "other"), fmt(cp)
    assert json.loads((work / "base.json").read_text()) == {"filesystem": {"allowWrite": ["."]}}


def test_user_config_locations(fence, home, work):
    """XDG_CONFIG_HOME/fence/fence.jsonc, else ~/.config/fence/, else ~/.fence.jsonc|json; the
    first line of -d says which; -t and -s take precedence."""
    (home / ".fence.json").write_text('{"filesystem": {"allowWrite": ["."]}}')
    cp = fence.sh("touch a", flags=["-d"])
    assert cp.returncode == 0 and (work / "a").exists(), fmt(cp)
    assert f"[fence:config] user config: {home}/.fence.json" in cp.stderr, fmt(cp)
    xdg = home / "xdg"
    (xdg / "fence").mkdir(parents=True)
    (xdg / "fence/fence.jsonc").write_text('{"command": {"deny": ["touch b"],},}')
    cp = fence.sh("touch b", flags=["-d"], env={"XDG_CONFIG_HOME": str(xdg)})
    assert cp.returncode == 120, fmt(cp)
    assert f"[fence:config] user config: {xdg}/fence/fence.jsonc" in cp.stderr, fmt(cp)
    cp = fence.sh("touch c", flags=["-t", "git-readonly"], env={"XDG_CONFIG_HOME": str(xdg)})
    assert cp.returncode == 0 and (work / "c").exists(), fmt(cp)


def test_settings_that_cannot_be_honoured_stop_the_run(fence, work):
    marker = work / "ran"
    for cfg, what in [
        ({"network": {"defaultAction": "proxy"}}, "needs network.upstreamProxy"),
        ({"ssh": {"allowedCommands": ["ls"]}}, "ssh: command rules without allowedHosts"),
    ]:
        cp = fence.run(["touch", str(marker)], config=cfg)
        assert cp.returncode == 122 and what in cp.stderr, fmt(cp)
        assert len(cp.stderr.splitlines()) == 1, fmt(cp)
    assert not marker.exists()


def test_keys_that_change_nothing_here_are_accepted_and_said(fence):
    cfg = {"macos": {"mach": {"lookup": ["com.apple.x"]}},
           "command": {"runtimeExecPolicy": "argv",
                       "acceptSharedBinaryCannotRuntimeDeny": ["busybox"]},
           "filesystem": {"wslInterop": True}, "devices": {"mode": "minimal"},
           "network": {"defaultAction": "deny"}, "ssh": {}}
    cp = fence.run(["true"], config=cfg, flags=["-d"])
    assert cp.returncode == 0, fmt(cp)
    for text in ["macos.*: macOS settings, ignored on Linux",
                 'command.runtimeExecPolicy "argv": fence checks the whole argv',
                 "acceptSharedBinaryCannotRuntimeDeny: no binary is masked",
                 "filesystem.wslInterop", 'devices.mode "minimal"']:
        assert text in cp.stderr, text + fmt(cp)


def test_force_new_session(fence):
    code = "import os; print(os.getsid(0) == os.getpid())"
    same = fence.run(["/usr/bin/python3", "-c", code])
    new = fence.run(["/usr/bin/python3", "-c", code], config={"forceNewSession": True})
    assert same.stdout.strip() == "False", fmt(same)
    assert new.stdout.strip() == "True", fmt(new)


def test_default_deny_read(fence, work, home):
    (work / "src.txt").write_text("project\n")
    (home / "secret.txt").write_text("home secret\n")
    tool = home / ".local/bin"
    tool.mkdir(parents=True)
    (tool / "hello-tool").write_text("#!/bin/sh\necho tool-ran\n")
    (tool / "hello-tool").chmod(0o755)
    script = ("cat src.txt || echo cwd-denied; cat ~/secret.txt || echo home-denied; "
              "head -c4 /usr/bin/env >/dev/null && echo usr-ok; ~/.local/bin/hello-tool")
    cp = fence.sh(script, config={"filesystem": {"defaultDenyRead": True}})
    assert cp.stdout.split() == ["cwd-denied", "home-denied", "usr-ok", "tool-ran"], fmt(cp)
    cp = fence.sh(script, config={"filesystem": {"defaultDenyRead": True, "allowRead": ["."]}})
    assert cp.stdout.split()[:2] == ["project", "home-denied"], fmt(cp)
    # Without it, cwd and $HOME are readable (the default).
    cp = fence.sh(script)
    assert cp.stdout.split()[:3] == ["project", "home", "secret"], fmt(cp)
    # A working directory outside the private /tmp and the system directories (the real
    # home of the user running the tests): Landlock refuses the reads.
    outside = Path(os.path.expanduser("~")) / f"fence-ddr-{os.getpid()}"
    outside.mkdir(exist_ok=True)
    try:
        (outside / "src.txt").write_text("project\n")
        cp = fence.sh(script, config={"filesystem": {"defaultDenyRead": True}}, cwd=outside)
        assert cp.stdout.split()[0] == "cwd-denied", fmt(cp)
    finally:
        (outside / "src.txt").unlink()
        outside.rmdir()


def test_strict_deny_read(fence):
    script = ("cat /etc/hostname >/dev/null 2>&1 || echo etc-denied; "
              "ls /var >/dev/null 2>&1 || echo var-denied; /usr/bin/python3 -c 'print(7*6)'")
    cp = fence.sh(script, config={"filesystem": {"strictDenyRead": True}})
    assert cp.stdout.split() == ["etc-denied", "var-denied", "42"], fmt(cp)
    cp = fence.sh(script, config={"filesystem": {"defaultDenyRead": True}})
    assert cp.stdout.split() == ["42"], fmt(cp)


def test_deny_write_any_depth_name_is_protected_without_a_walk(fence, work):
    """denyWrite "**/.env": existing at any depth and new ones alike (a walk of the tree at
    start-up would see only those that exist)."""
    (work / "a/b").mkdir(parents=True)
    (work / "a/b/.env").write_text("KEY=1\n")
    (work / "c").mkdir()
    cfg = {"filesystem": {"allowWrite": ["."], "denyWrite": ["**/.env", "**/*.pem"]}}
    cp = fence.py("attempt('existing', write, 'a/b/.env', 'KEY=2')\n"
                  "attempt('new', write, 'c/.env', 'KEY=3')\n"
                  "attempt('pem', write, 'c/d/x.pem' if os.makedirs('c/d') is None else '', 'k')\n"
                  "attempt('plain', write, 'c/env.txt', 'ok')\n", config=cfg)
    assert_started(cp)
    assert err(cp, "existing") and err(cp, "new") and err(cp, "pem"), fmt(cp)
    assert ok(cp, "plain"), fmt(cp)
    assert (work / "a/b/.env").read_text() == "KEY=1\n"
    assert not (work / "c/.env").exists()


def test_project_config_is_used_only_when_trusted(fence, work, home):
    """An unfamiliar repository's fence.json must not widen its own sandbox: found by discovery
    it stops the run (exit 122, the command does not run) until `fence trust`; editing it or a
    file it extends stops it again; -s names it explicitly and needs no trust."""
    project = work / "repo"
    (project / "src").mkdir(parents=True)
    (project / "fence.json").write_text('{"extends": "./base.json", "allowPty": true}')
    (project / "base.json").write_text('{"filesystem": {"allowWrite": ["."]}}')
    (home / ".fence.json").write_text('{"command": {"deny": ["touch never"]}}')
    run = lambda *a, **kw: fence.run(*a, cwd=project / "src", **kw)  # noqa: E731
    cp = run(["touch", "made"])
    assert cp.returncode == 122, fmt(cp)
    assert f"{project}/fence.json: project config found in the working directory or a parent " \
        "is not trusted" in cp.stderr, fmt(cp)
    assert f"fence trust '{project}/fence.json'" in cp.stderr and "fence -s" in cp.stderr
    assert not (project / "src/made").exists()
    trust = run(["trust"], raw_args=True)
    assert trust.returncode == 0, fmt(trust)
    assert trust.stdout.splitlines() == [f"trusted {project}/fence.json",
                                         f"trusted {project}/./base.json"], fmt(trust)
    cp = run(["touch", "made"], flags=["-d"])
    assert cp.returncode == 0 and (project / "src/made").exists(), fmt(cp)
    assert f"[fence:config] project config: {project}/fence.json" in cp.stderr.splitlines()[0]
    # Edited after trust: the project file, then a file it extends.
    (project / "fence.json").write_text('{"extends": "./base.json", "allowPty": false}')
    cp = run(["touch", "again"])
    assert cp.returncode == 122 and "changed since it was trusted" in cp.stderr, fmt(cp)
    assert run(["trust"], raw_args=True).returncode == 0
    (project / "base.json").write_text('{"filesystem": {"allowWrite": ["/"]}}')
    cp = run(["touch", "again"])
    assert cp.returncode == 122 and "base.json: project config changed" in cp.stderr, fmt(cp)
    assert not (project / "src/again").exists()
    listing = run(["trust", "--list"], raw_args=True)
    assert f"{project}/fence.json  trusted" in listing.stdout, fmt(listing)
    assert f"{project}/base.json  changed" in listing.stdout, fmt(listing)
    # -s is explicit: no trust asked.
    cp = run(["true"], config=project / "fence.json")
    assert cp.returncode == 0, fmt(cp)
    assert run(["untrust", str(project / "fence.json")], raw_args=True).returncode == 0
    assert "fence.json" not in run(["trust", "--list"], raw_args=True).stdout.split("base")[0]


def test_sandbox_cannot_trust_for_the_next_run(fence, work, home):
    """Neither the trust store nor the trusted files can be changed from inside, even when the
    policy makes their directories writable."""
    (work / "fence.json").write_text(
        '{"filesystem": {"allowWrite": [".", "~/.local/state"]}}')
    assert fence.run(["trust"], raw_args=True).returncode == 0
    store = home / ".local/state/fence/trust.json"
    before = store.read_text()
    cp = fence.py(f"attempt('store', write, {str(store)!r}, '{{}}')\n"
                  f"attempt('store-dir', os.rename, {str(store.parent)!r}, {str(store.parent)!r} + '.x')\n"
                  "attempt('project', write, 'fence.json', '{}')\n"
                  "attempt('other', write, 'other.txt', 'x')\n")
    assert_started(cp)
    assert err(cp, "store") and err(cp, "store-dir") and err(cp, "project"), fmt(cp)
    assert ok(cp, "other"), fmt(cp)
    assert store.read_text() == before


def test_devices_allow_passes_listed_nodes_only(fence):
    present = [d for d in ("/dev/fuse", "/dev/kvm", "/dev/net/tun") if os.path.exists(d)]
    if not present:
        import pytest
        pytest.skip("no passable character device on this host")
    cfg = {"devices": {"allow": [present[0], "/dev/no-such-device"]}}
    cp = fence.sh(f"test -c {present[0]} && echo passed; ls /dev", config=cfg, flags=["-m"])
    assert cp.returncode == 0 and "passed" in cp.stdout, fmt(cp)
    others = set(present[1:]) | {"/dev/sda", "/dev/mem"}
    assert not any(os.path.basename(o) in cp.stdout.split() for o in others), fmt(cp)
    assert "devices.allow: /dev/no-such-device does not exist here; skipped" in cp.stderr
    plain = fence.sh(f"test -e {present[0]} || echo absent")
    assert plain.stdout.strip() == "absent", fmt(plain)
    block = next((f"/dev/{n}" for n in sorted(os.listdir("/dev"))
                  if os.path.exists(f"/dev/{n}") and
                  __import__("stat").S_ISBLK(os.stat(f"/dev/{n}").st_mode)), None)
    if block:
        cp = fence.run(["true"], config={"devices": {"allow": [block]}})
        assert cp.returncode == 122 and "is a block device" in cp.stderr, fmt(cp)
    cp = fence.run(["true"], config={"devices": {"allow": ["/etc/passwd"]}})
    assert cp.returncode == 122 and "must be a path under /dev/" in cp.stderr, fmt(cp)


def test_config_init_writes_a_starter_that_loads(fence, home, tmp_path):
    target = home / ".config/fence/fence.json"
    cp = fence.run(["config", "init"], raw_args=True)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.splitlines() == ['Created config extending "code"',
                                      f'Written to "{target}"'], fmt(cp)
    assert target.stat().st_mode & 0o777 == 0o600
    assert '"extends": "code"' in target.read_text()
    shown = fence.run(["config", "show"], raw_args=True)
    assert shown.stderr.splitlines()[:2] == [f"user config: {target}",
                                             "└── builtin template: code"], fmt(shown)
    # Exists: not overwritten without -y (stdin is not a terminal here).
    again = fence.run(["config", "init", "--minimal"], raw_args=True)
    assert again.returncode == 122 and "exists (use -y" in again.stderr, fmt(again)
    forced = fence.run(["config", "init", "-y", "-t", "npm-install", "--scaffold"], raw_args=True)
    assert forced.returncode == 0, fmt(forced)
    assert '"allowWrite": []' in target.read_text()
    printed = fence.run(["config", "init", "--print", "--minimal"], raw_args=True)
    assert printed.returncode == 0 and json.loads(printed.stdout) == {}, fmt(printed)
    out = tmp_path / "custom/x.json"
    cp = fence.run(["config", "init", "-o", str(out), "-t", "git-readonly"], raw_args=True)
    assert cp.returncode == 0 and out.exists(), fmt(cp)
    for bad in (["--minimal", "-t", "code"], ["--print", "-y"], ["-t", "nope"], ["--bogus"]):
        cp = fence.run(["config", "init", *bad], raw_args=True)
        assert cp.returncode == 122 and len(cp.stderr.splitlines()) == 1, fmt(cp)


def test_config_init_never_writes_through_a_planted_symlink(fence, home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (home / ".config").symlink_to(elsewhere)
    cp = fence.run(["config", "init"], raw_args=True)
    assert cp.returncode == 122 and "refusing to follow the symlink" in cp.stderr, fmt(cp)
    assert list(elsewhere.iterdir()) == []


def test_ssh_rules_before_the_run_and_at_every_exec(fence, work):
    """A fake ssh on PATH stands in for the real one: the rules decide what may start it."""
    bindir = work / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text('#!/bin/sh\necho "fake-ssh $*"\n')
    (bindir / "ssh").chmod(0o755)
    (work / "script.sh").write_text("ssh evil.test uptime\necho after=$?\n"
                                    "ssh dev.example.com \"$(printf 'ls\\nrm -rf x\\n((')\"\n"
                                    "echo after2=$?\n")
    cfg = {"ssh": {"allowedHosts": ["*.example.com"], "deniedHosts": ["prod.example.com"],
                   "allowedCommands": ["ls", "git status"], "deniedCommands": ["rm -rf"]}}
    env = {"PATH": f"{bindir}:/usr/bin:/bin"}
    ok_run = fence.run(["ssh", "-p", "2222", "me@dev.example.com", "ls", "-la"], config=cfg, env=env)
    assert ok_run.returncode == 0 and "fake-ssh -p 2222 me@dev.example.com ls -la" in ok_run.stdout, \
        fmt(ok_run)
    interactive = fence.run(["ssh", "dev.example.com"], config=cfg, env=env)
    assert interactive.returncode == 0, fmt(interactive)
    for argv, rule in [
        (["ssh", "prod.example.com"], "ssh.deniedHosts prod.example.com"),
        (["ssh", "evil.test"], "ssh.allowedHosts"),
        (["ssh", "dev.example.com", "uptime"], "ssh.allowedCommands"),
        (["ssh", "dev.example.com", "rm -rf /srv"], "ssh.deniedCommands rm -rf"),
        (["ssh", "-o", "ProxyCommand=nc x 22", "dev.example.com"], "ssh"),
    ]:
        cp = fence.run(argv, config=cfg, env=env)
        assert cp.returncode == 120 and f'blocked by rule "{rule}"' in cp.stderr, fmt(cp)
        assert "fake-ssh" not in cp.stdout
    # At run time: a script fence cannot read before the run.
    cp = fence.run(["sh", "script.sh"], config=cfg, env=env, flags=["-m"])
    assert "fake-ssh" not in cp.stdout and "after=126" in cp.stdout, fmt(cp)
    # The remote text fence cannot parse is refused at run time too (bash would run its
    # first lines before the syntax error).
    assert "after2=126" in cp.stdout, fmt(cp)
    assert "ssh.allowedHosts" in cp.stderr, fmt(cp)


def test_devices_mode_host_passes_character_devices_not_disks_or_terminals(fence):
    import stat as st
    host_chr = sorted(n for n in os.listdir("/dev")
                      if st.S_ISCHR(os.lstat(f"/dev/{n}").st_mode)
                      and n not in ("tty", "ptmx", "console") and not n.startswith("tty"))
    host_blk = sorted(n for n in os.listdir("/dev") if st.S_ISBLK(os.lstat(f"/dev/{n}").st_mode))
    cp = fence.sh("ls /dev; ls /dev/pts | wc -l", config={"devices": {"mode": "host"}},
                  input="")
    assert cp.returncode == 0, fmt(cp)
    inside = set(cp.stdout.split())
    assert set(host_chr) <= inside, sorted(set(host_chr) - inside)
    assert not set(host_blk) & inside, sorted(set(host_blk) & inside)
    assert "tty" not in inside  # no stdio is the terminal here
    minimal = fence.sh("ls /dev", config={"devices": {"mode": "minimal"}}, input="")
    assert len(minimal.stdout.split()) < len(inside), fmt(minimal)


UPSTREAM_SHAPED = """{
  "$schema": "https://raw.githubusercontent.com/example/fence/main/docs/schema.json",
  // A team config as upstream's documentation writes them: a template, every section.
  "extends": "code",
  "network": {
    "allowedDomains": ["internal.example.com", "*.internal.example.com",],
    "deniedDomains": ["metadata.internal.example.com"],
    "allowUnixSockets": [],
    "allowAllUnixSockets": false,
    "allowLocalBinding": true,
    "allowLocalOutbound": false,
    "allowLocalOutboundPorts": [],
    "httpProxyPort": 3128,
    "socksProxyPort": 1080,
    "defaultAction": "deny",
  },
  "filesystem": {
    "defaultDenyRead": false,
    "strictDenyRead": false,
    "wslInterop": false,
    "allowRead": ["."],
    "allowExecute": [],
    "denyRead": ["~/.aws"],
    "allowWrite": ["."],
    "denyWrite": ["**/.env"],
    "allowGitConfig": false,
  },
  "command": {
    "deny": ["git push"],
    "allow": [],
    "useDefaults": true,
    "runtimeExecPolicy": "argv",
    "acceptSharedBinaryCannotRuntimeDeny": ["busybox"],
  },
  "ssh": {
    "allowedHosts": ["*.internal.example.com"],
    "deniedHosts": [],
    "allowedCommands": ["uptime"],
    "deniedCommands": [],
    "allowAllCommands": false,
    "inheritDeny": true,
  },
  "devices": {"mode": "auto", "allow": []},
  "macos": {"mach": {"lookup": ["com.apple.coreservices.launchservicesd"], "register": []}},
  "allowPty": true,
  "forceNewSession": false,
}
"""


def test_a_config_shaped_like_upstreams_loads_and_means_it(fence, work):
    cfg = fence.write_config(UPSTREAM_SHAPED)
    shown = fence.run(["config", "show", "-s", str(cfg)], raw_args=True)
    assert shown.returncode == 0, fmt(shown)
    merged = json.loads(shown.stdout)
    assert "api.anthropic.com" in merged["network"]["allowedDomains"]  # from "code"
    assert merged["network"]["allowedDomains"][-1] == "*.internal.example.com"
    assert merged["ssh"]["allowedHosts"] == ["*.internal.example.com"]
    cp = fence.sh("echo ok > made.txt && cat made.txt", config=cfg)
    assert cp.returncode == 0 and cp.stdout == "ok\n", fmt(cp)
    assert fence.run(["git", "push"], config=cfg).returncode == 120
    assert fence.run(["ssh", "build.internal.example.com", "rm -rf /"], config=cfg).returncode == 120


def test_sandbox_cannot_plant_the_next_runs_config(fence, work, home, tmp_path):
    """Every place fence reads a user config or trust store from, and project config names
    anywhere in writable trees, stay read-only even under allowWrite of all of HOME; and a
    project config that is a symlink to another project's trusted file is not trusted."""
    xdg_config, xdg_state = tmp_path / "xdgc", tmp_path / "xdgs"
    other = home / "other"
    other.mkdir()
    (other / "fence.json").write_text('{"filesystem": {"allowWrite": ["~"]}}')
    assert fence.run(["trust", str(other / "fence.json")], raw_args=True).returncode == 0
    cfg = {"filesystem": {"allowWrite": ["~", "."]}}
    targets = [home / ".config/fence/fence.jsonc", home / ".config/fence/fence.json",
               home / ".fence.jsonc", home / ".local/state/fence/trust.json",
               xdg_config / "fence/fence.json", xdg_state / "fence/trust.json",
               work / "fence.json", work / "sub/fence.jsonc"]
    code = "import os\n" + "".join(
        f"os.makedirs(os.path.dirname({str(t)!r}), exist_ok=True) if os.access("
        f"os.path.dirname(os.path.dirname({str(t)!r})), os.W_OK) else None\n"
        f"attempt({str(t)!r}, write, {str(t)!r}, '{{}}')\n" for t in targets[:-1])
    code += "os.makedirs('sub', exist_ok=True)\nattempt('sub', write, 'sub/fence.jsonc', '{}')\n"
    code += f"attempt('link', os.symlink, {str(other / 'fence.json')!r}, 'fence.jsonc')\n"
    cp = fence.py(code, config=cfg,
                  env={"XDG_CONFIG_HOME": str(xdg_config), "XDG_STATE_HOME": str(xdg_state)})
    assert cp.returncode == 0, fmt(cp)
    for t in targets[:-1]:
        assert f"{t}: ERR" in cp.stdout, str(t) + fmt(cp)
        assert not t.exists() or t.read_text() != "{}", t
    assert err(cp, "sub") and err(cp, "link"), fmt(cp)
    # A link placed by someone else all the same is not trusted for this project.
    (work / "fence.jsonc").symlink_to(other / "fence.json")
    cp = fence.run(["true"])
    assert cp.returncode == 122 and "reached through a symlink" in cp.stderr, fmt(cp)
    assert "'" in cp.stderr.split("fence -s ", 1)[1], fmt(cp)  # a shell-quoted path


def test_upstream_proxy_never_gets_loopback_or_private_literals(fence, net, tmp_path):
    """The SSRF guard applies on this route too: literals and names whose answers are not
    public never reach the proxy."""
    import socket as s
    seen = []
    server = s.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)

    def serve():
        for _ in range(20):
            try:
                c, _ = server.accept()
                seen.append(c.recv(200))
                c.close()
            except OSError:
                pass

    import threading
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cfg = {"network": {"defaultAction": "proxy",
                       "upstreamProxy": f"http://127.0.0.1:{server.getsockname()[1]}"}}
    for url in ("http://127.0.0.1:9/", "http://[::ffff:127.0.0.1]:9/", "http://localhost:9/",
                "http://10.0.0.5/", "http://169.254.169.254/", "http://x.localhost/",
                "http://private.example/", "http://loopback.example/",
                "http://linklocal.example/", "http://mixed.example/"):
        cp = fence.run(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                        "--noproxy", "", "-x", "http://127.0.0.1:3128", url], config=cfg)
        assert cp.stdout in ("403", "502"), url + fmt(cp)
    t.join(timeout=5)
    server.close()
    assert seen == []


def test_user_config_chain_is_read_only_whatever_this_run_uses(fence, home):
    """The user config extends a file elsewhere in HOME; a run under another policy (-s) that
    may write all of HOME still cannot rewrite it (the next plain run's policy)."""
    (home / "dot").mkdir()
    (home / "dot/base.json").write_text('{"filesystem": {"denyRead": ["~/secret"]}}')
    (home / ".config/fence").mkdir(parents=True)
    (home / ".config/fence/fence.json").write_text('{"extends": "~/dot/base.json"}')
    cp = fence.py(f"attempt('base', write, {str(home / 'dot/base.json')!r}, '{{}}')\n"
                  f"attempt('other', write, {str(home / 'dot/other.json')!r}, '{{}}')\n",
                  config={"filesystem": {"allowWrite": ["~"]}})
    assert_started(cp)
    assert err(cp, "base") and ok(cp, "other"), fmt(cp)
    assert "denyRead" in (home / "dot/base.json").read_text()


def test_no_set_user_id_files_from_inside(fence, work):
    """With fence run as root, a set-user-ID file the sandbox leaves on the host would run as
    root for whoever executes it there (mounts are nosuid only inside)."""
    cp = fence.py("import stat\n"
                  "write('f', 'x'); write('g', 'x'); os.mkdir('d')\n"
                  "attempt('chmod-suid', os.chmod, 'f', 0o4755)\n"
                  "attempt('chmod-sgid-file', os.chmod, 'g', 0o2755)\n"
                  "attempt('chmod-sgid-dir', os.chmod, 'd', 0o2775)\n"
                  "fd = os.open('h', os.O_CREAT | os.O_WRONLY, 0o6755); os.close(fd)\n"
                  "print('h-mode', oct(os.stat('h').st_mode & 0o7777))\n",
                  config={"filesystem": {"allowWrite": ["."]}})
    assert_started(cp)
    assert "chmod-suid: ERR EPERM" in cp.stdout and "chmod-sgid-file: ERR EPERM" in cp.stdout, \
        fmt(cp)
    assert ok(cp, "chmod-sgid-dir"), fmt(cp)
    assert not (work / "f").stat().st_mode & 0o6000
    assert not (work / "h").stat().st_mode & 0o6000
