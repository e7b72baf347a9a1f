# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The decision's hot path, compiled: canonical ASCII host names, and the suffix walk over the index.

Every request at the edge asks "may this Host be served here?", so this is the one place where a
few hundred nanoseconds matter (`make bench` measures it against its goal; the figures are in
docs/enforcement.md). Written in Python, the decision spent most of its time
in the interpreter: partitioning a Host into new objects label by label, checking its characters
with `bytes.translate`. Here a Host's characters are checked in one pass over its buffer and only
the look-ups make objects; the structures looked up are the index's own Python dicts and sets
(beian/enforcement/index.py), shared with its writer as before.

What a canonical name is (lower-case LDH labels, no port, no trailing dot, not an IPv4 address) is
said once, here; beian/enforcement/hosts.py hands everything that is not ASCII to idna, and the
tests hold both to a reference written with regular expressions (tests/enforcement/test_hosts.py).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memchr

cdef extern from "string.h" nogil:  # a GNU extension; pyconfig.h asks for _GNU_SOURCE
    const void* memrchr(const void* s, int c, size_t n)

cdef enum:
    C_MAX_NAME = 253  # RFC 1035, in A-label form, without the trailing dot
    C_MAX_INPUT = 1024  # longer text is no host name however it maps; don't hand it to idna
    C_MAX_LABEL = 63

MAX_NAME = C_MAX_NAME
MAX_INPUT = C_MAX_INPUT

# What ascii_canonical finds, besides the length of a canonical name.
cdef enum:
    NO_NAME = -1  # no host name: refuse
    ASK_IDNA = -2  # ASCII with "--" in it: an A-label, or hyphens in the 3rd and 4th place
    NOT_ASCII = -3

# Character classes: LDH = letter or digit, and "-" and "." apart; 0 is anything else.
cdef enum:
    OTHER = 0
    LD = 1
    HYPHEN = 2
    DOT = 3

cdef unsigned char CLASS[256]
cdef unsigned char LOWER[256]
cdef unsigned char NUMERIC_END[256]  # what an IPv4 address, however written, ends in ("0x": x)


cdef void _tables() noexcept:
    cdef int c
    for c in range(256):
        CLASS[c] = OTHER
        LOWER[c] = c + 32 if 65 <= c <= 90 else c
        NUMERIC_END[c] = 0
    for c in b"abcdefghijklmnopqrstuvwxyz0123456789":
        CLASS[c] = LD
    CLASS[45] = HYPHEN
    CLASS[46] = DOT
    for c in b"0123456789abcdefx":
        NUMERIC_END[c] = 1


_tables()

# What `ascii_name` answers for a name only idna can judge.
NEEDS_IDNA = object()


