"""No secret in the repository: every tracked file is scanned for the shapes real credentials
have (private keys, cloud and service tokens, URLs with a password in them, secret settings
given a literal value), and for files that hold nothing but secrets (`.env`, key stores).

Pulse takes secrets from the environment only (`pulse.config.SECRET_KEYS`); the test-suite's
own keys (fixtures such as `KEYS` in tests/services/support.py) open nothing outside the tests,
so literal values of secret settings are allowed under tests/ only. The scanner is tested on
planted samples first, so a pattern that could never match fails here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pulse.config import PROJECT_ROOT

PATTERNS: dict[str, re.Pattern[str]] = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Stripe live key": re.compile(r"\b[sr]k_live_[0-9A-Za-z]{20,}"),
    "JSON web token": re.compile(
        r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
    ),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:(?!\$\{)[^\s/@'\"]{3,}@"),
}
# A secret setting given a literal value: `PULSE_..._PASSWORD=x`, `password: x`, `api_keys: x`.
# Values that are references are fine: `${VAR}`, `$VAR`, `...`, `<...>`, `null`.
SECRET_SETTING = re.compile(
    r"(?i)\b(?:[a-z_]*password|api_keys?|[a-z_]*secret|registry_key|ingest_key|token)\b"
    r"\s*[:=]\s*['\"]?(?!\$|\.\.\.|<|null\b|none\b|~|\{)([^\s'\"#,)]{6,})"
)
SECRET_FILES = re.compile(r"(^|/)(\.env(\..*)?|.*\.(pem|key|p12|pfx|jks|keystore)|id_[rd]sa)$")
# Where a secret setting's literal value is not a secret: the tests' own fixtures, and Python
# code, whose `password=...` are parameters and variables, never values (they would be caught
# by the shapes above if they were real credentials).
LITERALS_ALLOWED = re.compile(r"^tests/|\.py$")


def findings(path: str, text: str) -> list[str]:
    """What in `text` (the file at `path`, relative to the repository) looks like a secret."""
    found = [f"{path}: a file of this kind holds secrets"] if SECRET_FILES.search(path) else []
    for number, line in enumerate(text.splitlines(), 1):
        found += [f"{path}:{number}: {name}" for name, p in PATTERNS.items() if p.search(line)]
        if not LITERALS_ALLOWED.search(path) and SECRET_SETTING.search(line):
            found.append(f"{path}:{number}: a secret setting with a literal value")
    return found


# Each sample is cut in two, so that this file itself holds no secret's shape.
PLANTED = {
    "-----BEGIN RSA PRIVATE" + " KEY-----": "private key",
    "aws_access_key_id = AKIA" + "IOSFODNN7EXAMPLE": "AWS access key",
    "token ghp_" + "0123456789abcdefghijklmnopqrstuvwxyzAB": "GitHub token",
    "xoxb-" + "1234567890-abcdefghij": "Slack token",
    "AIza" + "SyA1234567890abcdefghijklmnopqrstuv": "Google API key",
    "sk_live_" + "0123456789abcdefghijklmn": "Stripe live key",
    "eyJhbGciOiJIUzI1NiJ9."
    + "eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU": "JSON web token",
    "url: postgresql://pulse:" + "hunter22@db:5432/pulse": "password in a URL",
    "PULSE_POSTGRES__PASSWORD=" + "hunter22": "a secret setting with a literal value",
    "  api_keys: " + "k1-0123456789": "a secret setting with a literal value",
}


@pytest.mark.parametrize(("line", "kind"), PLANTED.items())
def test_the_scanner_finds_each_kind_of_secret(line: str, kind: str) -> None:
    assert any(kind in finding for finding in findings("conf/x.yaml", line)), line


@pytest.mark.parametrize(
    "line",
    [
        "PULSE_POSTGRES__PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}",
        "export POSTGRES_PASSWORD=... MYSQL_ROOT_PASSWORD=...",
        "password: null",
        "redis://127.0.0.1:6379/0",
        "- secretRef: {name: pulse-secrets}",
    ],
)
def test_references_to_secrets_are_not_secrets(line: str) -> None:
    assert findings("docker/compose.yaml", line) == []


def test_files_of_secrets_are_found_by_name() -> None:
    assert findings(".env", "") and findings("certs/server.key", "") and findings("id_rsa", "")


def test_no_tracked_file_holds_a_secret() -> None:
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    scanned, found = 0, []
    for name in filter(None, tracked):
        path = Path(PROJECT_ROOT, name)
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        found += findings(name, path.read_bytes().decode("utf-8", errors="replace"))
        scanned += 1
    assert scanned > 100
    assert found == [], "\n".join(found)
