"""Secrets at rest: ``amlses:v1:`` tokens, and the key that opens them.

Automate stores ``SECRETKEY`` and ``PROXYPWD`` encrypted inside the task text with a key baked
into Automate, so anyone holding Automate can read them.  amlses offers the same convenience
(paste an encrypted value into the task) with a key that belongs to the user instead:

* ``amlses key init`` creates a random key in a file only its owner can read (mode 0600);
* ``amlses encrypt`` turns a secret into a token, ``SECRETKEY="amlses:v1:gAAAA…"``;
* at run time every token is decrypted before the first step runs, and the plain values are
  registered with the run's :class:`~amlses.redact.Redactor`, so they never reach any output.

The cipher is Fernet from the ``cryptography`` package (AES-128-CBC with HMAC-SHA256,
encrypt-then-MAC), a vetted recipe rather than a construction of our own: a token that was
changed, truncated or made with another key fails its MAC and is refused, never decrypted to
garbage.  ``v1`` names that format, so a later one can be told apart and refused with a clear
message by this version.

The key is looked up, in order (the first one found wins, the others are not consulted):

1. ``AMLSES_KEY`` in the environment (CI secrets, containers);
2. the key file: ``AMLSES_KEY_FILE``, else ``amlses/key`` in the user's config directory
   (``$XDG_CONFIG_HOME``, ``~/.config``; ``%APPDATA%`` on Windows);
3. the OS keyring (service ``amlses``, user ``key``), when the optional ``keyring`` package is
   installed and finds a backend (``pip install 'amlses[keyring]'``).

``cryptography`` and ``keyring`` are imported only when a key is actually needed, so tasks
without tokens, ``amlses check`` and ``--help`` never pay for them.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .errors import AmlError, StepError
from .files import printable, read_bounded
from .secrets import is_secret_attribute

if TYPE_CHECKING:
    from .lang.nodes import Task
    from .redact import Redactor

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "KEYRING_SERVICE",
    "KEYRING_USER",
    "TOKEN_PREFIX",
    "Key",
    "Vault",
    "decrypt",
    "default_key_file",
    "encrypt",
    "find_key",
    "generate_key",
    "init_key_file",
    "is_token",
    "key_file_path",
    "load_key",
    "reveal_task",
    "store_key_in_keyring",
]

#: what every token of the current format starts with
TOKEN_PREFIX: Final = "amlses:v1:"
#: the environment variable holding the key itself
KEY_ENV: Final = "AMLSES_KEY"
#: the environment variable naming the key file
KEY_FILE_ENV: Final = "AMLSES_KEY_FILE"
#: where the key lives in the OS keyring
KEYRING_SERVICE: Final = "amlses"
KEYRING_USER: Final = "key"
#: a key file holds one Fernet key (44 characters); anything much larger is not a key file
MAX_KEY_FILE_BYTES: Final = 64 * 1024

# Any "amlses:" value is a token, of whatever version: an unknown version must be refused, not
# sent to AWS as if it were a plain secret.  AWS secrets (base64) never contain a colon.
_TOKEN = re.compile(r"amlses:([^:]*):(.*)", re.DOTALL)
_CURRENT_VERSION: Final = "v1"
# A Fernet token is version byte 0x80, a timestamp, an IV, ≥ 1 block and a 32-byte MAC.
_FERNET_MIN_BYTES: Final = 1 + 8 + 16 + 16 + 32
_FERNET_VERSION: Final = 0x80
_KEY_BYTES: Final = 32
_HOW_TO_GET_A_KEY = (
    f"set {KEY_ENV}, create a key file with `amlses key init`, or store a key in the OS "
    "keyring with `amlses key init --keyring`"
)


def is_token(value: object) -> bool:
    """Whether ``value`` is an amlses token (``amlses:v1:…``, or any other ``amlses:`` version)."""
    return isinstance(value, str) and value.startswith("amlses:")


# --------------------------------------------------------------------------------------------
# Keys


@dataclass(frozen=True)
class Key:
    """A Fernet key and where it was found; ``source`` appears in messages, the key never does."""

    material: bytes = field(repr=False)
    source: str

    def __post_init__(self) -> None:
        _check_key(self.material, self.source)


def _check_key(material: bytes, source: str) -> None:
    """Raise StepError unless ``material`` is a Fernet key: URL-safe base64 of 32 bytes."""
    try:
        raw = base64.urlsafe_b64decode(material)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise StepError(
            f"The amlses key from {source} is not a valid key: expected 44 characters of "
            "URL-safe base64, as `amlses key init` writes."
        )


def generate_key() -> bytes:
    """A new random key (``os.urandom`` through Fernet), URL-safe base64."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key()


