"""CLI contract: argv exactness, option parsing, exit codes, informational flags."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import (EXIT_CONFIG, EXIT_NOEXEC, EXIT_NOTFOUND, PY, fence_error_lines, fmt)


def test_argv_passed_exactly(fence):
    cp = fence.run(["printf", r"%s\n", "a b", "$HOME"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "a b\n$HOME\n", fmt(cp)


def test_argv_special_characters_survive(fence):
    args = ["", "*", "x\ny", "'\"`$(id)`", "ünï", "-d", "--", "-s"]
    cp = fence.run(["printf", r"[%s]"] + args)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "".join(f"[{a}]" for a in args), fmt(cp)


def test_option_parsing_stops_at_first_non_option(fence):
    # No "--": everything after "printf" belongs to the command, even words that look like
    # fence's own flags.
    cp = fence.run(["printf", r"%s\n", "-d", "-s", "--help", "-v"], raw_args=True)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "-d\n-s\n--help\n-v\n", fmt(cp)
    assert "[fence:" not in cp.stderr, "-d after the command word must not enable debug" + fmt(cp)


def test_double_dash_help_runs_a_command_named_help(fence):
    cp = fence.run(["--help"])
    assert cp.returncode == EXIT_NOTFOUND, fmt(cp)
    lines = fence_error_lines(cp.stderr)
    assert len(lines) == 1 and "--help" in lines[0], fmt(cp)


def test_dash_c_runs_through_sh(fence):
    cp = fence.run(["-c", 'echo "$((2+3))-$0"; exit 9'], raw_args=True)
    assert cp.returncode == 9, fmt(cp)
    assert cp.stdout.startswith("5-"), fmt(cp)


def test_dash_c_runs_bash(fence):
    """-c runs bash where /bin/bash exists: [[ ]], arrays and pipefail work (dash has none)."""
    assert os.access("/bin/bash", os.X_OK)
    cp = fence.run(["-c", '[[ 1 == 1 ]] && a=(x y) && set -o pipefail && '
                          'echo "ok ${a[1]} $0"; false | true; echo "pipe $?"'], raw_args=True)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.splitlines() == ["ok y /bin/bash", "pipe 1"], fmt(cp)


def test_shell_user_takes_a_valid_shell(fence):
    cp = fence.run(["--shell", "user", "-c", 'echo "$0"'], raw_args=True,
                   env={"SHELL": "/bin/dash"})
    assert cp.returncode == 0 and cp.stdout == "/bin/dash\n", fmt(cp)
    cp = fence.run(["--shell", "default", "-c", 'echo "$0"'], raw_args=True,
                   env={"SHELL": "/bin/dash"})
    assert cp.returncode == 0 and cp.stdout == "/bin/bash\n", fmt(cp)


def test_shell_user_refuses_what_is_not_a_shell(fence, work):
    fake = work / "bash"
    fake.write_text("#!/bin/sh\necho ran\n")
    fake.chmod(0o755)
    for shell, why in [(None, "not set"), ("bash", "not absolute"), (PY, "not one of"),
                       (str(work / "zsh"), "not an executable file"),
                       ("/bin/true", "not one of")]:
        cp = fence.run(["--shell", "user", "-c", "echo ran"], raw_args=True, env={"SHELL": shell})
        assert cp.returncode == EXIT_CONFIG, (shell, fmt(cp))
        assert "ran" not in cp.stdout and why in cp.stderr, (shell, fmt(cp))
        assert len(fence_error_lines(cp.stderr)) == 1, (shell, fmt(cp))
    for bad in (["--shell", "fish2", "-c", "true"], ["--shell-login", "--", "true"],
                ["--shell", "user", "--", "true"]):
        cp = fence.run(bad, raw_args=True)
        assert cp.returncode == EXIT_CONFIG and "ran" not in cp.stdout, (bad, fmt(cp))


def test_shell_login_reads_login_files(fence, tmp_path):
    home = tmp_path / "login-home"
    home.mkdir()
    (home / ".bash_profile").write_text("export FROM_PROFILE=yes\n")
    cp = fence.run(["--shell-login", "-c", 'shopt -q login_shell && echo "login $FROM_PROFILE"'],
                   raw_args=True, home=home)
    assert cp.returncode == 0 and cp.stdout == "login yes\n", fmt(cp)
    cp = fence.run(["-c", 'shopt -q login_shell || echo "not login ${FROM_PROFILE:-}"'],
                   raw_args=True, home=home)
    assert cp.stdout == "not login \n", fmt(cp)


def test_stdin_is_passed_through(fence):
    cp = fence.run(["cat"], input="line one\nline two\n")
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "line one\nline two\n", fmt(cp)


def test_large_output_is_complete(fence):
    cp = fence.run([PY, "-c", "import sys; sys.stdout.write('x' * 2_000_000 + 'END')"])
    assert cp.returncode == 0, fmt(cp)[:2000]
    assert len(cp.stdout) == 2_000_003 and cp.stdout.endswith("END")


def test_stdout_and_stderr_are_separate(fence):
    cp = fence.sh("echo to-out; echo to-err >&2")
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "to-out\n", fmt(cp)
    assert "to-err" in cp.stderr and "to-err" not in cp.stdout, fmt(cp)


def test_working_directory_is_kept(fence, work):
    cp = fence.run(["pwd"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.strip() == os.path.realpath(work), fmt(cp)


def test_exit_status_is_the_commands(fence):
    cp = fence.sh("exit 7")
    assert cp.returncode == 7, fmt(cp)
    cp = fence.run(["false"])
    assert cp.returncode == 1, fmt(cp)


def test_exit_status_on_signal_term(fence):
    cp = fence.sh("kill -TERM $$")
    assert cp.returncode == 128 + 15, fmt(cp)


def test_exit_status_on_signal_kill(fence):
    cp = fence.sh("kill -KILL $$")
    assert cp.returncode == 128 + 9, fmt(cp)


def test_command_not_found(fence):
    cp = fence.run(["fence-itest-no-such-command", "arg"])
    assert cp.returncode == EXIT_NOTFOUND, fmt(cp)
    lines = fence_error_lines(cp.stderr)
    assert len(lines) == 1, fmt(cp)
    assert "fence-itest-no-such-command" in lines[0], fmt(cp)


def test_command_not_found_absolute_path(fence, work):
    cp = fence.run([str(work / "missing-binary")])
    assert cp.returncode == EXIT_NOTFOUND, fmt(cp)
    assert len(fence_error_lines(cp.stderr)) == 1, fmt(cp)


def test_command_not_executable(fence, work):
    script = work / "not-exec.sh"
    script.write_text("#!/bin/sh\necho should-not-run\n")
    script.chmod(0o644)
    cp = fence.run([str(script)])
    assert cp.returncode == EXIT_NOEXEC, fmt(cp)
    assert "should-not-run" not in cp.stdout, fmt(cp)
    lines = fence_error_lines(cp.stderr)
    assert len(lines) == 1 and "not-exec.sh" in lines[0], fmt(cp)


def test_unknown_flag_is_usage_error(fence):
    cp = fence.run(["--fence-itest-bogus-flag", "true"], raw_args=True)
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert len(fence_error_lines(cp.stderr)) == 1, fmt(cp)


def test_missing_command_is_usage_error(fence):
    cp = fence.run(["--"], raw_args=True)
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert len(fence_error_lines(cp.stderr)) >= 1, fmt(cp)


def test_version(fence):
    cp = fence.run(["-v"], raw_args=True)
    assert cp.returncode == 0, fmt(cp)
    assert re.search(r"\d+\.\d+", cp.stdout + cp.stderr), fmt(cp)
    cp2 = fence.run(["--version"], raw_args=True)
    assert cp2.returncode == 0 and cp2.stdout == cp.stdout, fmt(cp2)


def test_help(fence):
    cp = fence.run(["-h"], raw_args=True)
    assert cp.returncode == 0, fmt(cp)
    out = cp.stdout + cp.stderr
    for flag in ("--settings", "--debug", "--monitor", "--version", "--linux-features"):
        assert flag in out, f"help does not mention {flag}" + fmt(cp)


def test_debug_prints_plan_to_stderr_only(fence):
    cp = fence.run(["true"], flags=["-d"], raw_args=False)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "", "debug output must not go to stdout" + fmt(cp)
    tagged = [line for line in cp.stderr.splitlines() if line.startswith("[fence:")]
    assert tagged, fmt(cp)
    text = "\n".join(tagged).lower()
    for word in ("mount", "landlock", "seccomp"):
        assert word in text, f"debug plan does not mention {word}" + fmt(cp)


def test_debug_with_long_flag_and_command_output(fence):
    cp = fence.run(["echo", "payload"], flags=["--debug"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "payload\n", fmt(cp)


def test_monitor_flag_accepted(fence):
    cp = fence.run(["echo", "ok"], flags=["-m"])
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "ok\n", fmt(cp)


def test_linux_features(fence):
    cp = fence.run(["--linux-features"], raw_args=True)
    assert cp.returncode == 0, fmt(cp)
    out = (cp.stdout + cp.stderr)
    low = out.lower()
    assert os.uname().release in out, "kernel version missing" + fmt(cp)
    assert re.search(r"landlock.*abi.*\d", low), "no Landlock ABI line" + fmt(cp)
    assert "seccomp" in low, fmt(cp)
    assert "user" in low and "namespace" in low, fmt(cp)
    assert "net" in low, fmt(cp)
    # The rest of this suite runs sandboxes as this very user, so the probe must agree that it
    # can (it once said "no" for unprivileged users because fence is non-dumpable).
    probe = fence.run(["true"])
    if probe.returncode == 0:
        assert "user namespaces: yes" in low and "network namespaces: yes" in low, fmt(cp)
        assert "refuses to run" not in low, fmt(cp)
        # This suite's transparent-path tests run here too: the probe must say so.
        assert "transparent network path (nftables in the sandbox): yes" in out, fmt(cp)


def test_version_names_commit_and_build_date(fence):
    cp = fence.run(["--version"], raw_args=True)
    assert cp.returncode == 0, fmt(cp)
    assert re.fullmatch(r"fence \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(-dirty)?|unknown), "
                        r"built \d{4}-\d{2}-\d{2}\)\n", cp.stdout), fmt(cp)


BASH_COMPLETE = r'''
source <("$FENCE" completion bash)
complete_line() {  # the words of a command line being completed, the last one partial
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
  _fence; printf '%s\n' "${COMPREPLY[*]}"
}
complete_line fence --sh
complete_line fence --shell ""
complete_line fence completion ""
complete_line fence -s
complete_line fence -m --fence-log-f
complete_line fence -- --sh
complete_line fence -c "echo" --mon
'''


def test_bash_completion_from_the_flag_table(fence):
    cp = subprocess.run(["bash", "-c", BASH_COMPLETE], capture_output=True, text=True,
                        env={**os.environ, "FENCE": str(fence.bin)}, timeout=30)
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert lines[0].split() == ["--shell", "--shell-login"], lines
    assert lines[1].split() == ["default", "user"], lines
    assert lines[2].split() == ["bash", "zsh", "fish"], lines
    assert lines[3].split() == ["-s"], lines
    assert lines[4].split() == ["--fence-log-file"], lines
    assert "--shell" not in lines[5], lines  # after --, the command's own words
    assert lines[6].split() == ["--monitor"], lines


@pytest.mark.parametrize("shell,check", [("zsh", ["zsh", "-n"]),
                                         ("fish", ["fish", "--no-execute"])])
def test_zsh_and_fish_completion_scripts_parse(fence, tmp_path, shell, check):
    cp = fence.run(["completion", shell], raw_args=True)
    assert cp.returncode == 0, fmt(cp)
    for flag in ("--settings", "--fence-log-file", "--shell-login", "--audit-syslog"):
        assert flag.lstrip("-") in cp.stdout, (flag, cp.stdout)
    script = tmp_path / f"fence.{shell}"
    script.write_text(cp.stdout)
    assert shutil.which(check[0]), f"{check[0]} not installed (scripts/install-deps.sh installs it)"
    syntax = subprocess.run([*check, str(script)], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr


def test_completion_subcommand_usage(fence):
    cp = fence.run(["completion", "tcsh"], raw_args=True)
    assert cp.returncode == EXIT_CONFIG and len(fence_error_lines(cp.stderr)) == 1, fmt(cp)
    cp = fence.run(["--", "completion"], raw_args=True)
    assert cp.returncode == 127, fmt(cp)  # a command named completion, not the subcommand


def test_output_into_a_memfd(fence):
    """A descriptor Landlock cannot take a rule for (a memfd) as stdout still works."""
    fd = os.memfd_create("fence-out")
    try:
        cp = subprocess.run(fence.argv(["--", "echo", "hi"]), stdout=fd, stderr=subprocess.PIPE,
                            text=True, env=fence.env(), cwd=fence.work, timeout=30)
        assert cp.returncode == 0, cp.stderr
        os.lseek(fd, 0, os.SEEK_SET)
        assert os.read(fd, 100) == b"hi\n"
    finally:
        os.close(fd)
