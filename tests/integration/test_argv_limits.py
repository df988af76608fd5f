"""argv and environment cross fence whole: up to what the kernel accepts for a direct execve,
and beyond it the kernel's own error (E2BIG). Never a truncation, never a decision on a prefix.

- fence's own command line: 3,000 file names, one 64 KiB -c script, a 20 KiB variable;
- the runtime command policy judges the whole argv of every exec inside (a refused word after
  1,100 others is still refused);
- over the kernel's limits: E2BIG inside (with and without the command policy), exit 126 with
  "Argument list too long" for fence's own command."""

from __future__ import annotations

import os
import resource

from conftest import PY, fmt

DENY_ECHO = {"command": {"deny": ["echo refused-word"]}}


def test_three_thousand_file_names(fence, work):
    names = [f"src/module-{i:04d}/file-{i:04d}.c" for i in range(3000)]
    cp = fence.run(["/bin/echo", *names], config={})
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout.split() == names


def test_a_64_kib_shell_script(fence):
    lines = [f"x{i}=$(( {i} * 2 ))" for i in range(6000)]
    script = "\n".join(lines) + "\necho done $x5999 ${#x0}\n"
    assert len(script.encode()) > 64 * 1024
    cp = fence.run(["-c", script], config={}, raw_args=True)
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == "done 11998 1\n", fmt(cp)


def test_a_20_kib_environment_variable(fence):
    value = "v" * (20 * 1024)
    cp = fence.run(["sh", "-c", 'printf %s "$BIG" | wc -c; printf %s "$BIG" | md5sum'],
                   config={}, env={"BIG": value})
    assert cp.returncode == 0, fmt(cp)
    import hashlib
    assert cp.stdout.split()[:2] == [str(len(value)), hashlib.md5(value.encode()).hexdigest()], fmt(cp)


def test_one_argument_of_the_kernel_maximum(fence):
    arg = "a" * (128 * 1024 - 1)  # MAX_ARG_STRLEN with its NUL
    cp = fence.run([PY, "-c", "import sys; print(len(sys.argv[1]))", arg], config={})
    assert cp.returncode == 0, fmt(cp)
    assert cp.stdout == f"{len(arg)}\n"


def test_runtime_policy_reads_the_whole_argv(fence, work):
    # The exec comes from a script file, so the runtime check decides (the preflight sees only
    # `sh script`).
    words = " ".join(f"w{i}" for i in range(1100))
    script = work / "script.sh"
    for line in (f"/bin/echo {words} refused-word",
                 f"/bin/echo {'x' * 100000} {words} refused-word",
                 "/bin/echo " + " ".join("y" * 100 for _ in range(3000)) + " refused-word"):
        script.write_text(line + "\necho exit=$?\n")
        cp = fence.run(["sh", str(script)], config=DENY_ECHO, flags=["-m"])
        assert "refused-word" not in cp.stdout, "the refused exec ran" + fmt(cp)
        assert "exit=126" in cp.stdout, fmt(cp)
        assert "[fence:cmd] ✗" in cp.stderr, fmt(cp)
    # The same line without the refused word runs.
    script.write_text(f"/bin/echo {words} fine\n")
    cp = fence.run(["sh", str(script)], config=DENY_ECHO)
    assert cp.returncode == 0 and cp.stdout.split()[-1] == "fine", fmt(cp)


EXEC_HUGE = r"""
import os, sys
for args in (["echo", "x" * (128 * 1024)], ["echo"] + ["y" * 100000] * 80):
    try:
        os.execv("/bin/echo", args)
    except OSError as e:
        print("errno", e.errno, flush=True)
"""


def test_exec_over_the_kernel_limits_is_e2big_inside(fence):
    for config in ({}, DENY_ECHO):  # without and with runtime checks: the same errno
        cp = fence.run([PY, "-c", EXEC_HUGE], config=config)
        assert cp.returncode == 0, fmt(cp)
        assert cp.stdout.split("\n")[:2] == ["errno 7", "errno 7"], fmt(cp)


def arg_max() -> int:
    stack = resource.getrlimit(resource.RLIMIT_STACK)[0]
    limit = 6 * 1024 * 1024 if stack == resource.RLIM_INFINITY else min(6 << 20, stack // 4)
    return max(limit, 128 * 1024)


def exec_size(filename: str, argv: list[str], env: dict[str, str]) -> int:
    """Bytes execve needs, as the kernel counts them (strings with NULs, one pointer each)."""
    strings = [filename, *argv, *(f"{k}={v}" for k, v in env.items())]
    return sum(len(s.encode()) + 1 for s in strings) + 8 * (len(argv) + len(env))


def test_command_line_over_the_limit_inside_is_e2big_not_truncated(fence):
    # fence itself starts (its command line fits), but the command's environment gains the
    # proxy variables inside and no longer fits: the kernel's E2BIG, exit 126.
    argv = fence.argv(["--", "/bin/true"], config={})
    env = fence.env()
    base = exec_size(argv[0], argv, env)
    room = arg_max() - base - 64
    chunk = 100 * 1024
    fillers = {f"FILL{i}": "f" * min(chunk, room - i * (chunk + 16)) for i in range(room // (chunk + 16) + 1)}
    fillers = {k: v for k, v in fillers.items() if v}
    env.update(fillers)
    while exec_size(argv[0], argv, env) > arg_max() - 32:
        k = next(iter(fillers))
        env[k] = env[k][:-64]
    import subprocess
    cp = subprocess.run(argv, env=env, cwd=fence.work, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 126, fmt(cp)
    assert "Argument list too long" in cp.stderr, fmt(cp)
