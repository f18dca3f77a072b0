/* Compiled kernels of the enrichment: the same answers as the numpy code they stand in for.
 *
 * Built by `pip install` where a C compiler and Python's headers are found (the extension
 * is optional: without them the install goes on and the numpy code runs instead). Each
 * function here has a numpy twin that defines it:
 *
 *   MinHasher(fold_index, fold_pool, longest, positions, donors).packed(texts, checked)
 *       worker/text/neardup.py: packed_many(). NFKC is Python's, where a text needs it
 *       (checked: such a text gets None, and comes back normalised). Case folding is
 *       Python's too (str.casefold, one character at a time), read from a table that
 *       Python builds (worker/text/casefolds.py); words, word hashes, shingles and the
 *       one-permutation MinHash are neardup's, rule for rule.
 *   LanguageScorer(nextmove, rowbase, output, ptc, pc).scores(datas, out)
 *       worker/text/langmodel.py: Model.probabilities() before the aliases are merged.
 *
 * The tables are checked once, when an object is made: a look-up never leaves them.
 *
 * tests/text/test_kernels.py holds each to its twin on generated and real texts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define POWER_BASE (0x9E3779B97F4A7C15ULL | 1ULL)
#define NO_HASH UINT64_MAX

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x;
}

/* ---------------------------------------------------------------- case folding ---- */

/* An entry of the fold index: the UTF-8 bytes a character becomes (offset and length in
 * the pool, 0 for itself) and whether a text holding it needs Python's NFKC first. */
#define FOLD_LENGTH(entry) ((entry) & 0xFFu)
#define FOLD_OFFSET(entry) (((entry) >> 8) & 0x3FFFFFu)
#define FOLD_NFKC 0x80000000u
#define FOLD_NOT_NFC 0x40000000u

typedef struct {
    const uint32_t *index; /* per code point below `limit` */
    Py_ssize_t limit;
    const unsigned char *pool; /* the foldings' UTF-8 bytes */
} Folding;

static inline unsigned char *put_utf8(unsigned char *out, Py_UCS4 c)
{
    if (c < 0x80) {
        *out++ = (unsigned char)c;
    } else if (c < 0x800) {
        *out++ = (unsigned char)(0xC0 | (c >> 6));
        *out++ = (unsigned char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *out++ = (unsigned char)(0xE0 | (c >> 12));
        *out++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        *out++ = (unsigned char)(0x80 | (c & 0x3F));
    } else {
        *out++ = (unsigned char)(0xF0 | (c >> 18));
        *out++ = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
        *out++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        *out++ = (unsigned char)(0x80 | (c & 0x3F));
    }
    return out;
}

/* LOOP(TYPE) over a str's characters, TYPE the width they are stored in. */
#define BY_KIND(text, LOOP)                                                                 \
    switch (PyUnicode_KIND(text)) {                                                         \
    case PyUnicode_1BYTE_KIND:                                                              \
        LOOP(Py_UCS1)                                                                       \
        break;                                                                              \
    case PyUnicode_2BYTE_KIND:                                                              \
        LOOP(Py_UCS2)                                                                       \
        break;                                                                              \
    default:                                                                                \
        LOOP(Py_UCS4)                                                                       \
        break;                                                                              \
    }

/* One loop per width of the str's characters. ASCII is copied as it is (the word scan
 * lowers it); checked: a character that needs NFKC stops the loop (NEEDS_NFKC). */
#define NEEDS_NFKC (-2)
#define FOLD_LOOP(TYPE)                                                                     \
    {                                                                                       \
        const TYPE *chars = (const TYPE *)PyUnicode_DATA(text);                             \
        for (Py_ssize_t i = 0; i < n; i++) {                                                \
            Py_UCS4 c = chars[i];                                                           \
            if (c < 0x80) {                                                                 \
                *out++ = (unsigned char)c;                                                  \
                continue;                                                                   \
            }                                                                               \
            if (c >= 0xD800 && c <= 0xDFFF) {                                               \
                return surrogate(text);                                                     \
            }                                                                               \
            uint32_t entry = (Py_ssize_t)c < fold->limit ? fold->index[c] : FOLD_NFKC;      \
            if (checked && (entry & FOLD_NFKC)) {                                           \
                return NEEDS_NFKC;                                                          \
            }                                                                               \
            if (FOLD_LENGTH(entry) == 0) {                                                  \
                out = put_utf8(out, c);                                                     \
            } else {                                                                        \
                memcpy(out, fold->pool + FOLD_OFFSET(entry), FOLD_LENGTH(entry));           \
                out += FOLD_LENGTH(entry);                                                  \
            }                                                                               \
        }                                                                                   \
    }

static Py_ssize_t surrogate(PyObject *text)
{
    PyObject *raised = PyUnicode_AsUTF8String(text); /* raises str.encode's error */
    Py_XDECREF(raised);
    if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_UnicodeEncodeError, "surrogates not allowed");
    }
    return -1;
}

