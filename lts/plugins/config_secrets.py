"""Secrets inside plugin configs (API keys...): encrypted at rest, never shown.

Every kind's config is covered (``broker_config`` first of all, but a pipeline's data
API key or a portfolio plugin's token too). A config field is secret when its schema
field says so (``fields.String(metadata={"secret": True})``) or its name looks like a
credential (``api_key``, ``secret``, ``token``, ``password``...). Secret values are
stored as ``enc:v1:<Fernet token>`` with a key derived from the app's ``SECRET_KEY``
(HKDF-SHA256), decrypted only when the plugin they belong to is built
(:mod:`lts.trading.plugin_source`), and masked on every output.

**Nested configs.** A wrapping pipeline holds its source pipeline's config under
``source_config`` (:mod:`lts.plugins.pipeline._wrapping`): that config's secrets are
secrets too, named by a dotted path (``source_config.api_token``). A config schema says
which of its fields hold another plugin's config with a ``nested_secret_names(config)``
class method; credential-like names inside any nested mapping count as well. Every
function here follows the dotted paths, so a nested secret is encrypted, masked, kept
on update and left out of shared views exactly like a top-level one.

It belongs to the plugin layer, beside the config schemas that flag the secrets: the
services encrypt on save, the engine decrypts on use and the schemas mask on output,
all importing it from below them.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PREFIX = "enc:v1:"
MASK = "********"
SECRET_NAME = re.compile(r"(api_?key|secret|token|password|passphrase|private_?key)",
                         re.IGNORECASE)


class SecretError(ValueError):
    """A stored secret cannot be decrypted (the secret key changed, or the value is bad)."""


def _fernet(secret_key: str | bytes | None = None) -> Fernet:
    """The Fernet cipher for ``secret_key`` (default: the current app's SECRET_KEY)."""
    key = secret_key if secret_key is not None else current_app.config["SECRET_KEY"]
    material = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"lts.broker-secrets",
                   info=b"broker_config").derive(material)
    return Fernet(base64.urlsafe_b64encode(derived))


def secret_field_names(schema_cls: type | None, config: Mapping[str, Any] | None = None
                       ) -> set[str]:
    """Names of secret fields: flagged in the schema, or named like a credential.

    Secrets of nested configs come as dotted paths (see the module's note).
    """
    names = set(_schema_secret_names(schema_cls)) if schema_cls is not None else set()
    for name, value in (config or {}).items():
        if SECRET_NAME.search(str(name)):
            names.add(str(name))
        elif isinstance(value, Mapping):
            names |= {f"{name}.{inner}" for inner in secret_field_names(None, value)}
    nested = getattr(schema_cls, "nested_secret_names", None)
    if nested is not None and config:
        names |= set(nested(config))
    return names


def _split(names: Iterable[str]) -> tuple[set[str], dict[str, set[str]]]:
    """Top-level names, and the dotted ones grouped by their first part."""
    top: set[str] = set()
    nested: dict[str, set[str]] = {}
    for name in names:
        head, _, rest = name.partition(".")
        if rest:
            nested.setdefault(head, set()).add(rest)
        else:
            top.add(name)
    return top, nested


@functools.lru_cache(maxsize=512)
def _schema_secret_names(schema_cls: type) -> frozenset[str]:
    """Secret fields a schema class declares (cached: the engine asks per asset and tick)."""
    try:
        declared = schema_cls().fields
    except Exception:  # a broken plugin schema is reported elsewhere
        return frozenset()
    return frozenset(name for name, field_obj in declared.items()
                     if field_obj.metadata.get("secret") or SECRET_NAME.search(name))


def is_encrypted(value: Any) -> bool:
    """Whether ``value`` is a stored ciphertext."""
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt_value(value: Any, secret_key: str | bytes | None = None) -> str:
    """Encrypt one secret (stored as text; non-strings are kept as their JSON text)."""
    if is_encrypted(value):
        return str(value)
    text = value if isinstance(value, str) else repr(value)
    return PREFIX + _fernet(secret_key).encrypt(text.encode("utf-8")).decode("ascii")


def decrypt_value(value: Any, secret_key: str | bytes | None = None) -> Any:
    """Decrypt a stored ciphertext; anything else is returned unchanged."""
    if not is_encrypted(value):
        return value
    try:
        return _fernet(secret_key).decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SecretError("a stored secret cannot be decrypted "
                          "(was SECRET_KEY changed?)") from exc


def encrypt_config(config: Mapping[str, Any], secret_names: Iterable[str],
                   secret_key: str | bytes | None = None) -> dict[str, Any]:
    """Return ``config`` with every secret field's value encrypted (nested ones too)."""
    top, nested = _split(secret_names)
    out: dict[str, Any] = {}
    for k, v in config.items():
        if k in top and v not in (None, ""):
            out[k] = encrypt_value(v, secret_key)
        elif k in nested and isinstance(v, Mapping):
            out[k] = encrypt_config(v, nested[k], secret_key)
        else:
            out[k] = v
    return out


def decrypt_config(config: Mapping[str, Any] | None, secret_key: str | bytes | None = None
                   ) -> dict[str, Any]:
    """Return ``config`` with every stored ciphertext decrypted (for building the plugin)."""
    return {k: decrypt_config(v, secret_key) if isinstance(v, Mapping)
            else decrypt_value(v, secret_key) for k, v in (config or {}).items()}


def mask_config(config: Mapping[str, Any] | None, secret_names: Iterable[str] = ()
                ) -> dict[str, Any]:
    """Return ``config`` for display: every secret (or ciphertext) replaced by a mask."""
    top, nested = _split(secret_names)
    out: dict[str, Any] = {}
    for k, v in (config or {}).items():
        if (k in top and v not in (None, "")) or is_encrypted(v):
            out[k] = MASK
        elif isinstance(v, Mapping):
            out[k] = mask_config(v, nested.get(k, ()))
        else:
            out[k] = v
    return out


def without_secrets(config: Mapping[str, Any] | None, secret_names: Iterable[str]
                    ) -> dict[str, Any]:
    """``config`` with every secret and ciphertext left out (a view other plugins see)."""
    top, nested = _split(secret_names)
    out: dict[str, Any] = {}
    for k, v in (config or {}).items():
        if k in top or is_encrypted(v):
            continue
        out[k] = without_secrets(v, nested.get(k, ())) if isinstance(v, Mapping) else v
    return out


def mask_stored(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored config for display when its plugin is not at hand (API lists).

    Every ciphertext is masked, and so is any value under a credential-like name (a
    secret stored in plain text before its field was flagged).
    """
    return mask_config(config, secret_field_names(None, config))


def merge_update(stored: Mapping[str, Any], incoming: Mapping[str, Any],
                 secret_names: Iterable[str]) -> dict[str, Any]:
    """The config to validate on update: a secret sent as the mask keeps its stored value."""
    top, nested = _split(secret_names)
    merged = dict(incoming)
    for name in top:
        if merged.get(name) == MASK and name in stored:
            merged[name] = stored[name]
    for name, inner in nested.items():
        if isinstance(merged.get(name), Mapping) and isinstance(stored.get(name), Mapping):
            merged[name] = merge_update(stored[name], merged[name], inner)
    return merged
