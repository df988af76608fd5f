"""The checked-in JSON Schema (docs/schema/fence.schema.json) is what the binary generates from
its own key tables, and every built-in template and every settings-file example in the docs
validates against it. Usage: schema_check.py FENCE_BINARY REPO_ROOT"""

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema

fence, repo = Path(sys.argv[1]), Path(sys.argv[2])
checked_in = repo / "docs/schema/fence.schema.json"
generated = subprocess.run([fence, "config", "schema"], check=True, capture_output=True,
                           text=True).stdout
if generated != checked_in.read_text():
    sys.exit(f"{checked_in} is stale: run `cmake --build build --target schema` and commit it")
schema = json.loads(generated)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)


def strip_jsonc(text: str) -> str:
    """Comments and trailing commas out, strings kept (the reader's JSONC)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            out.append(c)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


failures, count = [], 0
names = [line.split()[0] for line in subprocess.run(
    [fence, "--list-templates"], check=True, capture_output=True, text=True).stdout.splitlines()[1:]]
for name in names:
    shown = subprocess.run([fence, "config", "show", "-t", name], check=True, capture_output=True,
                           text=True, env={"HOME": "/nonexistent", "PATH": "/usr/bin:/bin"}).stdout
    for e in validator.iter_errors(json.loads(shown)):
        failures.append(f"template {name}: {e.message}")
    count += 1
settings_keys = {"network", "filesystem", "command", "extends", "devices", "ssh", "macos"}
for doc in sorted(list((repo / "docs").glob("*.md")) + [repo / "README.md"]):
    for block in re.findall(r"```(?:jsonc|json)\n(.*?)```", doc.read_text(), re.S):
        try:
            value = json.loads(strip_jsonc(block))
        except json.JSONDecodeError:
            continue  # not a whole document (an excerpt, a record with "...")
        if not isinstance(value, dict) or not (set(value) & settings_keys):
            continue  # an audit record, a hook payload
        if set(value) - set(schema["properties"]):
            continue  # another file's format
        for e in validator.iter_errors(value):
            failures.append(f"{doc.relative_to(repo)}: {e.message}")
        count += 1
if failures:
    sys.exit("\n".join(failures))
print(f"schema current; {count} templates and examples valid")