/* The text casefolded (NFKC's four compatibility characters of casefolds.COMPATIBLE
 * replaced too) in UTF-8, into buffer (room for longest bytes a character): its size, -1
 * with an exception set, or NEEDS_NFKC when checked and the text holds a character for
 * which NFKC may change the text (any but those four and the characters that are NFKC,
 * combining class 0 and no second of a composition: rules built by casefolds.py). */
static Py_ssize_t fold_text(PyObject *text, const Folding *fold, int checked,
                            unsigned char *buffer)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    unsigned char *out = buffer;
    BY_KIND(text, FOLD_LOOP)
    return out - buffer;
}

/* ---------------------------------------------------------------- words ---------- */

/* Each byte's class: 0 no word byte, 1 an ASCII letter or digit, 2 a non-ASCII byte. */
static unsigned char CLASS[256];
static unsigned char LOWER[256];

static void init_tables(void)
{
    for (int b = 0; b < 256; b++) {
        int alnum = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
        CLASS[b] = b >= 0x80 ? 2 : alnum ? 1 : 0;
        LOWER[b] = (unsigned char)((b >= 'A' && b <= 'Z') ? b + 32 : b);
    }
}

/* Width of the separator character starting at data[i] (U+00A0-U+00BF, U+2000-U+207F,
 * U+3000-U+303F, as neardup._byte_spans reads them from lead and follow bytes), or 0. */
static inline int separator_width(const unsigned char *data, Py_ssize_t i, Py_ssize_t n)
{
    unsigned char lead = data[i];
    if (i + 1 >= n) {
        return 0;
    }
    unsigned char follow = data[i + 1];
    if (lead == 0xC2 && follow >= 0xA0) {
        return 2;
    }
    if ((lead == 0xE2 && (follow == 0x80 || follow == 0x81)) ||
        (lead == 0xE3 && follow == 0x80)) {
        return 3;
    }
    return 0;
}

static inline int is_han_or_kana(unsigned char lead)
{
    return lead >= 0xE3 && lead <= 0xE9;
}

/* K**j mod 2**64 for the first bytes of a word: a byte's term without a chain of
 * multiplications from one byte to the next. */
#define POWERS 256
static uint64_t POWER[POWERS];

static void init_powers(void)
{
    uint64_t power = 1;
    for (int j = 0; j < POWERS; j++) {
        POWER[j] = power;
        power *= POWER_BASE;
    }
}

/* K**j for byte j of a word, called once for each j of the word in turn: past the table,
 * far (the last power given) times K, so a long word costs one multiplication a byte. */
static inline uint64_t power_at(Py_ssize_t j, uint64_t *far)
{
    if (j < POWERS) {
        return POWER[j];
    }
    *far = (j == POWERS ? POWER[POWERS - 1] : *far) * POWER_BASE;
    return *far;
}

/* The hash of every word of data (neardup._byte_spans and _hashes_of, ASCII lowered on the
 * way), into hashes (room for n + 1). Returns the number of words.
 *
 * An ASCII byte is taken without a branch on whether it ends a word (word ends are too
 * irregular to predict): the current word's hash is written at each byte, and the count
 * of words moves on where a word ended. A non-ASCII byte takes the slow way: a separator,
 * a Kana or Han character (a word of its own), or a byte of a word. */
