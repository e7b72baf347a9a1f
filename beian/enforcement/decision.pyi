# The compiled decision module's interface (decision.pyx), for type checkers and readers.
from collections.abc import Callable

MAX_NAME: int
MAX_INPUT: int
NEEDS_IDNA: object

def ascii_name(raw: bytes) -> bytes | object | None: ...
def is_canonical(name: bytes) -> bool: ...
def is_plain(name: bytes) -> bool: ...
def is_numeric(name: bytes) -> bool: ...

class Decider:
    def __init__(
        self,
        under: dict[bytes, set[bytes]],
        known: dict[bytes, str],
        both: set[bytes],
        normalise: Callable[[bytes | str], bytes | None],
        reasons: tuple[str, str, str],
    ) -> None: ...
    def __call__(self, host: bytes | str) -> str: ...
