# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The decision's hot path, compiled: canonical ASCII host names, and the suffix walk over the index.

Every request at the edge asks "may this Host be served here?", so this is the one place where a
few hundred nanoseconds matter (`make bench` measures it against its goal; the figures are in
docs/enforcement.md). Written in Python, the decision spent most of its time
in the interpreter: partitioning a Host into new objects label by label, checking its characters
with `bytes.translate`. Here a Host's characters are checked in one pass over its buffer and only
the look-ups of parents make objects: the served names are looked up in `Packed`, an arena of
records under a hash table of the module's own, without a Python object per name (less than half
the memory of Python sets of bytes). The index (beian/enforcement/index.py) writes it
and shares it with the decisions.

What a canonical name is (lower-case LDH labels, no port, no trailing dot, not an IPv4 address) is
said once, here; beian/enforcement/hosts.py hands everything that is not ASCII to idna, and the
tests hold both to a reference written with regular expressions (tests/enforcement/test_hosts.py).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy, memset

cdef extern from *:
    # GCC's and clang's: ask for a cache line ahead of its use (Packed.joined).
    void __builtin_prefetch(const void* addr) nogil

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


# ---------------------------------------------------------------------------- the packed names

cdef inline uint32_t _hash(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    """FNV-1a over the name, then mixed, so that the table's index (the low bits) depends on
    every byte of it."""
    cdef uint64_t h = 14695981039346656037ULL
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ s[i]) * 1099511628211ULL
    h ^= h >> 29
    h *= 0x9E3779B97F4A7C15ULL
    return <uint32_t> (h >> 32)


cdef struct Table:
    # Open addressing, linear probing. An entry is the name's hash in the high 32 bits and its
    # record's offset in the arena plus one in the low 32 (0: empty): a probe compares the hash
    # before it reads the arena, so a miss rarely touches a name, and growing rehashes nothing.
    uint64_t* entries
    size_t mask  # size - 1; the size is a power of two
    size_t count


cdef Py_ssize_t _find(const Table* t, const unsigned char* arena, const unsigned char* s, Py_ssize_t n,
                      uint32_t h) noexcept nogil:
    """The entry that holds the name s[:n], -1 if none does."""
    cdef size_t i = h & t.mask
    cdef uint64_t entry
    cdef const unsigned char* record
    while True:
        entry = t.entries[i]
        if entry == 0:
            return -1
        if <uint32_t> (entry >> 32) == h:
            record = arena + <size_t> ((entry & 0xFFFFFFFFULL) - 1)
            if record[0] == n and memcmp(record + 1, s, n) == 0:
                return i
        i = (i + 1) & t.mask


cdef void _place(Table* t, uint64_t entry) noexcept nogil:
    """Put an entry whose name the table does not hold, in the first free place from its own."""
    cdef size_t i = <uint32_t> (entry >> 32) & t.mask
    while t.entries[i] != 0:
        i = (i + 1) & t.mask
    t.entries[i] = entry
    t.count += 1


cdef void _remove(Table* t, size_t hole) noexcept nogil:
    """Take out the entry at `hole`, moving back the entries after it that probed past it
    (no tombstones: a table that follows changes for months does not fill with them)."""
    cdef size_t j = hole, home
    while True:
        j = (j + 1) & t.mask
        if t.entries[j] == 0:
            break
        home = <uint32_t> (t.entries[j] >> 32) & t.mask
        # The entry at j may fill the hole unless its own place lies cyclically in (hole, j].
        if (hole <= j and hole < home <= j) or (hole > j and (home > hole or home <= j)):
            continue
        t.entries[hole] = t.entries[j]
        hole = j
    t.entries[hole] = 0
    t.count -= 1


cdef int _resize(Table* t, size_t size) noexcept nogil:
    """Move the entries into a table of `size` places (a power of two); -1 if out of memory."""
    cdef uint64_t* old = t.entries
    cdef size_t i, old_size = t.mask + 1 if old != NULL else 0
    cdef uint64_t* entries = <uint64_t*> calloc(size, sizeof(uint64_t))
    if entries == NULL:
        return -1
    t.entries, t.mask, t.count = entries, size - 1, 0
    for i in range(old_size):
        if old[i] != 0:
            _place(t, old[i])
    free(old)
    return 0