cdef bint _plain(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """Plain LDH labels: 1 to 63 letters, digits and hyphens, no hyphen at either end, and no "--"
    anywhere (a label with "--" goes to idna, which knows xn-- labels and the 3rd/4th-position
    rule). IDNA leaves such labels as they are."""
    cdef Py_ssize_t i, length = 0
    cdef unsigned char kind, previous = DOT  # as if after a dot: no label may start with "-" or "."
    if n <= 0:
        return False
    for i in range(n):
        kind = CLASS[s[i]]
        if kind == LD:
            length += 1
            if length > C_MAX_LABEL:
                return False
        elif kind == HYPHEN:
            if previous != LD:  # "-" first in a label, or "--"
                return False
            length += 1
            if length > C_MAX_LABEL:
                return False
        elif kind == DOT:
            if previous != LD:  # an empty label, or "-" last in one
                return False
            length = 0
        else:
            return False
        previous = kind
    return previous == LD


cdef bint _numeric(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """Every label digits, or "0x" and hex digits: what resolvers and browsers read as an IPv4
    address (as in beian.core.validators)."""
    cdef Py_ssize_t start = 0, end, i
    cdef unsigned char c
    while True:
        end = start
        while end < n and s[end] != 46:
            end += 1
        if end - start >= 2 and s[start] == 48 and s[start + 1] == 120:  # "0x"
            for i in range(start + 2, end):
                c = s[i]
                if not (48 <= c <= 57 or 97 <= c <= 102):
                    return False
        elif end == start:
            return False
        else:
            for i in range(start, end):
                if not (48 <= s[i] <= 57):
                    return False
        if end == n:
            return True
        start = end + 1


cdef bint _canonical(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    return n <= C_MAX_NAME and _plain(s, n) and (not NUMERIC_END[s[n - 1]] or not _numeric(s, n))


cdef Py_ssize_t _ascii_canonical(const unsigned char* s, Py_ssize_t n, unsigned char* out) noexcept nogil:
    """The canonical form of an ASCII Host, written to `out` (C_MAX_INPUT bytes): its length, or
    NO_NAME, ASK_IDNA, NOT_ASCII. UTS 46 maps nothing in ASCII but upper case, and IDNA 2008 allows
    only letters, digits and hyphens in a label, so a name with any other character, an empty
    label, a hyphen at either end of a label, a label over 63 or a name over 253 characters is
    refused by idna as it would be here. Only names with "--" in them need idna's judgement."""
    cdef Py_ssize_t i, head
    cdef const unsigned char* colon
    for i in range(n):
        if s[i] >= 128:
            return NOT_ASCII
    if n == 0 or n > C_MAX_INPUT or s[0] == 91:  # "[": an IPv6 literal is never a filed name
        return NO_NAME
    colon = <const unsigned char*> memrchr(s, 58, n)  # ":"
    if colon != NULL:
        head = colon - s
        if n - head - 1 > 5 or memchr(s, 58, head) != NULL:
            return NO_NAME
        for i in range(head + 1, n):
            if not (48 <= s[i] <= 57):
                return NO_NAME
        n = head
        if n == 0:
            return NO_NAME
    for i in range(n):
        out[i] = LOWER[s[i]]
    if out[n - 1] == 46:
        n -= 1
    if n > 0 and _canonical(out, n):
        return n
    if n == 0:
        return NO_NAME
    for i in range(n):
        if CLASS[out[i]] == OTHER:
            return NO_NAME
    for i in range(n - 1):
        if out[i] == 45 and out[i + 1] == 45:
            return NO_NAME if _numeric(out, n) else ASK_IDNA
    return NO_NAME


def ascii_name(bytes raw):
    """The canonical name of an ASCII Host value (`Example.CN:8080` → `example.cn`), None if it is
    no host name, NEEDS_IDNA for a name with "--" in it (hosts.normalise asks idna)."""
    cdef unsigned char out[C_MAX_INPUT]
    cdef Py_ssize_t n = _ascii_canonical(<const unsigned char*> PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), out)
    if n == ASK_IDNA:
        return NEEDS_IDNA
    if n == NOT_ASCII:
        raise ValueError("not ASCII")
    if n < 0:
        return None
    return (<char*> out)[:n]


def is_canonical(bytes name):
    """Whether `normalise(name) == name` is sure without running it: plain LDH labels, not an IPv4
    address. False only means "ask normalise": an xn-- name may be canonical too."""
    return _canonical(<const unsigned char*> PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))


def is_plain(bytes name):
    """Whether a name is plain LDH labels (see _plain): the labels in front of a served domain
    need no normalising when they are."""
    return _plain(<const unsigned char*> PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))


def is_numeric(bytes name):
    """Whether a name is an IPv4 address, however written (`1.2.3.4`, `0x7f.1`, `2130706433`)."""
    return _numeric(<const unsigned char*> PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))