static Py_ssize_t word_hashes(const unsigned char *data, Py_ssize_t n, uint64_t *hashes)
{
    Py_ssize_t words = 0, j = 0; /* j: bytes of the current word so far */
    uint64_t hash = 0, far = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = data[i];
        if (__builtin_expect(c >= 0x80, 0)) {
            int skip = separator_width(data, i, n);
            if (skip || is_han_or_kana(c)) {
                if (j) { /* the word before ends here */
                    hashes[words++] = hash + (uint64_t)j * GOLDEN;
                    hash = 0;
                    j = 0;
                }
                if (skip) {
                    i += skip - 1;
                    continue;
                }
                Py_ssize_t end = i + 3 < n ? i + 3 : n;
                for (; i < end; i++, j++) {
                    hash += (uint64_t)data[i] * POWER[j];
                }
                hashes[words++] = hash + (uint64_t)j * GOLDEN;
                hash = 0;
                j = 0;
                i--;
                continue;
            }
            hash += (uint64_t)c * power_at(j, &far);
            j++;
            continue;
        }
        uint64_t word = CLASS[c]; /* 1 for an ASCII letter or digit, else 0 */
        if (__builtin_expect(j >= POWERS, 0)) {
            hash += word * (uint64_t)LOWER[c] * power_at(j, &far);
        } else {
            hash += word * (uint64_t)LOWER[c] * POWER[j];
        }
        hashes[words] = hash + (uint64_t)j * GOLDEN; /* kept only where the word ended */
        words += (Py_ssize_t)((word ^ 1) & (j != 0));
        j = (Py_ssize_t)word * (j + 1);
        hash *= word;
    }
    if (j) {
        hashes[words++] = hash + (uint64_t)j * GOLDEN;
    }
    return words;
}

/* ---------------------------------------------------------------- MinHash -------- */

typedef struct {
    const uint64_t *positions;
    Py_ssize_t shingle;
    const int64_t *donors; /* slots x slots */
    Py_ssize_t slots;
    int shift;
} Sketch;

/* The packed signature (slots little-endian uint16) of texts whose words hash to
 * hashes[0..words), words > 0 (neardup._minhash). */
