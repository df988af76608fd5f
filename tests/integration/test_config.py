"""Configuration: strict parsing (command never runs on error), path normalization, globs."""

import tempfile
import shutil
import pathlib
import json
import os
import re

import pytest

from conftest import EXIT_CONFIG, STARTED, assert_started, fence_error_lines, fmt

RAN = "FENCE-ITEST-COMMAND-RAN"


def run_marked(fence, config):
    """Run a command that both prints a marker and creates a marker file."""
    marker = fence.work / "marker"
    cp = fence.sh(f"echo {RAN}; touch '{marker}'", config=config)
    return cp, marker


def assert_rejected(cp, marker, key, line=None):
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert RAN not in cp.stdout, "the command ran despite a bad config" + fmt(cp)
    assert not marker.exists(), "the command ran despite a bad config" + fmt(cp)
    lines = fence_error_lines(cp.stderr)
    assert lines, "no 'fence: ' error line" + fmt(cp)
    msg = "\n".join(lines)
    assert key in msg, f"error does not name the key {key!r}" + fmt(cp)
    if line is not None:
        assert re.search(rf"\b{line}:\d+", msg), f"error does not give line {line} as line:col" + fmt(cp)


def test_full_schema_is_accepted(fence, work):
    config = {
        "network": {
            "allowedDomains": ["example.com", "*.example.org"],
            "deniedDomains": ["evil.example.com"],
            "allowUnixSockets": [],
            "allowAllUnixSockets": False,
            "allowLocalBinding": False,
            "allowLocalOutbound": False,
            "httpProxyPort": 3128,
            "socksProxyPort": 1080,
        },
        "filesystem": {
            "denyRead": [],
            "allowRead": [],
            "allowExecute": [],
            "allowWrite": [str(work)],
            "denyWrite": [],
            "allowGitConfig": False,
        },
        "allowPty": False,
        "command": {"deny": [], "allow": [], "useDefaults": True},
    }
    cp, marker = run_marked(fence, config)
    assert cp.returncode == 0, fmt(cp)
    assert RAN in cp.stdout and marker.exists(), fmt(cp)


def test_empty_object_is_accepted(fence):
    cp = fence.run(["true"], config={})
    assert cp.returncode == 0, fmt(cp)


def test_comments_are_accepted(fence, work):
    text = (
        "// leading comment\n"
        "{\n"
        "  /* block\n     comment */\n"
        f'  "filesystem": {{ "allowWrite": [{json.dumps(str(work))}] }} // trailing\n'
        "}\n"
    )
    cp, marker = run_marked(fence, text)
    assert cp.returncode == 0, fmt(cp)
    assert marker.exists(), fmt(cp)


def _cfg_lines(work, *body_lines):
    """A config whose offending entry is at a known line; allowWrite lets the marker be made."""
    lines = ["{", '  "filesystem": {', f'    "allowWrite": [{json.dumps(str(work))}]', "  },"]
    lines += list(body_lines)
    lines += ['  "allowPty": false', "}"]
    return "\n".join(lines) + "\n"


