/*
 * recycled_memory.h: a NumPy data allocator that keeps the memory of large result arrays
 * for the next array of the same size (binding-internal).
 *
 * A training step creates arrays of the same few sizes at every batch: a layer's outputs,
 * the input gradient a layer hands down. Megabyte arrays come from fresh pages that the
 * operating system maps and zeroes, and glibc hands them back when they are freed (the
 * top of the heap is trimmed, or the mapping unmapped), so each batch faulted them in
 * again: at S2 that was 6.6 MB a batch and 15% of the epoch. This allocator keeps a few
 * freed blocks and gives them back out to the next request of exactly that size.
 *
 * Only the binding's own result arrays use it (it is installed around their creation and
 * NumPy remembers each array's allocator), so nothing else in the process is affected.
 */
#ifndef GP_RECYCLED_MEMORY_H
#define GP_RECYCLED_MEMORY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Arrays smaller than this (bytes) keep NumPy's own allocator: malloc serves them from
 * memory that is already mapped. */
#define GP_RECYCLE_MIN_BYTES ((size_t)1 << 20)

/* A new reference to the PyCapsule that PyDataMem_SetHandler takes, or NULL with an
 * exception set. */
PyObject *recycled_memory_handler(void);

/* Bytes now kept for reuse (for the tests). */
size_t recycled_memory_kept_bytes(void);

#endif /* GP_RECYCLED_MEMORY_H */
