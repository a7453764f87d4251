"""Password hashing (argon2id) and the password policy.

Parameters follow OWASP's argon2id recommendation (at least 19 MiB memory, 2
iterations, parallelism 1), the ASVS level-2 floor; werkzeug's default scrypt
parameters are below it. Hashes made with weaker parameters are upgraded at login.

The policy (ASVS 2.1): at least 12 characters, not the username or email, not one
repeated character, and not on a list of 414,611 leaked passwords (SecLists, see
lts/data/BREACHED_PASSWORDS.md), also once decorated ("Password123!", "trustno1trustno1").

It lives with the aaa plugin, which checks and changes passwords at login, reset and
registration; the services and schemas above read its rules from here (plugins import
no service).
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a cap stops hashing megabytes per request
ARGON2_MEMORY_KIB = 19_456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)


def hash_password(password: str) -> str:
    """Return an argon2id hash with a fresh random salt."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Check ``password`` against ``password_hash`` in constant time; False on any mismatch."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


BREACHED_LIST = "breached_passwords.txt.gz"
#: At most this many digits/symbols stripped from the end ("password" + "123!").
MAX_STRIPPED_SUFFIX = 6
#: Fewer distinct characters than this is no password ("abababababab").
MIN_DISTINCT = 4
_TRAILING_NON_LETTERS = re.compile(r"[\W\d_]+$")
_TRAILING_SYMBOLS = re.compile(r"[\W_]+$")


class SortedLines:
    """A sorted, newline-terminated list of UTF-8 lines, searched by bisection.

    The 414,611 breached passwords take 3.5 MB as one ``bytes`` object and load in
    ~0.1 s; a ``frozenset`` of them takes ~40 MB per worker process. Each lookup is
    ~20 comparisons of one line (microseconds), with no per-entry objects at all.
    """

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.count = blob.count(b"\n")

    def __contains__(self, word: object) -> bool:
        """Bisect on byte offsets: each probe reads the line around the midpoint."""
        if not isinstance(word, str) or "\n" in word:
            return False
        key, blob = word.encode("utf-8", "surrogatepass"), self.blob
        low, high = 0, len(blob)  # both always at the start of a line (or the end)
        while low < high:
            start = blob.rfind(b"\n", low, (low + high) // 2) + 1 or low
            start = max(start, low)
            end = blob.index(b"\n", start)
            line = blob[start:end]
            if line == key:
                return True
            if line < key:
                low = end + 1
            else:
                high = start
        return False

    def __len__(self) -> int:
        return self.count


@cache
def breached_passwords() -> SortedLines:
    """The bundled list of leaked passwords (lower-cased), loaded once per process."""
    data = resources.files("lts.data").joinpath(BREACHED_LIST).read_bytes()
    return SortedLines(gzip.decompress(data))


def _variants(lowered: str) -> dict[str, str]:
    """The forms of a password looked up in the list, each with how it was derived.

    People decorate a listed password: digits and symbols at the end ("Password123!"),
    or the same word twice ("trustno1trustno1"). Each undecorated form is looked up too.
    """
    found = {lowered: "it is"}
    for pattern in (_TRAILING_SYMBOLS, _TRAILING_NON_LETTERS):
        match = pattern.search(lowered)
        if match and 0 < len(match.group()) <= MAX_STRIPPED_SUFFIX < len(lowered):
            found.setdefault(lowered[:match.start()],
                             "without the digits and symbols at its end, it is")
    for size in range(1, len(lowered) // 2 + 1):
        if len(lowered) % size == 0 and lowered[:size] * (len(lowered) // size) == lowered:
            found.setdefault(lowered[:size], "it repeats a password that is")
            break
    return {variant: how for variant, how in found.items() if variant}


def _breach_problem(lowered: str) -> str | None:
    """Why the password counts as leaked, or None."""
    listed = breached_passwords()
    for variant, how in _variants(lowered).items():
        if variant in listed:
            return (f"is too common: {how} on a list of {len(listed):,} leaked passwords; "
                    "choose one that is not on lists of leaked passwords")
    return None


def _repetition_problem(password: str) -> str | None:
    """Why the password is made of too few characters, or None."""
    if not password.strip():
        return "must not be made only of spaces"
    most = max(password.count(char) for char in set(password))
    if most * 2 > len(password):
        return "must not be made mostly of one repeated character"
    if len(set(password.lower())) < MIN_DISTINCT:
        return f"must use at least {MIN_DISTINCT} different characters"
    return None


def _identity_problems(lowered: str, username: str, email: str) -> list[str]:
    """Why the password gives away the account it protects (username or email)."""
    problems = []
    name = username.lower()
    if name and lowered == name:
        problems.append("must not be the same as the username")
    elif len(name) >= 3 and name in lowered:
        problems.append("must not contain the username")
    address = email.lower()
    local = address.split("@")[0]
    if address and lowered in (address, local):
        problems.append("must not be the same as the email address")
    elif len(local) >= 3 and local in lowered:
        problems.append("must not contain the name part of the email address")
    return problems


def password_problems(password: str, *, username: str = "", email: str = "") -> list[str]:
    """Return why ``password`` is refused (empty list: acceptable), each as a sentence end.

    Length first; then the password must not give away the account, be made of one
    character, or be (a decorated form of) a password on the breached list.
    """
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
        return problems  # nothing more is computed on megabytes of text
    lowered = password.strip().lower()
    problems.extend(_identity_problems(lowered, username, email))
    for problem in (_repetition_problem(password), _breach_problem(lowered)):
        if problem:
            problems.append(problem)
    return problems