# (id, body lines placed from line 5 on, key expected in the message, line of the error)
BAD_CONFIGS = [
    ("unknown-top-key", ['  "allowPtty": true,'], "allowPtty", 5),
    ("unknown-nested-key", ['  "network": {', '    "allowedDomain": ["example.com"]', "  },"],
     "allowedDomain", 6),
    ("wrong-type-bool", ['  "network": {', '    "allowLocalBinding": "yes"', "  },"],
     "allowLocalBinding", 6),
    ("wrong-type-port", ['  "network": {', '    "httpProxyPort": "3128"', "  },"],
     "httpProxyPort", 6),
    ("port-out-of-range", ['  "network": {', '    "socksProxyPort": 70000', "  },"],
     "socksProxyPort", 6),
    ("wrong-type-list", ['  "network": {', '    "allowedDomains": "example.com"', "  },"],
     "allowedDomains", 6),
    ("wrong-type-list-item", ['  "network": {', '    "deniedDomains": [1]', "  },"],
     "deniedDomains", 6),
    ("wrong-type-section", ['  "command": [],'], "command", 5),
    ("bad-domain-tld-wildcard", ['  "network": {', '    "allowedDomains": ["*.com"]', "  },"],
     "allowedDomains", 6),
    ("bad-domain-scheme", ['  "network": {', '    "allowedDomains": ["http://x.com"]', "  },"],
     "allowedDomains", 6),
    ("bad-domain-path", ['  "network": {', '    "deniedDomains": ["a.com/p"]', "  },"],
     "deniedDomains", 6),
    ("bad-domain-inner-wildcard", ['  "network": {', '    "allowedDomains": ["a.*.com"]', "  },"],
     "allowedDomains", 6),
]


@pytest.mark.parametrize("body,key,line", [b[1:] for b in BAD_CONFIGS],
                         ids=[b[0] for b in BAD_CONFIGS])
def test_bad_config_rejected_and_command_not_run(fence, work, body, key, line):
    text = _cfg_lines(work, *body)
    cp, marker = run_marked(fence, text)
    assert_rejected(cp, marker, key, line)


def test_duplicate_key_rejected(fence, work):
    text = (
        "{\n"
        '  "filesystem": {\n'
        f'    "allowWrite": [{json.dumps(str(work))}],\n'
        '    "allowGitConfig": false,\n'
        '    "allowGitConfig": true\n'
        "  }\n"
        "}\n"
    )
    cp, marker = run_marked(fence, text)
    assert_rejected(cp, marker, "allowGitConfig", 5)


def test_duplicate_section_rejected(fence, work):
    text = (
        "{\n"
        f'  "filesystem": {{ "allowWrite": [{json.dumps(str(work))}] }},\n'
        '  "filesystem": { "allowWrite": [] }\n'
        "}\n"
    )
    cp, marker = run_marked(fence, text)
    assert_rejected(cp, marker, "filesystem", 3)


@pytest.mark.parametrize("field", ["allowWrite", "denyWrite", "denyRead", "allowRead",
                                   "allowExecute"])
def test_empty_path_rejected(fence, work, field):
    if field == "allowWrite":
        fs = f'"allowWrite": [{json.dumps(str(work))}, ""]'
    else:
        fs = f'"allowWrite": [{json.dumps(str(work))}],\n    "{field}": [""]'
    text = "{\n  \"filesystem\": {\n    " + fs + "\n  }\n}\n"
    cp, marker = run_marked(fence, text)
    assert_rejected(cp, marker, field)


def test_syntax_error_rejected(fence, work):
    text = "{\n  \"filesystem\": {\n    \"allowWrite\": [" + json.dumps(str(work)) + "],\n  }\n"
    cp, marker = run_marked(fence, text)
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert RAN not in cp.stdout and not marker.exists(), fmt(cp)
    assert re.search(r"\d+:\d+", "\n".join(fence_error_lines(cp.stderr))), fmt(cp)


def test_nul_byte_rejected(fence, work):
    text = ('{"filesystem": {"allowWrite": [' + json.dumps(str(work)) + ', "'
            + str(work) + '\0x"]}}').encode()
    cp, marker = run_marked(fence, text)
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert RAN not in cp.stdout and not marker.exists(), fmt(cp)


def test_trailing_garbage_rejected(fence, work):
    text = '{"filesystem": {"allowWrite": [' + json.dumps(str(work)) + ']}} {"x": 1}'
    cp, marker = run_marked(fence, text)
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert RAN not in cp.stdout and not marker.exists(), fmt(cp)