cdef enum:
    MAX_RECORD = 255  # a record's length byte
    MAX_MANY = 255  # domains of a website in the arena; a website with more keeps a tuple
    FIRST_TABLE = 1024
    PREFETCH_AHEAD = 32  # table entries: at about half full, a dozen records in flight
    NO_WEBSITE = -1


cdef size_t _gather(const uint64_t* entries, size_t size, const unsigned char* arena, unsigned char* out) noexcept nogil:
    """The names the entries point to, each followed by a newline, into `out` (NULL: only their
    length); the records a few entries ahead fetched while this one is read."""
    cdef size_t i, total = 0
    cdef uint64_t entry
    cdef const unsigned char* record
    for i in range(size):
        if i + PREFETCH_AHEAD < size and entries[i + PREFETCH_AHEAD] != 0:
            __builtin_prefetch(arena + <size_t> ((entries[i + PREFETCH_AHEAD] & 0xFFFFFFFFULL) - 1))
        entry = entries[i]
        if entry != 0:
            record = arena + <size_t> ((entry & 0xFFFFFFFFULL) - 1)
            if out != NULL:
                memcpy(out + total, record + 1, record[0])
                out[total + record[0]] = 10
            total += record[0] + 1
    return total



cdef class Packed:
    """The served names, and each website's names, without a Python object per name.

    The names live in one arena of records (a length byte, then the name's characters), found by
    a hash table of offsets (`Table`); the decision looks a name up there straight from the Host's
    buffer. A website's names are records one after another in the arena, so its slot is the
    first one's offset and their number: two arrays indexed by website id (mirror ids are dense
    autoincrement keys). A load writes each served name once, as its website's record, and the
    table points to that same record.

    What changes afterwards is kept the cheap way first: a name served anew is a record appended
    (and its entry), a name no longer served loses its entry; a website whose names change keeps
    them as a tuple in `changed` until there are `fold_at` such websites, then they are written
    into the arena. Records that nothing points to any more stay until the arena has grown by as
    much again as it held after the last compaction (and by `slack` bytes at least): `compact`
    then writes a new arena and table without them (for about a second at 5 million names, with
    the GIL released: decisions go on reading the old ones meanwhile).

    One writer (the index, under its lock); readers (decisions) share it under the GIL, which
    every change holds from start to end."""

    cdef unsigned char* arena
    cdef size_t used, room
    cdef Table table
    cdef uint32_t* first  # website id → the offset of its first record
    cdef uint8_t* many  # website id → the number of its records (0: none, or see `changed`)
    cdef size_t ids  # the arrays' length
    cdef dict changed  # website id → tuple of names, over the arrays
    cdef Py_ssize_t loading  # the website whose rows `load` takes now
    cdef bint loading_apart  # ... and whether its names go to `changed`
    cdef size_t compacted  # the arena's bytes after the last compaction (or load)
    cdef public Py_ssize_t fold_at
    cdef public Py_ssize_t slack

    def __cinit__(self):
        self.changed = {}
        self.loading = NO_WEBSITE
        self.fold_at = 16384
        self.slack = 1 << 24
        if _resize(&self.table, FIRST_TABLE) < 0:
            raise MemoryError()

    def __dealloc__(self):
        free(self.arena)
        free(self.table.entries)
        free(self.first)
        free(self.many)

    def clear(self):
        """Empty, in place (the decider holds this very object)."""
        free(self.arena)
        free(self.first)
        free(self.many)
        self.arena, self.first, self.many = NULL, NULL, NULL
        self.used = self.room = self.ids = self.compacted = 0
        free(self.table.entries)
        self.table.entries = NULL
        if _resize(&self.table, FIRST_TABLE) < 0:
            raise MemoryError()
        self.changed = {}
        self.loading = NO_WEBSITE

    # ------------------------------------------------------------ the served names

    cdef inline bint _has(self, const unsigned char* s, Py_ssize_t n) noexcept:
        return _find(&self.table, self.arena, s, n, _hash(s, n)) >= 0

    def __contains__(self, bytes name):
        return self._has(<const unsigned char*> PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))

    def __len__(self):
        return self.table.count

    def add(self, bytes name):
        """Serve a name; whether it was not served."""
        cdef const unsigned char* s = <const unsigned char*> PyBytes_AS_STRING(name)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(name)
        cdef uint32_t h = _hash(s, n)
        if _find(&self.table, self.arena, s, n, h) >= 0:
            return False
        self._enter(h, self._append(s, n))
        return True

    def discard(self, bytes name):
        """Stop serving a name; whether it was served."""
        cdef const unsigned char* s = <const unsigned char*> PyBytes_AS_STRING(name)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(name)
        cdef Py_ssize_t at = _find(&self.table, self.arena, s, n, _hash(s, n))
        if at < 0:
            return False
        _remove(&self.table, at)
        return True

    def joined(self):
        """Every served name, one bytes object with a newline after each. The arena and the table
        are copied as they are (two `memcpy`s under the GIL, which every change holds: a
        consistent copy, whereas the table's entries move when names go), and the names are then
        gathered from the copies without the GIL, so that the threads that take and apply changes
        go on meanwhile. Each record is a cache miss at millions of names: the records a few
        entries ahead are fetched while this one is copied."""
        cdef size_t size = self.table.mask + 1, used = self.used, total
        cdef unsigned char* arena = <unsigned char*> malloc(used + 1)
        cdef uint64_t* entries = <uint64_t*> malloc(size * sizeof(uint64_t))
        if arena == NULL or entries == NULL:
            free(arena)
            free(entries)
            raise MemoryError()
        if used:
            memcpy(arena, self.arena, used)
        memcpy(entries, self.table.entries, size * sizeof(uint64_t))
        cdef bytes joined
        cdef unsigned char* out
        try:
            with nogil:
                total = _gather(entries, size, arena, NULL)
            joined = PyBytes_FromStringAndSize(NULL, total)
            out = <unsigned char*> PyBytes_AS_STRING(joined)  # no one else holds it yet
            with nogil:
                _gather(entries, size, arena, out)
        finally:
            free(arena)
            free(entries)
        return joined

    cdef size_t _append(self, const unsigned char* s, Py_ssize_t n) except? 0xFFFFFFFF:
        """Write a record; its offset."""
        cdef size_t room
        cdef unsigned char* arena
        if n > MAX_RECORD:
            raise ValueError("a name is at most 255 characters")
        if self.used + n + 1 > self.room:
            room = self.room + (self.room >> 2) + n + (1 << 16)
            if room >= 0xFFFFFFFFULL:  # offsets are 32 bits
                room = 0xFFFFFFFFULL - 1
                if self.used + n + 1 > room:
                    raise MemoryError("the arena of names is full (4 GB)")
            arena = <unsigned char*> realloc(self.arena, room)
            if arena == NULL:
                raise MemoryError()
            self.arena, self.room = arena, room
        cdef size_t at = self.used
        self.arena[at] = <unsigned char> n
        memcpy(self.arena + at + 1, s, n)
        self.used = at + n + 1
        return at

    cdef int _enter(self, uint32_t h, size_t at) except -1:
        """Add the entry of the record at `at`, growing the table past 70% full."""
        if (self.table.count + 1) * 10 > (self.table.mask + 1) * 7:
            if _resize(&self.table, (self.table.mask + 1) * 2) < 0:
                raise MemoryError()
        _place(&self.table, (<uint64_t> h << 32) | (at + 1))
        return 0

    # ------------------------------------------------------------ each website's names

    cdef bint _reach(self, Py_ssize_t website_id) except -1:
        """Whether the arrays hold the id, after growing them if it lies not far beyond their end."""
        cdef size_t size
        cdef uint32_t* first
        cdef uint8_t* many
        if website_id < 0:
            return False
        if <size_t> website_id < self.ids:
            return True
        if <size_t> website_id >= 2 * self.ids + 65536:
            return False  # a sparse id: kept in `changed`
        # Room ahead as well: a load sets ids in ascending order. `trim` gives back what is left.
        size = website_id + 1 + (self.ids >> 3)
        first = <uint32_t*> realloc(self.first, size * sizeof(uint32_t))
        if first == NULL:
            raise MemoryError()
        self.first = first
        many = <uint8_t*> realloc(self.many, size)
        if many == NULL:
            raise MemoryError()
        self.many = many
        memset(self.many + self.ids, 0, size - self.ids)
        self.ids = size
        return True

    cdef tuple _records(self, Py_ssize_t website_id):
        cdef size_t at = self.first[website_id]
        cdef int k
        cdef list found = []
        for k in range(self.many[website_id]):
            found.append(PyBytes_FromStringAndSize(<const char*> self.arena + at + 1, self.arena[at]))
            at += self.arena[at] + 1
        return tuple(found)

    def slot(self, Py_ssize_t website_id):
        """The website's names (a tuple of bytes, () for none)."""
        names = self.changed.get(website_id)
        if names is not None:
            return names
        if 0 <= website_id < <Py_ssize_t> self.ids and self.many[website_id]:
            return self._records(website_id)
        return ()

    def websites(self):
        """The ids of the websites that have names, ascending (for tests)."""
        cdef size_t i
        found = {i for i in range(self.ids) if self.many[i]}
        found.update(self.changed)
        return sorted(found)

    def set_slot(self, Py_ssize_t website_id, names):
        """Say which names a website has now (an iterable of bytes)."""
        names = tuple(names)
        if names:
            self.changed[website_id] = names
        else:
            self.changed.pop(website_id, None)
            if 0 <= website_id < <Py_ssize_t> self.ids:
                self.many[website_id] = 0

    def load(self, Py_ssize_t website_id, bytes name):
        """One row of a load: a served name of a website (a website's rows one after another,
        before anything else changes the arena). Whether the name was not served yet."""
        cdef const unsigned char* s = <const unsigned char*> PyBytes_AS_STRING(name)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(name)
        cdef size_t at
        cdef int k
        cdef uint32_t h = _hash(s, n)
        cdef Py_ssize_t found
        if website_id != self.loading:
            self.loading = website_id
            self.loading_apart = not self._reach(website_id)
            if not self.loading_apart:
                self.first[website_id] = self.used
                self.many[website_id] = 0
        if not self.loading_apart and self.many[website_id] == MAX_MANY:
            self.changed[website_id] = self._records(website_id)
            self.many[website_id] = 0
            self.loading_apart = True
        if self.loading_apart:
            names = self.changed.get(website_id, ())
            if name not in names:
                self.changed[website_id] = names + (name,)
            return self.add(name)
        at = self.first[website_id]
        for k in range(self.many[website_id]):  # the same name twice in a website
            if self.arena[at] == n and memcmp(self.arena + at + 1, s, n) == 0:
                return False
            at += self.arena[at] + 1
        found = _find(&self.table, self.arena, s, n, h)
        at = self._append(s, n)
        self.many[website_id] += 1
        if found >= 0:
            return False
        self._enter(h, at)
        return True

    def fold(self):
        """Write the websites kept as tuples into the arena (those that fit the arrays)."""
        cdef size_t at
        for website_id, names in list(self.changed.items()):
            if len(names) > MAX_MANY or not self._reach(website_id):
                continue
            at = self.used
            for name in names:
                self._append(<const unsigned char*> PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name))
            self.first[website_id] = at
            self.many[website_id] = len(names)
            del self.changed[website_id]
        self.loading = NO_WEBSITE

    def tidy(self):
        """After a batch of changes: fold, and compact, when they are due."""
        if len(self.changed) > self.fold_at:
            self.fold()
        if self.used - self.compacted > max(self.compacted, <size_t> self.slack):
            self.compact()

    def trim(self):
        """After a load: fold, and give back the room kept for growing."""
        cdef unsigned char* arena
        self.fold()
        if self.used and self.used < self.room:
            arena = <unsigned char*> realloc(self.arena, self.used)
            if arena != NULL:
                self.arena, self.room = arena, self.used
        self.compacted = self.used

    def compact(self):
        """Write the arena and the table afresh, without the records that nothing points to."""
        self.fold()
        cdef Table fresh
        cdef size_t used = 0
        cdef unsigned char* arena = <unsigned char*> malloc(self.used if self.used else 1)
        fresh.entries = NULL
        fresh.mask = fresh.count = 0
        if arena == NULL or _resize(&fresh, self.table.mask + 1) < 0:
            free(arena)
            raise MemoryError()
        with nogil:  # the old arena and table are only read here, and decisions only read them
            used = self._rewrite(arena, &fresh)
        free(self.arena)
        free(self.table.entries)
        self.table = fresh
        self.arena = <unsigned char*> realloc(arena, used) if used else arena
        self.used = self.room = self.compacted = used

    cdef size_t _rewrite(self, unsigned char* arena, Table* fresh) noexcept nogil:
        """Each website's records, then the served names that no website's records held; the new
        table's entries point to the first copy of each. Returns the bytes used in `arena` (which
        is as large as the old one: nothing is written twice)."""
        cdef size_t i, at, used = 0, size = self.table.mask + 1
        cdef Py_ssize_t n
        cdef int k
        cdef uint32_t h
        cdef const unsigned char* record
        for i in range(self.ids):
            at = self.first[i]
            self.first[i] = used
            for k in range(self.many[i]):
                record = self.arena + at
                n = record[0]
                memcpy(arena + used, record, n + 1)
                h = _hash(record + 1, n)
                if (_find(&self.table, self.arena, record + 1, n, h) >= 0
                        and _find(fresh, arena, record + 1, n, h) < 0):
                    _place(fresh, (<uint64_t> h << 32) | (used + 1))
                used += n + 1
                at += n + 1
        for i in range(size):
            if self.table.entries[i] == 0:
                continue
            record = self.arena + <size_t> ((self.table.entries[i] & 0xFFFFFFFFULL) - 1)
            n = record[0]
            h = <uint32_t> (self.table.entries[i] >> 32)
            if _find(fresh, arena, record + 1, n, h) < 0:
                memcpy(arena + used, record, n + 1)
                _place(fresh, (<uint64_t> h << 32) | (used + 1))
                used += n + 1
        return used

    def nbytes(self):
        """The bytes held: arena, table, the slot arrays (not `changed`)."""
        return self.room + (self.table.mask + 1) * sizeof(uint64_t) + self.ids * (sizeof(uint32_t) + 1)


