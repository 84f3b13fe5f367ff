/*
 * recycled_memory.c: see recycled_memory.h.
 *
 * NumPy calls a data allocator with the GIL held (arrays are created, resized and
 * deallocated by Python code), so the GIL guards the kept blocks and no lock is needed.
 *
 * Blocks come from PyMem_RawMalloc. NumPy reports every array's data to tracemalloc in
 * its own domain, so the raw allocator's trace of the same block is dropped: a live array
 * is counted once, as with NumPy's own allocator, and a kept block is not counted, like
 * the memory that malloc keeps after a free.
 */
#include "recycled_memory.h"

#include <string.h>

#define NPY_NO_DEPRECATED_API NPY_1_23_API_VERSION
#include <numpy/ndarraytypes.h>

/* How many freed blocks, and how many bytes in all, are kept for reuse: enough for the
 * large arrays of a few layers' training steps. */
#define KEPT_SLOTS 8
#define KEPT_MAX_BYTES ((size_t)256 << 20)

/* Each block starts with its size, so that a free never depends on the size NumPy
 * reports; 16 bytes keep the data as aligned as malloc's. */
#define HEADER_BYTES 16

static struct {
    void *block[KEPT_SLOTS]; /* oldest first */
    size_t bytes[KEPT_SLOTS];
    size_t count, total;
} g_kept;

static void *data_of_block(void *block) {
    return (char *)block + HEADER_BYTES;
}

static void *block_of_data(void *data) {
    return (char *)data - HEADER_BYTES;
}

static size_t bytes_of_block(const void *block) {
    size_t bytes;
    memcpy(&bytes, block, sizeof bytes);
    return bytes;
}

static void drop_kept(size_t slot) {
    g_kept.total -= g_kept.bytes[slot];
    g_kept.count--;
    memmove(&g_kept.block[slot], &g_kept.block[slot + 1],
            (g_kept.count - slot) * sizeof g_kept.block[0]);
    memmove(&g_kept.bytes[slot], &g_kept.bytes[slot + 1],
            (g_kept.count - slot) * sizeof g_kept.bytes[0]);
}

static void *recycled_malloc(void *ctx, size_t bytes) {
    (void)ctx;
    for (size_t slot = g_kept.count; slot-- > 0;) { /* the most recently freed first */
        if (g_kept.bytes[slot] == bytes) {
            void *block = g_kept.block[slot];
            drop_kept(slot);
            return data_of_block(block);
        }
    }
    if (bytes > (size_t)-1 - HEADER_BYTES) return NULL;
    void *block = PyMem_RawMalloc(HEADER_BYTES + bytes);
    if (!block) return NULL;
    (void)PyTraceMalloc_Untrack(0, (uintptr_t)block); /* NumPy traces the array instead */
    memcpy(block, &bytes, sizeof bytes);
    return data_of_block(block);
}

static void recycled_free(void *ctx, void *data, size_t reported_bytes) {
    (void)ctx;
    (void)reported_bytes;
    if (!data) return;
    void *block = block_of_data(data);
    const size_t bytes = bytes_of_block(block);
    if (bytes < GP_RECYCLE_MIN_BYTES || bytes > KEPT_MAX_BYTES) {
        PyMem_RawFree(block);
        return;
    }
    while (g_kept.count == KEPT_SLOTS || g_kept.total + bytes > KEPT_MAX_BYTES) {
        PyMem_RawFree(g_kept.block[0]);
        drop_kept(0);
    }
    g_kept.block[g_kept.count] = block;
    g_kept.bytes[g_kept.count] = bytes;
    g_kept.count++;
    g_kept.total += bytes;
}

static void *recycled_calloc(void *ctx, size_t count, size_t size) {
    if (size && count > (size_t)-1 / size) return NULL;
    void *data = recycled_malloc(ctx, count * size);
    if (data) memset(data, 0, count * size);
    return data;
}

static void *recycled_realloc(void *ctx, void *data, size_t bytes) {
    void *moved = recycled_malloc(ctx, bytes);
    if (moved && data) {
        const size_t old_bytes = bytes_of_block(block_of_data(data));
        memcpy(moved, data, old_bytes < bytes ? old_bytes : bytes);
        recycled_free(ctx, data, old_bytes);
    }
    return moved;
}

static PyDataMem_Handler g_handler = {
    "gru_py_recycled_memory",
    1,
    {NULL, recycled_malloc, recycled_calloc, recycled_realloc, recycled_free},
};

PyObject *recycled_memory_handler(void) {
    return PyCapsule_New(&g_handler, "mem_handler", NULL);
}

size_t recycled_memory_kept_bytes(void) {
    return g_kept.total;
}