cdef class Decider:
    """The decision for a raw Host value: one of the reasons, the first (`filed`) meaning serve.

    `under` maps every proper suffix of a held name (served, or known and refused) to the labels
    of the served names right under it: `cn` → {`example`, …}, `com.cn` → {`site`, …}. Walking a
    Host from the left, the first suffix whose parent is a key is the one suffix that can be a
    held name: no longer suffix can (its parent is no key), and a shorter one only if it is in
    `both`, the few held names that are also a key (none, while filed domains are registrable
    domains). So a decision costs one look-up in a big set at most, and a few in the small
    `under`; a served domain, or plain labels in front of one, needs no normalising. `known` maps
    the held names that are not served to why.

    The structures are the index's own: its writer changes them while decisions run, each change
    a single operation under the GIL, which a decision does not release."""

    cdef dict under
    cdef dict known
    cdef set both
    cdef object normalise
    cdef str filed, not_filed, invalid_host

    def __init__(self, dict under, dict known, set both, normalise, reasons):
        """`normalise`: hosts.normalise, for what is not ASCII; `reasons`: (filed, not filed,
        invalid host), the strings answered."""
        self.under, self.known, self.both, self.normalise = under, known, both, normalise
        self.filed, self.not_filed, self.invalid_host = reasons

    def __call__(self, host):
        cdef unsigned char out[C_MAX_INPUT]
        cdef const unsigned char* s
        cdef Py_ssize_t n, i, at
        cdef bint served = False, ldh = True
        if type(host) is not bytes:
            return self._slow(host)
        s = <const unsigned char*> PyBytes_AS_STRING(host)
        n = PyBytes_GET_SIZE(host)
        if 0 < n <= C_MAX_NAME:
            for i in range(n):
                if CLASS[s[i]] == OTHER:
                    ldh = False
                    break
            if ldh:  # the common case: looked up as it is, checked only as far as the answer needs
                at = self._walk(s, n, &served)
                if served:
                    if at == 0 or _plain(s, at - 1):
                        return self.filed
                elif _canonical(s, n):
                    return self._refused(s, n, at)
        n = _ascii_canonical(s, n, out)
        if n == NO_NAME:
            return self.invalid_host
        if n < 0:
            return self._slow(host)
        at = self._walk(out, n, &served)
        return self.filed if served else self._refused(out, n, at)

    cdef Py_ssize_t _walk(self, const unsigned char* s, Py_ssize_t n, bint* served) except -2:
        """Where the one suffix of the name s[:n] that can be a held name starts (-1: none can),
        and in `served` whether it is served."""
        cdef Py_ssize_t start = 0, end
        cdef const unsigned char* dot
        cdef object labels
        while True:
            dot = <const unsigned char*> memchr(s + start, 46, n - start)
            if dot == NULL:
                end = n
                labels = self.under.get(b"")  # a single label is held under b""
            else:
                end = dot - s
                labels = self.under.get(s[end + 1 : n])
            if labels is not None:
                served[0] = s[start:end] in <set> labels
                return start
            if dot == NULL:
                served[0] = False
                return -1
            start = end + 1

    cdef str _refused(self, const unsigned char* s, Py_ssize_t n, Py_ssize_t at):
        """Why the canonical name s[:n] is refused, when s[at:n] is the one suffix that can be a
        held name and is not served (at < 0: none can)."""
        if at < 0:
            return self.not_filed
        cdef bytes candidate = s[at:n]
        if not self.both:
            return self.known.get(candidate, self.not_filed)
        held = [candidate]  # and the shorter suffixes that are held names too
        i = candidate.find(b".")
        while i >= 0:
            suffix = candidate[i + 1 :]
            if suffix in self.both:
                label, _, parent = suffix.partition(b".")
                labels = self.under.get(parent)
                if labels is not None and label in labels:
                    return self.filed
                held.append(suffix)
            i = candidate.find(b".", i + 1)
        for suffix in held:  # the nearest known suffix says why
            reason = self.known.get(suffix)
            if reason is not None:
                return reason
        return self.not_filed

    cdef str _slow(self, host):
        """What is not ASCII bytes, or only idna can judge: hosts.normalise, then the walk."""
        cdef bint served = False
        cdef Py_ssize_t at
        name = self.normalise(host)
        if name is None:
            return self.invalid_host
        cdef bytes canonical = name
        cdef const unsigned char* s = <const unsigned char*> PyBytes_AS_STRING(canonical)
        at = self._walk(s, PyBytes_GET_SIZE(canonical), &served)
        return self.filed if served else self._refused(s, PyBytes_GET_SIZE(canonical), at)