def test_text_after_a_nul_byte_rejected(fence, work):
    # The JSON lexer reads a NUL as the end of the input: a second object after one must not
    # be dropped silently (it is where a wider policy would hide).
    first = '{"filesystem": {"allowWrite": [' + json.dumps(str(work)) + ']}}'
    for tail in ('\0{"network": {"allowedDomains": ["*"]}}', '\0', '\n\0\n'):
        cp, marker = run_marked(fence, (first + tail).encode())
        assert cp.returncode == EXIT_CONFIG, fmt(cp)
        assert RAN not in cp.stdout and not marker.exists(), fmt(cp)
        assert any("NUL byte" in line for line in fence_error_lines(cp.stderr)), fmt(cp)


def test_missing_settings_file_is_error(fence, tmp_path):
    missing = tmp_path / "does-not-exist.json"
    cp = fence.sh(f"echo {RAN}", config=missing)
    assert cp.returncode == EXIT_CONFIG, fmt(cp)
    assert RAN not in cp.stdout, fmt(cp)
    lines = fence_error_lines(cp.stderr)
    assert len(lines) == 1 and "does-not-exist.json" in lines[0], fmt(cp)


def test_home_fence_json_used_without_s(fence, home, work):
    (home / ".fence.json").write_text(json.dumps({"filesystem": {"allowWrite": [str(work)]}}))
    cp = fence.sh("echo hi > made-by-home-config")
    assert cp.returncode == 0, fmt(cp)
    assert (work / "made-by-home-config").read_text() == "hi\n"


def test_bad_home_fence_json_is_error(fence, home, work):
    (home / ".fence.json").write_text('{"filesystem": {"allowWrite": [' + json.dumps(str(work))
                                      + '], "bogusKey": 1}}')
    cp, marker = run_marked(fence, None)
    assert_rejected(cp, marker, "bogusKey", 1)


def test_s_overrides_home_fence_json(fence, home, work):
    (home / ".fence.json").write_text(json.dumps({"filesystem": {"allowWrite": [str(work)]}}))
    cp = fence.sh(f"echo {STARTED}; echo hi > f", config={})
    assert_started(cp)
    assert cp.returncode != 0, fmt(cp)
    assert not (work / "f").exists()


def test_default_policy_without_any_config(fence, work):
    cp = fence.sh(f"echo {STARTED}; echo hi > f")
    assert_started(cp)
    assert cp.returncode != 0, fmt(cp)
    assert not (work / "f").exists()


# ---- path normalization -------------------------------------------------------------------

def _write_probe(fence, config, target, cwd=None):
    return fence.sh(f"echo probe > '{target}'", config=config, cwd=cwd)


def test_tilde_path(fence, home):
    (home / "w").mkdir()
    cp = _write_probe(fence, {"filesystem": {"allowWrite": ["~/w"]}}, home / "w" / "f")
    assert cp.returncode == 0, fmt(cp)
    assert (home / "w" / "f").read_text() == "probe\n"


def test_relative_path_is_relative_to_cwd(fence, work):
    (work / "sub").mkdir()
    (work / "other").mkdir()
    cfg = {"filesystem": {"allowWrite": ["sub"]}}
    cp = _write_probe(fence, cfg, work / "sub" / "f")
    assert cp.returncode == 0, fmt(cp)
    assert (work / "sub" / "f").exists()
    cp = _write_probe(fence, cfg, work / "other" / "f")
    assert cp.returncode != 0, fmt(cp)
    assert not (work / "other" / "f").exists()


def test_dot_slash_and_trailing_slash(fence, work):
    (work / "sub").mkdir()
    cp = _write_probe(fence, {"filesystem": {"allowWrite": ["./sub/"]}}, work / "sub" / "f")
    assert cp.returncode == 0, fmt(cp)
    assert (work / "sub" / "f").exists()