static void minhash(const uint64_t *hashes, Py_ssize_t words, const Sketch *sk,
                    uint64_t *minima, unsigned char *out)
{
    Py_ssize_t slots = sk->slots;
    Py_ssize_t width = sk->shingle < words ? sk->shingle : words;
    Py_ssize_t count = words - width + 1;
    for (Py_ssize_t s = 0; s < slots; s++) {
        minima[s] = NO_HASH;
    }
    int any_empty = 0;
    unsigned char filled[256];
    memset(filled, 0, sizeof filled);
    for (Py_ssize_t i = 0; i < count; i++) {
        uint64_t combined = 0;
        for (Py_ssize_t o = 0; o < width; o++) {
            combined += hashes[i + o] * sk->positions[o];
        }
        uint64_t h = mix64(combined);
        Py_ssize_t bin = (Py_ssize_t)(h >> sk->shift);
        filled[bin] = 1;
        if (h < minima[bin]) {
            minima[bin] = h;
        }
    }
    for (Py_ssize_t s = 0; s < slots; s++) {
        any_empty |= !filled[s];
    }
    uint64_t values[256];
    for (Py_ssize_t s = 0; s < slots; s++) {
        values[s] = minima[s];
        if (any_empty && !filled[s]) { /* the first filled bin of its donor order */
            const int64_t *order = sk->donors + s * slots;
            Py_ssize_t k = 0;
            while (!filled[order[k]]) {
                k++;
            }
            values[s] = mix64(minima[order[k]] + ((uint64_t)s + 1) * GOLDEN);
        }
        out[2 * s] = (unsigned char)(values[s] & 0xFF);
        out[2 * s + 1] = (unsigned char)((values[s] >> 8) & 0xFF);
    }
}

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t item, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    if (view->len % item) {
        PyErr_Format(PyExc_ValueError, "%s: a buffer of %zd-byte items expected", what, item);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

static void release(Py_buffer *view)
{
    if (view->obj != NULL) {
        PyBuffer_Release(view);
        view->obj = NULL;
    }
}

/* ---------------------------------------------------------------- MinHasher ------ */

typedef struct {
    PyObject_HEAD
    Py_buffer index, pool, positions, donors;
    Folding fold;
    Sketch sketch;
    Py_ssize_t longest;
    int ready;
} MinHasher;

static void MinHasher_release(MinHasher *self)
{
    release(&self->index);
    release(&self->pool);
    release(&self->positions);
    release(&self->donors);
}

static void MinHasher_dealloc(MinHasher *self)
{
    MinHasher_release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int MinHasher_init(MinHasher *self, PyObject *args, PyObject *kwds)
{
    PyObject *index_obj, *pool_obj, *positions_obj, *donors_obj;
    Py_ssize_t longest;
    (void)kwds;
    if (self->ready) {
        PyErr_SetString(PyExc_TypeError, "MinHasher: already made");
        return -1;
    }
    MinHasher_release(self); /* what a failed __init__ before may have taken */
    if (!PyArg_ParseTuple(args, "OOnOO", &index_obj, &pool_obj, &longest, &positions_obj,
                          &donors_obj)) {
        return -1;
    }
    if (get_buffer(index_obj, &self->index, 4, "fold_index") < 0 ||
        get_buffer(pool_obj, &self->pool, 1, "fold_pool") < 0 ||
        get_buffer(positions_obj, &self->positions, 8, "positions") < 0 ||
        get_buffer(donors_obj, &self->donors, 8, "donors") < 0) {
        return -1;
    }
    Py_ssize_t shingle = self->positions.len / 8, slots = 2;
    while (slots * slots * 8 < self->donors.len) {
        slots *= 2;
    }
    if (shingle < 1 || slots > 256 || slots * slots * 8 != self->donors.len ||
        longest < 0 || longest > 255) {
        PyErr_SetString(PyExc_ValueError, "positions, donors or longest out of range");
        return -1;
    }
    const uint32_t *entries = self->index.buf;
    Py_ssize_t limit = self->index.len / 4;
    for (Py_ssize_t c = 0; c < limit; c++) { /* every entry inside the pool */
        Py_ssize_t length = FOLD_LENGTH(entries[c]);
        if (length > longest || (Py_ssize_t)FOLD_OFFSET(entries[c]) + length > self->pool.len) {
            PyErr_SetString(PyExc_ValueError, "fold_index points outside fold_pool");
            return -1;
        }
    }
    const int64_t *order = self->donors.buf;
    for (Py_ssize_t k = 0; k < slots * slots; k++) {
        if (order[k] < 0 || order[k] >= slots) {
            PyErr_SetString(PyExc_ValueError, "donors: bin numbers below slots expected");
            return -1;
        }
    }
    Folding fold = {entries, limit, self->pool.buf};
    Sketch sketch = {self->positions.buf, shingle, order, slots, 64 - __builtin_ctzll(slots)};
    self->fold = fold;
    self->sketch = sketch;
    self->longest = longest;
    self->ready = 1;
    return 0;
}

static PyObject *MinHasher_packed(MinHasher *self, PyObject *args)
{
    PyObject *texts;
    int checked;
    if (!self->ready) {
        PyErr_SetString(PyExc_TypeError, "MinHasher: not made");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!p", &PyList_Type, &texts, &checked)) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(texts), longest = 0, slots = self->sketch.slots;
    for (Py_ssize_t t = 0; t < count; t++) {
        PyObject *text = PyList_GET_ITEM(texts, t);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "texts: a list of str expected");
            return NULL;
        }
        if (PyUnicode_GET_LENGTH(text) > longest) {
            longest = PyUnicode_GET_LENGTH(text);
        }
    }
    Py_ssize_t per_char = self->longest > 4 ? self->longest : 4;
    unsigned char *buffer = PyMem_Malloc((size_t)(longest * per_char + 1));
    uint64_t *hashes = PyMem_Malloc((size_t)(longest * per_char + 1) * sizeof(uint64_t));
    PyObject *out = PyList_New(count);
    uint64_t minima[256];
    unsigned char packed[512];
    if (buffer == NULL || hashes == NULL || out == NULL) {
        if (out != NULL) {
            PyErr_NoMemory();
        }
        goto fail;
    }
    for (Py_ssize_t t = 0; t < count; t++) {
        PyObject *text = PyList_GET_ITEM(texts, t), *item;
        const unsigned char *data;
        Py_ssize_t size;
        if (PyUnicode_IS_ASCII(text)) { /* NFKC already, folded by the word scan */
            data = PyUnicode_1BYTE_DATA(text);
            size = PyUnicode_GET_LENGTH(text);
        } else {
            size = fold_text(text, &self->fold, checked, buffer);
            if (size == -1) {
                goto fail;
            }
            data = buffer;
        }
        if (size == NEEDS_NFKC) {
            item = Py_NewRef(Py_None);
        } else {
            Py_ssize_t words = word_hashes(data, size, hashes);
            if (words == 0) {
                item = PyBytes_FromStringAndSize(NULL, 0);
            } else {
                minhash(hashes, words, &self->sketch, minima, packed);
                item = PyBytes_FromStringAndSize((const char *)packed, 2 * slots);
            }
            if (item == NULL) {
                goto fail;
            }
        }
        PyList_SET_ITEM(out, t, item);
    }
    PyMem_Free(buffer);
    PyMem_Free(hashes);
    return out;
fail:
    PyMem_Free(buffer);
    PyMem_Free(hashes);
    Py_XDECREF(out);
    return NULL;
}

#define NFC_LOOP(TYPE)                                                                      \
    {                                                                                       \
        const TYPE *chars = (const TYPE *)PyUnicode_DATA(text);                             \
        for (Py_ssize_t i = 0; i < n; i++) {                                                \
            Py_UCS4 c = chars[i];                                                           \
            if (c >= 0x80 && ((Py_ssize_t)c >= limit || (index[c] & FOLD_NOT_NFC))) {       \
                answer = 0;                                                                 \
                break;                                                                      \
            }                                                                               \
        }                                                                                   \
    }

/* in_nfc(text, index): True when no character of the text may change it under NFC (by
 * the fold index's flags), so it is in NFC; False when one may (unicodedata knows). */
static PyObject *kernels_in_nfc(PyObject *module, PyObject *args)
{
    PyObject *text, *index_obj;
    Py_buffer view = {0};
    (void)module;
    if (!PyArg_ParseTuple(args, "UO", &text, &index_obj)) {
        return NULL;
    }
    if (get_buffer(index_obj, &view, 4, "fold_index") < 0) {
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), limit = view.len / 4;
    const uint32_t *index = view.buf;
    int answer = 1;
    BY_KIND(text, NFC_LOOP)
    PyBuffer_Release(&view);
    return PyBool_FromLong(answer);
}

static PyMethodDef MinHasher_methods[] = {
    {"packed", (PyCFunction)MinHasher_packed, METH_VARARGS,
     "packed(texts: list[str], checked: bool) -> list[bytes | None]: each text's packed "
     "signature (b'' without words). checked: the texts may not be in NFKC, and None "
     "stands for a text that needs it first; else they are."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MinHasherType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "worker.text._kernels.MinHasher",
    .tp_basicsize = sizeof(MinHasher),
    .tp_dealloc = (destructor)MinHasher_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "MinHasher(fold_index, fold_pool, longest, positions, donors)",
    .tp_methods = MinHasher_methods,
    .tp_init = (initproc)MinHasher_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------- LanguageScorer - */

typedef struct {
    PyObject_HEAD
    Py_buffer nextmove, rowbase, output, ptc, pc;
    Py_ssize_t classes, rows;
    uint32_t *counts;
    int ready;
} LanguageScorer;

static void LanguageScorer_release(LanguageScorer *self)
{
    release(&self->nextmove);
    release(&self->rowbase);
    release(&self->output);
    release(&self->ptc);
    release(&self->pc);
}

static void LanguageScorer_dealloc(LanguageScorer *self)
{
    LanguageScorer_release(self);
    PyMem_Free(self->counts);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int LanguageScorer_init(LanguageScorer *self, PyObject *args, PyObject *kwds)
{
    PyObject *nextmove_obj, *rowbase_obj, *output_obj, *ptc_obj, *pc_obj;
    (void)kwds;
    if (self->ready) {
        PyErr_SetString(PyExc_TypeError, "LanguageScorer: already made");
        return -1;
    }
    LanguageScorer_release(self); /* what a failed __init__ before may have taken */
    if (!PyArg_ParseTuple(args, "OOOOO", &nextmove_obj, &rowbase_obj, &output_obj, &ptc_obj,
                          &pc_obj)) {
        return -1;
    }
    if (get_buffer(nextmove_obj, &self->nextmove, 4, "nextmove") < 0 ||
        get_buffer(rowbase_obj, &self->rowbase, 8, "rowbase") < 0 ||
        get_buffer(output_obj, &self->output, 8, "output") < 0 ||
        get_buffer(ptc_obj, &self->ptc, 4, "ptc") < 0 ||
        get_buffer(pc_obj, &self->pc, 4, "pc") < 0) {
        return -1;
    }
    Py_ssize_t classes = self->pc.len / 4, states = self->rowbase.len / 8;
    Py_ssize_t moves = self->nextmove.len / 4;
    if (classes < 1 || states < 1 || self->ptc.len % (classes * 4) ||
        self->output.len / 8 != states) {
        PyErr_SetString(PyExc_ValueError, "model tables of mismatched sizes");
        return -1;
    }
    Py_ssize_t rows = self->ptc.len / (classes * 4);
    const uint32_t *move = self->nextmove.buf;
    const int64_t *base = self->rowbase.buf, *row_of = self->output.buf;
    for (Py_ssize_t s = 0; s < states; s++) { /* every look-up stays in its table */
        if (base[s] < 0 || base[s] + 256 > moves || row_of[s] < -1 || row_of[s] >= rows) {
            PyErr_SetString(PyExc_ValueError, "rowbase or output outside the tables");
            return -1;
        }
    }
    for (Py_ssize_t m = 0; m < moves; m++) {
        if ((Py_ssize_t)move[m] >= states) {
            PyErr_SetString(PyExc_ValueError, "nextmove: a state outside the automaton");
            return -1;
        }
    }
    self->counts = PyMem_Calloc((size_t)(rows > 0 ? rows : 1), sizeof(uint32_t));
    if (self->counts == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->classes = classes;
    self->rows = rows;
    self->ready = 1;
    return 0;
}

/* Probabilities of one text whose output rows (found of them) are rows[]: counts of each
 * row, log1p-weighted sums of the model's table, scaled by 1/sqrt(bytes), softmax. */
static void score_text(LanguageScorer *self, const int64_t *rows, Py_ssize_t found,
                       Py_ssize_t bytes, Py_ssize_t *touched, double *scores, float *probs)
{
    Py_ssize_t classes = self->classes, distinct = 0;
    uint32_t *counts = self->counts;
    const float *weights = self->ptc.buf, *prior = self->pc.buf;
    for (Py_ssize_t f = 0; f < found; f++) {
        if (counts[rows[f]]++ == 0) {
            touched[distinct++] = (Py_ssize_t)rows[f];
            const float *w = weights + rows[f] * classes; /* loaded while counting */
            __builtin_prefetch(w);
            __builtin_prefetch(w + classes - 1);
        }
    }
    if (distinct == 0) { /* no feature: every language alike, as py3langid says */
        for (Py_ssize_t c = 0; c < classes; c++) {
            probs[c] = (float)(1.0 / (double)classes);
        }
        return;
    }
    for (Py_ssize_t c = 0; c < classes; c++) {
        scores[c] = prior[c];
    }
    for (Py_ssize_t f = 0; f < distinct; f++) {
        const float *w = weights + touched[f] * classes;
        double weight = (double)log1pf((float)counts[touched[f]]);
        counts[touched[f]] = 0;
        for (Py_ssize_t c = 0; c < classes; c++) {
            scores[c] += weight * (double)w[c];
        }
    }
    double scale = 1.0 / sqrt((double)bytes), best = -HUGE_VAL, total = 0.0;
    for (Py_ssize_t c = 0; c < classes; c++) {
        scores[c] *= scale;
        if (scores[c] > best) {
            best = scores[c];
        }
    }
    for (Py_ssize_t c = 0; c < classes; c++) {
        scores[c] = exp(scores[c] - best);
        total += scores[c];
    }
    for (Py_ssize_t c = 0; c < classes; c++) {
        probs[c] = (float)(scores[c] / total);
    }
}

/* Texts walked side by side: each step of the automaton waits on a load from its 39 MB
 * table, and the walks of LANES texts wait together instead of one after the other. */
#define LANES 8

static PyObject *LanguageScorer_scores(LanguageScorer *self, PyObject *args)
{
    PyObject *datas, *out_obj;
    Py_buffer out = {0};
    Py_ssize_t longest = 0, classes = self->classes;
    Py_ssize_t *touched = NULL;
    int64_t *rows = NULL;
    double *scores = NULL;
    PyObject *result = NULL;
    if (!self->ready) {
        PyErr_SetString(PyExc_TypeError, "LanguageScorer: not made");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &datas, &out_obj)) {
        return NULL;
    }
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT) <
        0) {
        return NULL;
    }
    Py_ssize_t texts = PyList_GET_SIZE(datas);
    const char *format = out.format ? out.format : "B";
    if (out.len != texts * classes * (Py_ssize_t)sizeof(float) || out.itemsize != 4 ||
        format[strlen(format) - 1] != 'f') {
        PyErr_SetString(PyExc_ValueError, "out: texts x classes float32 expected");
        goto done;
    }
    for (Py_ssize_t t = 0; t < texts; t++) {
        PyObject *item = PyList_GET_ITEM(datas, t);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "datas: a list of bytes expected");
            goto done;
        }
        if (PyBytes_GET_SIZE(item) > longest) {
            longest = PyBytes_GET_SIZE(item);
        }
    }
    scores = PyMem_Malloc((size_t)classes * sizeof(double));
    touched = PyMem_Malloc((size_t)(longest + 1) * sizeof(Py_ssize_t));
    rows = PyMem_Malloc((size_t)(longest + 1) * LANES * sizeof(int64_t));
    if (scores == NULL || touched == NULL || rows == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const uint32_t *move = self->nextmove.buf;
    const int64_t *base = self->rowbase.buf, *row_of = self->output.buf;
    for (Py_ssize_t first = 0; first < texts; first += LANES) {
        Py_ssize_t lanes = texts - first < LANES ? texts - first : LANES, steps = 0;
        const unsigned char *data[LANES];
        Py_ssize_t size[LANES], found[LANES];
        uint32_t state[LANES];
        for (Py_ssize_t l = 0; l < lanes; l++) {
            PyObject *item = PyList_GET_ITEM(datas, first + l);
            data[l] = (const unsigned char *)PyBytes_AS_STRING(item);
            size[l] = PyBytes_GET_SIZE(item);
            found[l] = 0;
            state[l] = 0;
            if (size[l] > steps) {
                steps = size[l];
            }
        }
        /* The automaton's state after each byte of each text; its output rows kept. */
        for (Py_ssize_t i = 0; i < steps; i++) {
            for (Py_ssize_t l = 0; l < lanes; l++) {
                if (i < size[l]) {
                    state[l] = move[base[state[l]] + data[l][i]];
                    int64_t row = row_of[state[l]];
                    if (row >= 0) {
                        rows[l * longest + found[l]++] = row;
                    }
                }
            }
        }
        for (Py_ssize_t l = 0; l < lanes; l++) {
            float *probs = (float *)out.buf + (first + l) * classes;
            score_text(self, rows + l * longest, found[l], size[l], touched, scores, probs);
        }
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(touched);
    PyMem_Free(rows);
    PyMem_Free(scores);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef LanguageScorer_methods[] = {
    {"scores", (PyCFunction)LanguageScorer_scores, METH_VARARGS,
     "scores(datas: list[bytes], out: float32 buffer, texts x classes) -> None"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LanguageScorerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "worker.text._kernels.LanguageScorer",
    .tp_basicsize = sizeof(LanguageScorer),
    .tp_dealloc = (destructor)LanguageScorer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "LanguageScorer(nextmove, rowbase, output, ptc, pc)",
    .tp_methods = LanguageScorer_methods,
    .tp_init = (initproc)LanguageScorer_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef kernels_methods[] = {
    {"in_nfc", kernels_in_nfc, METH_VARARGS,
     "in_nfc(text: str, fold_index) -> bool: True when no character may change the text "
     "under NFC"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT, "_kernels", "Compiled kernels of the enrichment.", -1,
    kernels_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    init_tables();
    init_powers();
    if (PyType_Ready(&MinHasherType) < 0 || PyType_Ready(&LanguageScorerType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&kernels_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "MinHasher", (PyObject *)&MinHasherType) < 0 ||
        PyModule_AddObjectRef(module, "LanguageScorer", (PyObject *)&LanguageScorerType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
