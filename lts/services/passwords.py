"""Password hashing (argon2id) and the password policy.

Parameters follow OWASP's argon2id recommendation (at least 19 MiB memory, 2
iterations, parallelism 1), the ASVS level-2 floor; werkzeug's default scrypt
parameters are below it. Hashes made with weaker parameters are upgraded at login.
"""

from __future__ import annotations

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


@cache
def _common_passwords() -> frozenset[str]:
    """The bundled list of passwords too common to allow (lower-cased)."""
    text = resources.files("lts.data").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def password_problems(password: str, *, username: str = "", email: str = "") -> list[str]:
    """Return why ``password`` is refused (empty list: acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
    lowered = password.lower()
    if username and lowered == username.lower():
        problems.append("must not be the same as the username")
    if email and (lowered == email.lower() or lowered == email.split("@")[0].lower()):
        problems.append("must not be the same as the email address")
    if lowered in _common_passwords():
        problems.append("is too common; choose one that is not on lists of leaked passwords")
    return problems