def default_key_file(environ: Mapping[str, str] | None = None) -> Path:
    """``amlses/key`` in the user's config directory: ``%APPDATA%`` on Windows, else
    ``$XDG_CONFIG_HOME`` or ``~/.config`` (the XDG base directory convention)."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32" and env.get("APPDATA"):
        return Path(env["APPDATA"]) / "amlses" / "key"
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "amlses" / "key"


def key_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """The key file amlses reads and ``amlses key init`` writes: ``AMLSES_KEY_FILE`` or the
    default of :func:`default_key_file`."""
    env = os.environ if environ is None else environ
    named = env.get(KEY_FILE_ENV)
    return Path(named).expanduser() if named else default_key_file(env)


def find_key(environ: Mapping[str, str] | None = None) -> Key | None:
    """The key from the first source that has one (see the module docstring), or None.

    A source that exists but is unusable (a bad ``AMLSES_KEY``, an unreadable key file or one
    that others can read) raises StepError rather than falling through: silently using
    another key would only turn that problem into a confusing "wrong key" later.
    """
    env = os.environ if environ is None else environ
    value = env.get(KEY_ENV, "").strip()
    if value:
        return Key(value.encode(), KEY_ENV)
    path = key_file_path(env)
    if path.exists():
        return Key(_read_key_file(path), f"the key file {path}")
    return _keyring_key()


def load_key(environ: Mapping[str, str] | None = None) -> Key:
    """:func:`find_key`, or a StepError that lists the three ways to provide a key."""
    key = find_key(environ)
    if key is None:
        path = key_file_path(environ)
        raise StepError(
            f"No amlses key was found (no {KEY_ENV}, no key file {path}, no key "
            f"in the OS keyring): {_HOW_TO_GET_A_KEY}."
        )
    return key


def _read_key_file(path: Path) -> bytes:
    """The key in ``path``; refuses a file that others can read, as ssh does with its keys."""
    try:
        if os.name == "posix":
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise StepError(
                    f"The key file {path} can be read by other users (mode {mode:04o}); "
                    f"make it private with: chmod 600 {path}"
                )
        return read_bounded(path, MAX_KEY_FILE_BYTES).strip()
    except OSError as exc:  # a FIFO, a device or a huge file is refused at once, unread
        shown = printable(str(path))
        raise StepError(f"The key file {shown} cannot be read: {exc.strerror or exc}") from None


def _keyring_backend() -> object | None:
    """The keyring package's backend, or None when it is not installed or found none."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return None
    return backend


def _keyring_key() -> Key | None:
    """The key stored in the OS keyring, if the keyring package finds a backend holding one."""
    backend = _keyring_backend()
    if backend is None:
        return None
    import keyring
    from keyring.errors import KeyringError

    try:
        value = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
    except KeyringError as exc:
        raise StepError(f"The OS keyring could not be read: {exc}") from None
    if not value:
        return None
    return Key(value.strip().encode(), f"the OS keyring ({type(backend).__name__})")


def init_key_file(path: Path | None = None, *, force: bool = False) -> Path:
    """Create a new key file readable by its owner only (0600, in a 0700 directory).

    Refuses to replace an existing file unless ``force``: tokens made with the old key could
    never be decrypted again.  The file is written under a temporary name and renamed, so a
    reader never sees half a key.
    """
    path = path or key_file_path()
    if path.exists() and not force:
        raise StepError(
            f"The key file {path} already exists; tokens made with it would become unreadable "
            "if it were replaced. Pass --force to replace it anyway."
        )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):  # the umask may have narrowed, never widened; be exact
            os.fchmod(descriptor, 0o600)
        os.write(descriptor, generate_key() + b"\n")
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    return path


def store_key_in_keyring(*, force: bool = False) -> str:
    """Store a new key in the OS keyring; returns the backend's name.

    Raises StepError when the keyring package is missing, finds no backend, or already holds
    a key (unless ``force``).
    """
    backend = _keyring_backend()
    if backend is None:
        raise StepError(
            "No OS keyring is available: install the keyring package "
            "(pip install 'amlses[keyring]') on a system with a keyring service, or use a key "
            "file (amlses key init)."
        )
    import keyring

    if keyring.get_password(KEYRING_SERVICE, KEYRING_USER) and not force:
        raise StepError(
            "The OS keyring already holds an amlses key; pass --force to replace it (tokens "
            "made with the old key would become unreadable)."
        )
    keyring.set_password(KEYRING_SERVICE, KEYRING_USER, generate_key().decode())
    return type(backend).__name__


# --------------------------------------------------------------------------------------------
# Tokens