def test_symlinked_config_path_is_resolved(fence, tmp_path, work):
    real = work / "real"
    real.mkdir()
    # Symlinks are followed only where no sandboxed run could have planted them: not in the
    # working directory, HOME or /tmp (see docs/configuration.md). /var/tmp is such a place.
    outside = pathlib.Path(tempfile.mkdtemp(dir="/var/tmp", prefix="fence-itest-"))
    try:
        link = outside / "link-to-real"
        link.symlink_to(real)
        # the probe writes through the real path: the link itself lives outside the sandbox view
        cp = _write_probe(fence, {"filesystem": {"allowWrite": [str(link)]}}, real / "f")
        assert cp.returncode == 0, fmt(cp)
        assert (real / "f").read_text() == "probe\n"
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def test_symlink_in_tmp_is_not_followed_for_allow_write(fence, tmp_path, work):
    real = work / "real"
    real.mkdir()
    link = tmp_path / "link-to-real"
    link.symlink_to(real)
    cp = _write_probe(fence, {"filesystem": {"allowWrite": [str(link)]}}, real / "f")
    assert cp.returncode != 0, fmt(cp)
    assert not (real / "f").exists()


def test_dotdot_in_path(fence, work):
    (work / "a").mkdir()
    (work / "b").mkdir()
    cp = _write_probe(fence, {"filesystem": {"allowWrite": ["a/../b"]}}, work / "b" / "f")
    assert cp.returncode == 0, fmt(cp)
    cp = _write_probe(fence, {"filesystem": {"allowWrite": ["a/../b"]}}, work / "a" / "f")
    assert cp.returncode != 0, fmt(cp)
    assert not (work / "a" / "f").exists()


def _make(path, text="original\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_glob_star_in_deny_write(fence, work):
    pem = _make(work / "server.pem")
    txt = _make(work / "notes.txt")
    cfg = {"filesystem": {"allowWrite": ["."], "denyWrite": ["*.pem"]}}
    cp = fence.sh(f"echo x >> '{pem}'; echo x >> '{txt}'", config=cfg)
    assert pem.read_text() == "original\n", "*.pem not protected" + fmt(cp)
    assert txt.read_text() == "original\nx\n", fmt(cp)


def test_glob_question_mark(fence, work):
    f1 = _make(work / "data" / "file1.txt")
    f10 = _make(work / "data" / "file10.txt")
    cfg = {"filesystem": {"allowWrite": ["."], "denyWrite": ["data/file?.txt"]}}
    fence.sh(f"echo x >> '{f1}'; echo x >> '{f10}'", config=cfg)
    assert f1.read_text() == "original\n", "file?.txt did not match file1.txt"
    assert f10.read_text() == "original\nx\n", "file?.txt must not match file10.txt"


def test_glob_double_star_in_middle(fence, work):
    deep = _make(work / "src" / "a" / "b" / "c" / "id.key")
    shallow = _make(work / "src" / "x" / "id.key")
    other = _make(work / "src" / "a" / "b" / "c" / "id.txt")
    outside = _make(work / "lib" / "id.key")
    cfg = {"filesystem": {"allowWrite": ["."], "denyWrite": ["src/**/*.key"]}}
    cp = fence.sh(" ; ".join(f"echo x >> '{p}'" for p in (deep, shallow, other, outside)),
                  config=cfg)
    assert deep.read_text() == "original\n", "src/**/*.key missed a deep file" + fmt(cp)
    assert shallow.read_text() == "original\n", "src/**/*.key missed src/x/id.key" + fmt(cp)
    assert other.read_text() == "original\nx\n", fmt(cp)
    assert outside.read_text() == "original\nx\n", fmt(cp)


def test_glob_in_deny_read(fence, work):
    secret = _make(work / "conf" / "prod.secret", "TOPSECRET-GLOB\n")
    plain = _make(work / "conf" / "prod.cfg", "plain\n")
    cp = fence.sh(f"cat '{secret}'; cat '{plain}'",
                  config={"filesystem": {"denyRead": ["conf/*.secret"]}})
    assert "TOPSECRET-GLOB" not in cp.stdout, fmt(cp)
    assert "plain" in cp.stdout, fmt(cp)
