"""Password hashing parameters and the password policy's messages."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters
from argon2.low_level import Type

from lts.plugins.aaa.passwords import (
    ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM,
    ARGON2_TIME_COST,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)


def test_hashes_are_argon2id_with_the_configured_parameters():
    parameters = extract_parameters(hash_password("a long enough passphrase"))
    assert parameters.type is Type.ID
    assert parameters.memory_cost == ARGON2_MEMORY_KIB >= 19_456
    assert parameters.time_cost == ARGON2_TIME_COST >= 2
    assert parameters.parallelism == ARGON2_PARALLELISM


def test_same_password_gives_different_hashes_that_both_verify():
    first, second = hash_password("same passphrase 1"), hash_password("same passphrase 1")
    assert first != second
    assert verify_password(first, "same passphrase 1") and verify_password(second,
                                                                           "same passphrase 1")
    assert not verify_password(first, "other passphrase")
    assert not needs_rehash(first)
    assert needs_rehash("not a hash")


@pytest.mark.parametrize("password,message", [
    ("short", "must be at least 12 characters long"),
    ("aliceliddell", "must not be the same as the username"),
    ("alice@example.com", "must not be the same as the email address"),
    ("123456789012", "is too common: it is on a list of 414,611 leaked passwords; "
                     "choose one that is not on lists of leaked passwords"),
    ("x" * 1025, "must be at most 1024 characters long"),
])
def test_password_policy_messages(password, message):
    problems = password_problems(password, username="aliceliddell", email="alice@example.com")
    assert message in problems


def test_a_good_password_has_no_problems():
    assert password_problems("correct-horse-battery-42", username="alice",
                             email="alice@example.com") == []