def encrypt(secret: str, key: Key) -> str:
    """The token for ``secret``: ``amlses:v1:`` and a Fernet token (which embeds a timestamp
    and a random IV, so encrypting one secret twice gives two different tokens)."""
    from cryptography.fernet import Fernet

    return TOKEN_PREFIX + Fernet(key.material).encrypt(secret.encode()).decode("ascii")


def decrypt(token: str, key: Key) -> str:
    """The secret in ``token``; StepError saying why when it cannot be had.

    The message distinguishes a token from a newer amlses, a damaged token (not Fernet at all,
    e.g. cut short while copying) and one that fails its MAC (another key, or changed); it
    never contains the token or the key.
    """
    from cryptography.fernet import Fernet, InvalidToken

    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise StepError("The value is not an amlses token (expected amlses:v1:…).")
    version, body = match.groups()
    if version != _CURRENT_VERSION:
        raise StepError(
            f'The token is in format "{version}", which this amlses cannot read (it reads '
            f'"{_CURRENT_VERSION}"); upgrade amlses, or encrypt the secret again with '
            "`amlses encrypt`."
        )
    if not _looks_like_fernet(body):
        raise StepError(
            "The token is damaged (it is not a complete amlses:v1: token; was it cut short "
            "while copying?); encrypt the secret again with `amlses encrypt`."
        )
    try:
        plain = Fernet(key.material).decrypt(body.encode("ascii"))
    except InvalidToken:
        raise StepError(
            f"The token cannot be decrypted with the key from {key.source}: it was made with "
            "another key, or it was changed. Use the key it was made with, or encrypt the "
            "secret again with `amlses encrypt`."
        ) from None
    try:
        return plain.decode()
    except UnicodeDecodeError:
        raise StepError("The token does not hold text; encrypt the secret again.") from None


def _looks_like_fernet(body: str) -> bool:
    """Whether ``body`` is URL-safe base64 of a Fernet-shaped token (version byte, length).

    The decoder ignores what follows the padding, so the body must also be exactly the
    encoding of what it decodes to: a token with a stray character pasted on is damaged.
    """
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    canonical = base64.urlsafe_b64encode(raw).decode("ascii") == body
    return canonical and len(raw) >= _FERNET_MIN_BYTES and raw[0] == _FERNET_VERSION


class Vault:
    """Decrypts the tokens of a run with one key, loaded when the first token needs it.

    ``Vault()`` follows the lookup order of the module docstring; ``Vault(key)`` uses the key
    given (bytes or text, e.g. from a secrets manager).  Decrypted values are kept, so a loop
    of host-based steps decrypts each token once.  ``repr`` shows neither key nor values.
    """

    def __init__(self, key: Key | bytes | str | None = None) -> None:
        if isinstance(key, str):
            key = key.encode()
        if isinstance(key, bytes):
            key = Key(key.strip(), "the key given to Vault()")
        self._key = key
        self._plain: dict[str, str] = {}

    def __repr__(self) -> str:
        source = self._key.source if self._key is not None else "not loaded yet"
        return f"<Vault key from {source}>"

    @property
    def key(self) -> Key:
        """The key, looked up on first use (StepError when there is none)."""
        if self._key is None:
            self._key = load_key()
        return self._key

    def encrypt(self, secret: str) -> str:
        """The ``amlses:v1:`` token for ``secret``."""
        return encrypt(secret, self.key)

    def reveal(self, value: str, attribute: str = "The value") -> str:
        """``value`` decrypted when it is a token, else unchanged.

        ``attribute`` (``SECRETKEY``) starts the error message, so the user knows which value
        of the step failed; the step's line is added by the runner.
        """
        if not is_token(value):
            return value
        plain = self._plain.get(value)
        if plain is None:
            try:
                plain = decrypt(value, self.key)
            except StepError as error:
                raise StepError(f"{attribute} holds an amlses token: {error.message}") from None
            self._plain[value] = plain
        return plain


def reveal_task(task: Task, vault: Vault, redactor: Redactor) -> None:
    """Decrypt every token written in a secret attribute of ``task``, before anything runs.

    Called by :func:`amlses.api.run` after the check, so that a token that cannot be decrypted
    fails the run before its first step (and so before any request), with the attribute's
    ``file:line:column``; the plain values are registered with ``redactor`` on the way, so
    they are masked in everything the run prints.  Tokens that only appear at run time (a
    ``%variable%`` holding one) are decrypted by the step that reads them.
    """
    for step in task.walk():
        for attribute in step.attributes:
            if not (is_secret_attribute(attribute.name) and is_token(attribute.value)):
                continue
            try:
                redactor.add(
                    vault.reveal(attribute.value, attribute.written_name or attribute.name)
                )
            except AmlError as error:
                where = attribute.where
                raise error.located(where, step.label, task.source.line(where.line)) from None