# ---------------------------------------------------------------------------- the decision

cdef class Decider:
    """The decision for a raw Host value: one of the reasons, the first (`filed`) meaning serve.

    `parents` holds every proper suffix of a held name (served, or known and refused): `cn`,
    `com.cn`, …. Walking a Host from the left, the first suffix whose parent is one of them is the
    one suffix that can be a held name: no longer suffix can (its parent is none), and a shorter
    one only if it is in `both`, the few held names that are also a parent (none, while filed
    domains are registrable domains). So a decision costs a few look-ups in the small `parents`
    and one in the packed served names at most, straight from the Host's buffer; a served domain,
    or plain labels in front of one, needs no normalising. `known` maps the held names that are
    not served to why.

    The structures are the index's own: its writer changes them while decisions run, each change
    a single operation under the GIL, which a decision does not release."""

    cdef set parents
    cdef Packed served
    cdef dict known
    cdef set both
    cdef object normalise
    cdef str filed, not_filed, invalid_host

    def __init__(self, set parents, Packed served, dict known, set both, normalise, reasons):
        """`normalise`: hosts.normalise, for what is not ASCII; `reasons`: (filed, not filed,
        invalid host), the strings answered."""
        self.parents, self.served, self.known, self.both = parents, served, known, both
        self.normalise = normalise
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
        cdef bint parent
        while True:
            dot = <const unsigned char*> memchr(s + start, 46, n - start)
            if dot == NULL:
                end = n
                parent = b"" in self.parents  # a single label is held under b""
            else:
                end = dot - s
                parent = s[end + 1 : n] in self.parents
            if parent:
                served[0] = self.served._has(s + start, n - start)
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
        cdef bytes suffix
        if not self.both:
            return self.known.get(candidate, self.not_filed)
        held = [candidate]  # and the shorter suffixes that are held names too
        i = candidate.find(b".")
        while i >= 0:
            suffix = candidate[i + 1 :]
            if suffix in self.both:
                if self.served._has(<const unsigned char*> PyBytes_AS_STRING(suffix), PyBytes_GET_SIZE(suffix)):
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
