"""Text that fence did not write itself (a settings file, the command line, paths and process
names from inside the sandbox) never reaches fence's stderr raw: no terminal escape sequence,
no carriage return, no newline that would start a forged `fence: ...` line.

Every sandboxed command here sends its own stderr to /dev/null, so every byte checked is one
that fence wrote."""

from __future__ import annotations

import json
import re

from conftest import PY, fmt

ESC = "\x1b"
# A payload that clears the screen, colours the rest red, and forges a line of its own.
PAYLOAD = (ESC + "[2J" + ESC + "]0;owned\x07\r\nfence: forged line\x9b31m\u2028tail"
           "\u202egnp.exe\u2066x\u2069")
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\x80-\x9f\u2028\u2029\u061c\u200e\u200f"
                     r"\u202a-\u202e\u2066-\u2069]")


def assert_clean(cp) -> None:
    """fence's stderr: printable lines only, and no line forged by the payload."""
    stderr = cp.stderr
    bad = CONTROL.search(stderr)
    assert bad is None, f"control character {bad.group(0)!r} on stderr" + fmt(cp)
    for line in stderr.splitlines():
        assert not line.startswith("fence: forged"), "a forged line" + fmt(cp)


def run_bytes(fence, args, **kw):
    """Like fence.run, but stderr is decoded without replacing anything (surrogateescape), so
    a raw byte cannot hide behind U+FFFD."""
    import subprocess
    argv = fence.argv(["--", *args], kw.pop("config", None), kw.pop("flags", ()))
    cp = subprocess.run(argv, cwd=str(fence.work), env=fence.env(), capture_output=True,
                        timeout=30)
    cp.stdout = cp.stdout.decode("utf-8", "surrogateescape")
    cp.stderr = cp.stderr.decode("utf-8", "surrogateescape")
    cp.args = argv
    return cp


def test_config_values_in_errors_are_escaped(fence):
    for config in (
        {"filesystem": {"allowWrite": ["~bob" + PAYLOAD]}},          # path syntax error
        {"network": {"allowedDomains": ["*." + PAYLOAD]}},           # domain pattern error
        {"command": {"deny": ["git push", "x " + PAYLOAD + " '"]}},  # shell text error
        {"network": {PAYLOAD: True}},                                # unknown key
        {"network": {"allowedDomains": ["127.1" + PAYLOAD]}},
    ):
        cp = run_bytes(fence, ["true"], config=config)
        assert cp.returncode == 122, fmt(cp)
        assert len([l for l in cp.stderr.splitlines() if l.startswith("fence: ")]) == 1, fmt(cp)
        assert_clean(cp)


def test_settings_path_and_arguments_in_errors_are_escaped(fence, tmp_path):
    cp = run_bytes(fence, ["true"], config=tmp_path / ("missing" + PAYLOAD + ".json"))
    assert cp.returncode == 122, fmt(cp)
    assert_clean(cp)
    for flags in (["-p", "1.2.3" + PAYLOAD + ":80"], ["-p", "[" + PAYLOAD + "]:80"],
                  ["--audit-log", str(tmp_path / ("nodir" + PAYLOAD) / "a.jsonl")],
                  ["--audit-syslog=" + str(tmp_path / ("none" + PAYLOAD))]):
        cp = run_bytes(fence, ["true"], flags=flags)
        assert cp.returncode == 122, fmt(cp)
        assert "forged" in cp.stderr, "the text is shown, escaped" + fmt(cp)
        assert_clean(cp)


def test_command_not_found_message_is_escaped(fence):
    cp = run_bytes(fence, ["no-such-program" + PAYLOAD])
    assert cp.returncode == 127, fmt(cp)
    assert_clean(cp)


def test_monitor_lines_with_sandbox_paths_and_names_are_escaped(fence, work):
    # A refused write to a name the command chose, from a process whose name it chose.
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None)\n"
        f"libc.prctl(15, {json.dumps(PAYLOAD[:15])}.encode('latin-1', 'replace'))\n"
        f"name = {json.dumps(PAYLOAD)}\n"
        "for p in ('/etc/' + name, '/usr/' + name + '/x'):\n"
        "    try:\n"
        "        open(p, 'w')\n"
        "    except OSError:\n"
        "        pass\n"
        "try:\n"
        "    os.execv('/bin/true', ['git', 'push', name])\n"
        "except OSError:\n"
        "    pass\n"
    )
    cp = run_bytes(fence, [PY, "-c", code], flags=["-m"],
                   config={"command": {"deny": ["git push"]}})
    assert "[fence:fs]" in cp.stderr and "[fence:cmd]" in cp.stderr, fmt(cp)
    assert_clean(cp)


def test_debug_lines_with_argv_are_escaped(fence):
    cp = run_bytes(fence, ["sh", "-c", "exit 0", PAYLOAD], flags=["-d"])
    assert cp.returncode == 0, fmt(cp)
    assert "[fence:cmd] argv:" in cp.stderr, fmt(cp)
    assert_clean(cp)


def test_blocked_command_message_is_escaped(fence):
    cp = run_bytes(fence, ["git", "push", PAYLOAD], config={"command": {"deny": ["git push"]}})
    assert cp.returncode == 120, fmt(cp)
    assert_clean(cp)
