"""Nothing is left behind on the host (SECURITY-RULES 8): no placeholder files for protected
names, no mount points, no runtime directories in /tmp or /dev/shm."""

import os

from conftest import fmt, snapshot


def _scratch_entries():
    out = set()
    for d in ("/tmp", "/dev/shm", "/run/user/%d" % os.getuid()):
        try:
            out |= {f"{d}/{e}" for e in os.listdir(d)}
        except OSError:
            pass
    return out


def test_nothing_left_behind(fence, project, home, tmp_path):
    (home / ".bashrc").write_text("# home rc\n")
    (project / "sub").mkdir()
    (project / "sub" / "secret").write_text("s\n")
    config = {"filesystem": {
        "allowWrite": [".", "~"],
        "denyWrite": ["sub/missing-deny-target", "src/main.c"],
        "denyRead": ["sub/secret", "missing-deny-read"],
    }}
    cfg_path = fence.write_config(config)
    work_before = snapshot(project)
    home_before = snapshot(home)
    tmp_before = set(os.listdir(tmp_path))
    scratch_before = _scratch_entries()
    cp = fence.sh("echo ran", config=cfg_path)
    assert cp.returncode == 0, fmt(cp)
    assert snapshot(project) == work_before, "fence changed the working directory" + fmt(cp)
    assert snapshot(home) == home_before, "fence changed HOME" + fmt(cp)
    assert set(os.listdir(tmp_path)) == tmp_before, fmt(cp)
    new = sorted(e for e in _scratch_entries() - scratch_before if "fence" in e.lower())
    assert not new, f"fence left entries behind: {new}" + fmt(cp)


def test_nothing_left_behind_after_failure(fence, project):
    work_before = snapshot(project)
    scratch_before = _scratch_entries()
    cp = fence.run(["fence-itest-no-such-command"], config={"filesystem": {"allowWrite": ["."]}})
    assert cp.returncode == 127, fmt(cp)
    assert snapshot(project) == work_before, fmt(cp)
    new = sorted(e for e in _scratch_entries() - scratch_before if "fence" in e.lower())
    assert not new, f"fence left entries behind: {new}" + fmt(cp)


def test_host_mount_table_unchanged(fence, project):
    before = open("/proc/self/mountinfo").read()
    cp = fence.run(["true"], config={"filesystem": {"allowWrite": ["."], "denyRead": ["src"]}})
    assert cp.returncode == 0, fmt(cp)
    assert open("/proc/self/mountinfo").read() == before, "fence changed the host mount table"
