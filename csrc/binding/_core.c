/*
 * _core.c: the CPython/NumPy binding of the gru_py core; with recycled_memory.c, the
 * only C that sees Python. Each wrapper parses, converts to C-contiguous float32, checks,
 * releases the GIL around one core call, maps the status to an exception and returns. No
 * math here.
 * The friendly API (names, defaults, docs) is gru_py/ops.py; this module is private.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define NPY_NO_DEPRECATED_API NPY_1_23_API_VERSION
#include <numpy/arrayobject.h>

#include "../gru_py.h"
#include "recycled_memory.h"

/* ---------------------------------------------------------------------------------- */
/* Conversion and checks. Every failure sets an exception whose message starts with   */
/* the operation and names the argument, what was expected and what was received.      */
/* ---------------------------------------------------------------------------------- */

/* Maps a core status to an exception. Bad sizes and activations are the caller's
 * input; a NULL pointer can only be a bug in this binding. */
static void set_status_error(gp_status status, const char *op) {
    PyObject *type = status == GP_ERR_NULL_POINTER ? PyExc_RuntimeError : PyExc_ValueError;
    PyErr_Format(type, "%s: %s (core status %d)", op, gp_status_str(status), (int)status);
}

static PyObject *shape_of(PyArrayObject *arr) {
    return PyObject_GetAttrString((PyObject *)arr, "shape");
}

/* Sets "op: name must have shape <expected> <meaning>, got shape <shape>"; dims < 0 in
 * `expected` are free and print as None, as Keras prints unknown dims. */
static void set_shape_error(PyArrayObject *arr, const char *op, const char *name, int ndim,
                            const npy_intp *expected, const char *meaning) {
    PyObject *want = PyTuple_New(ndim);
    for (int i = 0; want && i < ndim; i++) {
        PyObject *dim = Py_None;
        if (expected[i] < 0) {
            Py_INCREF(dim);
        } else if (!(dim = PyLong_FromSsize_t((Py_ssize_t)expected[i]))) {
            Py_CLEAR(want);
            break;
        }
        PyTuple_SET_ITEM(want, i, dim);
    }
    PyObject *got = shape_of(arr);
    if (want && got) {
        PyErr_Format(PyExc_ValueError, "%s: %s must have shape %R %s, got shape %R", op, name, want,
                     meaning, got);
    }
    Py_XDECREF(want);
    Py_XDECREF(got);
}

/* 0 if arr's shape equals `expected` (entries < 0 match anything), else sets an error. */
static int check_shape(PyArrayObject *arr, const char *op, const char *name, int ndim,
                       const npy_intp *expected, const char *meaning) {
    int ok = PyArray_NDIM(arr) == ndim;
    for (int i = 0; ok && i < ndim; i++) {
        ok = expected[i] < 0 || PyArray_DIM(arr, i) == expected[i];
    }
    if (!ok) set_shape_error(arr, op, name, ndim, expected, meaning);
    return ok ? 0 : -1;
}

/* A new reference to obj as a C-contiguous array of `type`. Like Keras, bool, integer
 * and float dtypes are converted; anything else is a TypeError naming the argument. */
static PyArrayObject *convert_real(PyObject *obj, const char *op, const char *name, int type) {
    /* The usual case, an array already as wanted, without NumPy's general conversion (a
     * fifth of a small call's time went to converting its five arrays twice each). */
    if (PyArray_CheckExact(obj) && PyArray_TYPE((PyArrayObject *)obj) == type &&
        PyArray_ISCARRAY_RO((PyArrayObject *)obj) && PyArray_ISNOTSWAPPED((PyArrayObject *)obj)) {
        Py_INCREF(obj);
        return (PyArrayObject *)obj;
    }
    PyArrayObject *any = (PyArrayObject *)PyArray_FROM_O(obj);
    if (!any) return NULL;
    const char kind = PyArray_DESCR(any)->kind;
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a real numeric array, got dtype %R", op, name,
                     (PyObject *)PyArray_DESCR(any));
        Py_DECREF(any);
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)PyArray_FROM_OTF(
        (PyObject *)any, type, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    Py_DECREF(any);
    return arr;
}

/* 0 if the float32 array holds only finite values, else -1 with a ValueError naming
 * `name` and the first NaN or Inf. */
static int check_finite(PyArrayObject *arr, const char *op, const char *name) {
    const size_t n = (size_t)PyArray_SIZE(arr);
    const size_t bad = gp_find_nonfinite((const float *)PyArray_DATA(arr), n);
    if (bad == n) return 0;
    PyErr_Format(PyExc_ValueError,
                 "%s: %s must contain only finite values, got NaN or Inf at flat index %zu", op,
                 name, bad);
    return -1;
}

/*
 * Converts a required input to a new reference to a C-contiguous float32 array of rank
 * ndim with no empty axis and, when `finite`, only finite values.
 */
static PyArrayObject *as_array(PyObject *obj, const char *op, const char *name, int ndim,
                               const char *meaning, int finite) {
    PyArrayObject *arr = convert_real(obj, op, name, NPY_FLOAT32);
    if (!arr) return NULL;
    if (PyArray_NDIM(arr) != ndim) {
        PyObject *got = shape_of(arr);
        if (got) {
            PyErr_Format(PyExc_ValueError, "%s: %s must be %d-D %s, got shape %R", op, name, ndim,
                         meaning, got);
            Py_DECREF(got);
        }
        Py_DECREF(arr);
        return NULL;
    }
    if (PyArray_SIZE(arr) == 0) {
        PyObject *got = shape_of(arr);
        if (got) {
            PyErr_Format(PyExc_ValueError, "%s: %s must not be empty, got shape %R", op, name, got);
            Py_DECREF(got);
        }
        Py_DECREF(arr);
        return NULL;
    }
    if (finite && check_finite(arr, op, name) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    return arr;
}

/* as_array for the inputs that must be finite: every one but the gradients a model
 * passes down, which may overflow in a diverging model. */
static PyArrayObject *as_input(PyObject *obj, const char *op, const char *name, int ndim,
                               const char *meaning) {
    return as_array(obj, op, name, ndim, meaning, 1);
}

/* The cache of a training forward: a 1-D float32 array checked like an input except for
 * the finiteness scan. It can only come from rnn_forward (gru_py.ops wraps it in an
 * RNNCache), and scanning several times the state size on every backward costs more than
 * the step it guards. */
static PyArrayObject *as_cache(PyObject *obj, const char *op) {
    PyArrayObject *arr = convert_real(obj, op, "cache", NPY_FLOAT32);
    if (arr && PyArray_NDIM(arr) != 1) {
        PyErr_Format(PyExc_ValueError, "%s: cache must be 1-D, got %d-D", op, PyArray_NDIM(arr));
        Py_CLEAR(arr);
    }
    return arr;
}

/* as_input for an optional argument: Py_None gives NULL with no error set. */
static int as_optional_array(PyObject *obj, const char *op, const char *name, int ndim,
                             const char *meaning, int finite, PyArrayObject **out) {
    *out = NULL;
    if (obj == Py_None) return 0;
    *out = as_array(obj, op, name, ndim, meaning, finite);
    return *out ? 0 : -1;
}

static int as_optional_input(PyObject *obj, const char *op, const char *name, int ndim,
                             const char *meaning, PyArrayObject **out) {
    return as_optional_array(obj, op, name, ndim, meaning, 1, out);
}

/*
 * An array the core updates in place (weights, optimizer slots, accumulators): it must
 * already be a writeable, aligned, C-contiguous native float32 array of exactly `dims`, since a
 * converted copy would silently drop the update. Returns a new reference.
 */
static PyArrayObject *as_inplace(PyObject *obj, const char *op, const char *name, int ndim,
                                 const npy_intp *dims, const char *meaning) {
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a numpy.ndarray, got %s", op, name,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)obj;
    if (PyArray_TYPE(arr) != NPY_FLOAT32 || !PyArray_ISNOTSWAPPED(arr) ||
        !PyArray_IS_C_CONTIGUOUS(arr) || !PyArray_ISWRITEABLE(arr) || !PyArray_ISALIGNED(arr)) {
        PyErr_Format(PyExc_TypeError,
                     "%s: %s must be a writeable, C-contiguous, native-byte-order float32 array "
                     "(it is updated in place), got dtype %R",
                     op, name, (PyObject *)PyArray_DESCR(arr));
        return NULL;
    }
    if (check_shape(arr, op, name, ndim, dims, meaning) < 0) return NULL;
    Py_INCREF(arr);
    return arr;
}

/* The allocator of large result arrays; set at import. */
static PyObject *g_recycled_handler;

/* A new uninitialised float32 array for a result. Large ones take their memory from
 * recycled_memory.c, which the next array of the same size can reuse. */
static PyArrayObject *new_result(int ndim, const npy_intp *dims) {
    size_t bytes = sizeof(float);
    for (int i = 0; i < ndim; i++) {
        const size_t dim = (size_t)dims[i];
        bytes = dim && bytes > (size_t)-1 / dim ? (size_t)-1 : bytes * dim;
    }
    if (bytes < GP_RECYCLE_MIN_BYTES) {
        return (PyArrayObject *)PyArray_SimpleNew(ndim, (npy_intp *)dims, NPY_FLOAT32);
    }
    PyObject *previous = PyDataMem_SetHandler(g_recycled_handler);
    if (!previous) return NULL;
    PyObject *arr = PyArray_SimpleNew(ndim, (npy_intp *)dims, NPY_FLOAT32);
    PyObject *ours = PyDataMem_SetHandler(previous);
    Py_DECREF(previous);
    if (!ours) {
        Py_XDECREF(arr);
        return NULL;
    }
    Py_DECREF(ours);
    return (PyArrayObject *)arr;
}

/* A gradient accumulator: None gives a new zero array, otherwise as_inplace. */
static PyArrayObject *as_accumulator(PyObject *obj, const char *op, const char *name, int ndim,
                                     const npy_intp *dims, const char *meaning) {
    if (obj == Py_None) {
        PyArrayObject *zeros = new_result(ndim, dims);
        if (zeros) memset(PyArray_DATA(zeros), 0, (size_t)PyArray_NBYTES(zeros));
        return zeros;
    }
    return as_inplace(obj, op, name, ndim, dims, meaning);
}

static float *data_of(PyArrayObject *arr) {
    return arr ? (float *)PyArray_DATA(arr) : NULL;
}

/* Scratch memory for one core call; NULL with MemoryError set on failure. */
static float *new_workspace(size_t floats) {
    float *ws = PyMem_RawMalloc((floats ? floats : 1) * sizeof(float));
    if (!ws) PyErr_NoMemory();
    return ws;
}

/*
 * Scratch memory for one core call: the caller's reusable array when given (it must be a
 * float32 array of exactly `floats`; *held keeps the reference), else a new allocation.
 * release_workspace frees whichever it was.
 */
static float *get_workspace(PyObject *obj, const char *op, size_t floats, PyArrayObject **held) {
    *held = NULL;
    if (obj == Py_None) return new_workspace(floats);
    const npy_intp dims[1] = {(npy_intp)floats};
    *held = as_inplace(obj, op, "workspace", 1, dims, "(the workspace size of this call)");
    return *held ? data_of(*held) : NULL;
}

static void release_workspace(float *ws, PyArrayObject *held) {
    if (held) {
        Py_DECREF(held);
    } else {
        PyMem_RawFree(ws);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Recurrent layers (GRU, LSTM, SimpleRNN)                                             */
/* ---------------------------------------------------------------------------------- */

/* How states reach the core: gru_py.ops stacks the (batch, units) arrays of a cell's
 * states (h, and c for an LSTM) into one array. */
#define STATES_MEANING "(states, batch, units): one (batch, units) array per state"

/* The arrays and configuration that a recurrent forward reads and its backward reads
 * again, converted and checked. */
typedef struct {
    gp_rnn_config cfg;
    PyArrayObject *x, *kernel, *rk, *bias, *mask, *input_dropout, *recurrent_dropout;
    const char *gates_meaning; /* "(input features, G*units)" for messages */
    int kernels_unscanned;     /* the forward checks the kernels through its products */
} rnn_call;

/* 0 if both kernels are finite, else -1 with a ValueError naming the first culprit. */
static int check_kernels(const rnn_call *c, const char *op) {
    return check_finite(c->kernel, op, "kernel") < 0 ||
                   check_finite(c->rk, op, "recurrent_kernel") < 0
               ? -1
               : 0;
}

static void rnn_call_release(rnn_call *c) {
    Py_CLEAR(c->x);
    Py_CLEAR(c->kernel);
    Py_CLEAR(c->rk);
    Py_CLEAR(c->bias);
    Py_CLEAR(c->mask);
    Py_CLEAR(c->input_dropout);
    Py_CLEAR(c->recurrent_dropout);
}

static gp_rnn_inputs rnn_call_inputs(const rnn_call *c, PyArrayObject *initial_state) {
    return (gp_rnn_inputs){
        .x = data_of(c->x),
        .initial_state = data_of(initial_state),
        .kernel = data_of(c->kernel),
        .recurrent_kernel = data_of(c->rk),
        .bias = data_of(c->bias),
        .mask = c->mask ? (const unsigned char *)PyArray_DATA(c->mask) : NULL,
        .input_dropout = data_of(c->input_dropout),
        .recurrent_dropout = data_of(c->recurrent_dropout),
    };
}

/* The expected bias shape of a configuration whose units are known: GRU (2, 3H) or (3H),
 * LSTM (4H), SimpleRNN (H). Returns its rank. */
static int bias_shape(const gp_rnn_config *cfg, npy_intp *dims, const char **meaning) {
    const npy_intp gh = (npy_intp)(gp_rnn_gate_count(cfg->cell) * cfg->units);
    if (cfg->reset_after) {
        dims[0] = 2;
        dims[1] = gh;
        *meaning = "(2, 3*units) for reset_after=True";
        return 2;
    }
    dims[0] = gh;
    *meaning = cfg->cell == GP_CELL_GRU    ? "(3*units,) for reset_after=False"
               : cfg->cell == GP_CELL_LSTM ? "(4*units,)"
                                           : "(units,)";
    return 1;
}

/* The (B, T) mask as a C-contiguous uint8 array (gru_py.ops hands over a bool array's
 * bytes). */
static int as_mask(PyObject *obj, const char *op, const gp_rnn_config *cfg, PyArrayObject **out) {
    *out = NULL;
    if (obj == Py_None) return 0;
    if (!PyArray_Check(obj) || PyArray_TYPE((PyArrayObject *)obj) != NPY_UINT8) {
        PyErr_Format(PyExc_TypeError, "%s: mask must be a uint8 array, got %R", op,
                     (PyObject *)Py_TYPE(obj));
        return -1;
    }
    *out = (PyArrayObject *)PyArray_FROM_OTF(obj, NPY_UINT8, NPY_ARRAY_IN_ARRAY);
    if (!*out) return -1;
    const npy_intp dims[2] = {(npy_intp)cfg->batch, (npy_intp)cfg->steps};
    return check_shape(*out, op, "mask", 2, dims, "(batch, timesteps)");
}

/* A (G, B, n) dropout multiplier array, or NULL for None. */
static int as_dropout(PyObject *obj, const char *op, const char *name, npy_intp n,
                      const char *meaning, const gp_rnn_config *cfg, PyArrayObject **out) {
    if (as_optional_input(obj, op, name, 3, meaning, out) < 0) return -1;
    if (!*out) return 0;
    const npy_intp dims[3] = {(npy_intp)gp_rnn_gate_count(cfg->cell), (npy_intp)cfg->batch, n};
    return check_shape(*out, op, name, 3, dims, meaning);
}

/*
 * Converts and checks x, the weights, the bias (unless bias_obj is NULL: a backward only
 * knows use_bias), the mask and the dropout masks; fills c->cfg's sizes and flags and
 * checks the configuration. c must be zeroed except for c->cfg's cell, activations and
 * flags. The kernels are scanned for NaN and Inf once their shapes are known, unless
 * `inference` and a single step's products check them more cheaply
 * (gp_rnn_step_products_checkable): then c->kernels_unscanned is set and the caller
 * checks after the forward. Returns 0, or -1 with an exception set (the caller still
 * releases c).
 */
static int rnn_call_parse(rnn_call *c, const char *op, PyObject *x_obj, PyObject *k_obj,
                          PyObject *rk_obj, PyObject *bias_obj, PyObject *mask_obj,
                          PyObject *idrop_obj, PyObject *rdrop_obj, int inference) {
    gp_rnn_config *cfg = &c->cfg;
    /* The kernels' shapes in words, by gate count G, for messages: constant strings, since
     * formatting them took a tenth of a small call's time. */
    static const char *const gates_meanings[] = {NULL, "(input features, units)", NULL,
                                                 "(input features, 3*units)",
                                                 "(input features, 4*units)"};
    static const char *const rk_meanings[] = {NULL, "(units, units)", NULL, "(units, 3*units)",
                                              "(units, 4*units)"};
    const size_t G = gp_rnn_gate_count(cfg->cell);
    if (G >= sizeof rk_meanings / sizeof rk_meanings[0] || !rk_meanings[G]) {
        PyErr_Format(PyExc_ValueError, "%s: unknown cell kind %d", op, (int)cfg->cell);
        return -1;
    }
    c->gates_meaning = gates_meanings[G];
    const char *rk_meaning = rk_meanings[G];
    if (!(c->x = as_input(x_obj, op, "x", 3, "(batch, timesteps, features)")) ||
        !(c->kernel = as_array(k_obj, op, "kernel", 2, c->gates_meaning, 0)) ||
        !(c->rk = as_array(rk_obj, op, "recurrent_kernel", 2, rk_meaning, 0))) {
        return -1;
    }
    const npy_intp n_in = PyArray_DIM(c->x, 2), n_units = PyArray_DIM(c->rk, 0);
    const npy_intp rk_dims[2] = {n_units, (npy_intp)G * n_units};
    const npy_intp k_dims[2] = {n_in, (npy_intp)G * n_units};
    if (check_shape(c->rk, op, "recurrent_kernel", 2, rk_dims, rk_meaning) < 0 ||
        check_shape(c->kernel, op, "kernel", 2, k_dims, c->gates_meaning) < 0) {
        return -1;
    }
    cfg->batch = (size_t)PyArray_DIM(c->x, 0);
    cfg->steps = (size_t)PyArray_DIM(c->x, 1);
    cfg->input_size = (size_t)n_in;
    cfg->units = (size_t)n_units;
    c->kernels_unscanned = inference && gp_rnn_step_products_checkable(cfg);
    if (!c->kernels_unscanned && check_kernels(c, op) < 0) return -1;
    if (bias_obj) {
        cfg->use_bias = bias_obj != Py_None;
        npy_intp b_dims[2];
        const char *b_meaning;
        const int b_rank = bias_shape(cfg, b_dims, &b_meaning);
        if (as_optional_input(bias_obj, op, "bias", b_rank, b_meaning, &c->bias) < 0 ||
            (c->bias && check_shape(c->bias, op, "bias", b_rank, b_dims, b_meaning) < 0)) {
            return -1;
        }
    }
    if (as_mask(mask_obj, op, cfg, &c->mask) < 0 ||
        as_dropout(idrop_obj, op, "dropout_mask", n_in, "(gates, batch, features)", cfg,
                   &c->input_dropout) < 0 ||
        as_dropout(rdrop_obj, op, "recurrent_dropout_mask", n_units, "(gates, batch, units)", cfg,
                   &c->recurrent_dropout) < 0) {
        return -1;
    }
    cfg->input_dropout = c->input_dropout != NULL;
    cfg->recurrent_dropout = c->recurrent_dropout != NULL;
    const gp_status status = gp_rnn_check_config(cfg);
    if (status != GP_OK) {
        set_status_error(status, op);
        return -1;
    }
    return 0;
}

static PyObject *rnn_forward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "rnn_forward";
    static char *kwlist[] = {"x",
                             "kernel",
                             "recurrent_kernel",
                             "bias",
                             "initial_state",
                             "mask",
                             "dropout_mask",
                             "recurrent_dropout_mask",
                             "cell",
                             "activation",
                             "recurrent_activation",
                             "reset_after",
                             "go_backwards",
                             "zero_output_for_mask",
                             "training",
                             "return_sequences",
                             "workspace",
                             "cache_out",
                             NULL};
    PyObject *x_obj, *k_obj, *rk_obj, *b_obj, *h0_obj, *mask_obj, *idrop_obj, *rdrop_obj;
    PyObject *ws_obj = Py_None, *cache_obj = Py_None;
    /* Optional to PyArg; gru_py.ops always passes them, positionally (matching keywords
     * took 0.6 us of a call, a tenth of a small single step's), and a cell or an
     * activation left unset is rejected. */
    int cell = -1, activation = -1, recurrent_activation = -1, reset_after = 0, go_backwards = 0,
        zero_output = 0, training = 0, return_sequences = 0;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "OOOOOOOO|iiipppppOO:rnn_forward", kwlist, &x_obj, &k_obj, &rk_obj,
            &b_obj, &h0_obj, &mask_obj, &idrop_obj, &rdrop_obj, &cell, &activation,
            &recurrent_activation, &reset_after, &go_backwards, &zero_output, &training,
            &return_sequences, &ws_obj, &cache_obj)) {
        return NULL;
    }
    rnn_call c = {.cfg = {.cell = (gp_cell)cell,
                          .activation = (gp_activation)activation,
                          .recurrent_activation = (gp_activation)recurrent_activation,
                          .reset_after = reset_after,
                          .go_backwards = go_backwards,
                          .zero_output_for_mask = zero_output}};
    PyArrayObject *h0 = NULL, *outputs = NULL, *last_state = NULL, *cache = NULL;
    PyObject *result = NULL;
    float *ws = NULL;
    PyArrayObject *ws_held = NULL;

    if (rnn_call_parse(&c, op, x_obj, k_obj, rk_obj, b_obj, mask_obj, idrop_obj, rdrop_obj,
                       !training) < 0) {
        goto error;
    }
    const gp_rnn_config *cfg = &c.cfg;
    const npy_intp state_dims[3] = {(npy_intp)gp_rnn_state_count(cfg->cell), (npy_intp)cfg->batch,
                                    (npy_intp)cfg->units};
    if (as_optional_input(h0_obj, op, "initial_state", 3, STATES_MEANING, &h0) < 0 ||
        (h0 && check_shape(h0, op, "initial_state", 3, state_dims, STATES_MEANING) < 0)) {
        goto error;
    }
    const npy_intp out_dims[3] = {(npy_intp)cfg->batch, (npy_intp)cfg->steps, (npy_intp)cfg->units};
    const npy_intp cache_dims[1] = {(npy_intp)gp_rnn_cache_size(cfg)};
    last_state = new_result(3, state_dims);
    if (!last_state) goto error;
    if (return_sequences) {
        outputs = new_result(3, out_dims);
        if (!outputs) goto error;
    }
    if (training) {
        cache = cache_obj == Py_None
                    ? new_result(1, cache_dims)
                    : as_inplace(cache_obj, op, "cache_out", 1, cache_dims, "(the cache size)");
        if (!cache) goto error;
    }
    ws = get_workspace(ws_obj, op, gp_rnn_forward_workspace_size(cfg, training), &ws_held);
    if (!ws) goto error;

    const gp_rnn_inputs in = rnn_call_inputs(&c, h0);
    gp_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = gp_rnn_forward(data_of(outputs), data_of(last_state), data_of(cache), ws, &in, cfg);
    Py_END_ALLOW_THREADS;
    if (status != GP_OK) {
        set_status_error(status, op);
        goto error;
    }
    if (c.kernels_unscanned && !gp_rnn_step_products_finite(ws, cfg) && check_kernels(&c, op) < 0) {
        goto error;
    }
    result = Py_BuildValue("(OOO)", outputs ? (PyObject *)outputs : Py_None, last_state,
                           cache ? (PyObject *)cache : Py_None);
error:
    release_workspace(ws, ws_held);
    rnn_call_release(&c);
    Py_XDECREF(h0);
    Py_XDECREF(outputs);
    Py_XDECREF(last_state);
    Py_XDECREF(cache);
    return result;
}

static PyObject *rnn_backward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "rnn_backward";
    static char *kwlist[] = {"cache",
                             "x",
                             "kernel",
                             "recurrent_kernel",
                             "mask",
                             "dropout_mask",
                             "recurrent_dropout_mask",
                             "d_outputs",
                             "d_last_state",
                             "d_kernel",
                             "d_recurrent_kernel",
                             "d_bias",
                             "cell",
                             "activation",
                             "recurrent_activation",
                             "reset_after",
                             "use_bias",
                             "go_backwards",
                             "zero_output_for_mask",
                             "check_finite",
                             "input_gradient",
                             "workspace",
                             NULL};
    PyObject *cache_obj, *x_obj, *k_obj, *rk_obj, *mask_obj, *idrop_obj, *rdrop_obj, *dout_obj,
        *dlast_obj, *dk_obj, *drk_obj, *db_obj;
    PyObject *ws_obj = Py_None;
    int cell = -1, activation = -1, recurrent_activation = -1, reset_after = 0, use_bias = 1,
        go_backwards = 0, zero_output = 0, check_finite = 1, input_gradient = 1;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "OOOOOOOOOOOO|$iiippppppO:rnn_backward", kwlist, &cache_obj, &x_obj,
            &k_obj, &rk_obj, &mask_obj, &idrop_obj, &rdrop_obj, &dout_obj, &dlast_obj, &dk_obj,
            &drk_obj, &db_obj, &cell, &activation, &recurrent_activation, &reset_after, &use_bias,
            &go_backwards, &zero_output, &check_finite, &input_gradient, &ws_obj)) {
        return NULL;
    }
    rnn_call c = {.cfg = {.cell = (gp_cell)cell,
                          .activation = (gp_activation)activation,
                          .recurrent_activation = (gp_activation)recurrent_activation,
                          .reset_after = reset_after,
                          .use_bias = use_bias,
                          .go_backwards = go_backwards,
                          .zero_output_for_mask = zero_output}};
    PyArrayObject *cache = NULL, *d_out = NULL, *d_last = NULL;
    PyArrayObject *d_x = NULL, *d_h0 = NULL, *d_kernel = NULL, *d_rk = NULL, *d_bias = NULL;
    PyObject *result = NULL;
    float *ws = NULL;
    PyArrayObject *ws_held = NULL;

    if (rnn_call_parse(&c, op, x_obj, k_obj, rk_obj, NULL, mask_obj, idrop_obj, rdrop_obj, 0) < 0) {
        goto error;
    }
    const gp_rnn_config *cfg = &c.cfg;
    const npy_intp n_batch = (npy_intp)cfg->batch, n_steps = (npy_intp)cfg->steps,
                   n_in = (npy_intp)cfg->input_size, n_units = (npy_intp)cfg->units;
    cache = as_cache(cache_obj, op);
    if (!cache) goto error;
    const npy_intp cache_dims[1] = {(npy_intp)gp_rnn_cache_size(cfg)};
    if (check_shape(cache, op, "cache", 1, cache_dims,
                    "(the cache of a training rnn_forward with this configuration)") < 0) {
        goto error;
    }
    const npy_intp out_dims[3] = {n_batch, n_steps, n_units};
    const npy_intp state_dims[3] = {(npy_intp)gp_rnn_state_count(cfg->cell), n_batch, n_units};
    if (as_optional_array(dout_obj, op, "d_outputs", 3, "(batch, timesteps, units)", check_finite,
                          &d_out) < 0 ||
        (d_out &&
         check_shape(d_out, op, "d_outputs", 3, out_dims, "(batch, timesteps, units)") < 0) ||
        as_optional_array(dlast_obj, op, "d_last_state", 3, STATES_MEANING, check_finite, &d_last) <
            0 ||
        (d_last && check_shape(d_last, op, "d_last_state", 3, state_dims, STATES_MEANING) < 0)) {
        goto error;
    }
    const npy_intp gh = PyArray_DIM(c.rk, 1);
    const npy_intp k_dims[2] = {n_in, gh}, rk_dims[2] = {n_units, gh};
    d_kernel = as_accumulator(dk_obj, op, "d_kernel", 2, k_dims, c.gates_meaning);
    if (!d_kernel) goto error;
    d_rk = as_accumulator(drk_obj, op, "d_recurrent_kernel", 2, rk_dims, "(units, gates*units)");
    if (!d_rk) goto error;
    if (use_bias) {
        npy_intp b_dims[2];
        const char *b_meaning;
        const int b_rank = bias_shape(cfg, b_dims, &b_meaning);
        d_bias = as_accumulator(db_obj, op, "d_bias", b_rank, b_dims, b_meaning);
        if (!d_bias) goto error;
    }
    if (input_gradient) {
        const npy_intp x_dims[3] = {n_batch, n_steps, n_in};
        d_x = new_result(3, x_dims);
        if (!d_x) goto error;
    }
    d_h0 = new_result(3, state_dims);
    if (!d_h0) goto error;
    ws = get_workspace(ws_obj, op, gp_rnn_backward_workspace_size(cfg), &ws_held);
    if (!ws) goto error;

    const gp_rnn_inputs in = rnn_call_inputs(&c, NULL);
    const gp_rnn_gradients grads = {.d_x = data_of(d_x),
                                    .d_initial_state = data_of(d_h0),
                                    .d_kernel = data_of(d_kernel),
                                    .d_recurrent_kernel = data_of(d_rk),
                                    .d_bias = data_of(d_bias)};
    gp_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = gp_rnn_backward(&grads, ws, data_of(cache), &in, data_of(d_out), data_of(d_last), cfg);
    Py_END_ALLOW_THREADS;
    if (status != GP_OK) {
        set_status_error(status, op);
        goto error;
    }
    result = Py_BuildValue("(OOOOO)", d_x ? (PyObject *)d_x : Py_None, d_h0, d_kernel, d_rk,
                           d_bias ? (PyObject *)d_bias : Py_None);
error:
    release_workspace(ws, ws_held);
    rnn_call_release(&c);
    Py_XDECREF(cache);
    Py_XDECREF(d_out);
    Py_XDECREF(d_last);
    Py_XDECREF(d_x);
    Py_XDECREF(d_h0);
    Py_XDECREF(d_kernel);
    Py_XDECREF(d_rk);
    Py_XDECREF(d_bias);
    return result;
}

/* The float counts a recurrent call of these sizes needs, for callers that keep reusable
 * buffers: (cache, training forward workspace, inference forward workspace, backward
 * workspace). Only the cell, the sizes and the dropout flags change them. */
static PyObject *rnn_buffer_sizes(PyObject *self, PyObject *args) {
    (void)self;
    int cell, input_dropout, recurrent_dropout;
    Py_ssize_t batch, steps, features, units;
    if (!PyArg_ParseTuple(args, "innnnpp:rnn_buffer_sizes", &cell, &batch, &steps, &features,
                          &units, &input_dropout, &recurrent_dropout)) {
        return NULL;
    }
    if (batch < 1 || steps < 1 || features < 1 || units < 1) {
        PyErr_Format(PyExc_ValueError,
                     "rnn_buffer_sizes: sizes must be positive, got (%zd, %zd, %zd, %zd)", batch,
                     steps, features, units);
        return NULL;
    }
    const gp_rnn_config cfg = {.cell = (gp_cell)cell,
                               .batch = (size_t)batch,
                               .steps = (size_t)steps,
                               .input_size = (size_t)features,
                               .units = (size_t)units,
                               .activation = GP_ACT_TANH,
                               .recurrent_activation = GP_ACT_SIGMOID,
                               .input_dropout = input_dropout,
                               .recurrent_dropout = recurrent_dropout};
    const gp_status status = gp_rnn_check_config(&cfg);
    if (status != GP_OK) {
        set_status_error(status, "rnn_buffer_sizes");
        return NULL;
    }
    return Py_BuildValue("(nnnn)", (Py_ssize_t)gp_rnn_cache_size(&cfg),
                         (Py_ssize_t)gp_rnn_forward_workspace_size(&cfg, 1),
                         (Py_ssize_t)gp_rnn_forward_workspace_size(&cfg, 0),
                         (Py_ssize_t)gp_rnn_backward_workspace_size(&cfg));
}

/* ---------------------------------------------------------------------------------- */
/* Dense                                                                               */
/* ---------------------------------------------------------------------------------- */

/* Checks kernel (features, units) and bias (units,) against x (rows, features) and fills cfg's
 * sizes. */
static int check_dense_weights(const char *op, PyArrayObject *x, PyArrayObject *kernel,
                               PyArrayObject *bias, gp_dense_config *cfg) {
    const npy_intp n_in = PyArray_DIM(x, 1), n_out = PyArray_DIM(kernel, 1);
    const npy_intp k_dims[2] = {n_in, -1}, b_dims[1] = {n_out};
    if (check_shape(kernel, op, "kernel", 2, k_dims, "(input features, units)") < 0) return -1;
    if (bias && check_shape(bias, op, "bias", 1, b_dims, "(units,)") < 0) return -1;
    cfg->rows = (size_t)PyArray_DIM(x, 0);
    cfg->input_size = (size_t)n_in;
    cfg->units = (size_t)n_out;
    const gp_status status = gp_dense_check_config(cfg);
    if (status != GP_OK) {
        set_status_error(status, op);
        return -1;
    }
    return 0;
}

static PyObject *dense_forward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "dense_forward";
    static char *kwlist[] = {"x", "kernel", "bias", "activation", NULL};
    PyObject *x_obj, *k_obj, *b_obj;
    int activation;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO$i:dense_forward", kwlist, &x_obj, &k_obj,
                                     &b_obj, &activation)) {
        return NULL;
    }
    gp_dense_config cfg = {.activation = (gp_activation)activation, .use_bias = b_obj != Py_None};
    PyArrayObject *x = NULL, *kernel = NULL, *bias = NULL, *y = NULL;
    PyObject *result = NULL;

    x = as_input(x_obj, op, "x", 2, "(rows, features)");
    if (!x) goto error;
    kernel = as_input(k_obj, op, "kernel", 2, "(input features, units)");
    if (!kernel) goto error;
    if (as_optional_input(b_obj, op, "bias", 1, "(units,)", &bias) < 0) goto error;
    if (check_dense_weights(op, x, kernel, bias, &cfg) < 0) goto error;
    const npy_intp y_dims[2] = {(npy_intp)cfg.rows, (npy_intp)cfg.units};
    y = new_result(2, y_dims);
    if (!y) goto error;

    gp_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = gp_dense_forward(data_of(y), data_of(x), data_of(kernel), data_of(bias), &cfg);
    Py_END_ALLOW_THREADS;
    if (status != GP_OK) {
        set_status_error(status, op);
        goto error;
    }
    result = (PyObject *)y;
    y = NULL;
error:
    Py_XDECREF(x);
    Py_XDECREF(kernel);
    Py_XDECREF(bias);
    Py_XDECREF(y);
    return result;
}

static PyObject *dense_backward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "dense_backward";
    static char *kwlist[] = {"x",      "kernel",     "y",        "d_y", "d_kernel",
                             "d_bias", "activation", "use_bias", NULL};
    PyObject *x_obj, *k_obj, *y_obj, *dy_obj, *dk_obj, *db_obj;
    int activation, use_bias;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOO$ip:dense_backward", kwlist, &x_obj,
                                     &k_obj, &y_obj, &dy_obj, &dk_obj, &db_obj, &activation,
                                     &use_bias)) {
        return NULL;
    }
    gp_dense_config cfg = {.activation = (gp_activation)activation, .use_bias = use_bias};
    PyArrayObject *x = NULL, *kernel = NULL, *y = NULL, *d_y = NULL;
    PyArrayObject *d_x = NULL, *d_kernel = NULL, *d_bias = NULL;
    PyObject *result = NULL;
    float *ws = NULL;

    x = as_input(x_obj, op, "x", 2, "(rows, features)");
    if (!x) goto error;
    kernel = as_input(k_obj, op, "kernel", 2, "(input features, units)");
    if (!kernel) goto error;
    if (check_dense_weights(op, x, kernel, NULL, &cfg) < 0) goto error;
    const npy_intp y_dims[2] = {(npy_intp)cfg.rows, (npy_intp)cfg.units};
    y = as_input(y_obj, op, "y", 2, "(rows, units)");
    if (!y || check_shape(y, op, "y", 2, y_dims, "(rows, units)") < 0) goto error;
    d_y = as_input(dy_obj, op, "d_y", 2, "(rows, units)");
    if (!d_y || check_shape(d_y, op, "d_y", 2, y_dims, "(rows, units)") < 0) goto error;
    const npy_intp k_dims[2] = {(npy_intp)cfg.input_size, (npy_intp)cfg.units};
    const npy_intp b_dims[1] = {(npy_intp)cfg.units};
    d_kernel = as_accumulator(dk_obj, op, "d_kernel", 2, k_dims, "(input features, units)");
    if (!d_kernel) goto error;
    if (use_bias) {
        d_bias = as_accumulator(db_obj, op, "d_bias", 1, b_dims, "(units,)");
        if (!d_bias) goto error;
    }
    const npy_intp x_dims[2] = {(npy_intp)cfg.rows, (npy_intp)cfg.input_size};
    d_x = new_result(2, x_dims);
    if (!d_x) goto error;
    ws = new_workspace(gp_dense_backward_workspace_size(&cfg));
    if (!ws) goto error;

    gp_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = gp_dense_backward(data_of(d_x), data_of(d_kernel), data_of(d_bias), ws, data_of(x),
                               data_of(kernel), data_of(y), data_of(d_y), &cfg);
    Py_END_ALLOW_THREADS;
    if (status != GP_OK) {
        set_status_error(status, op);
        goto error;
    }
    result = Py_BuildValue("(OOO)", d_x, d_kernel, d_bias ? (PyObject *)d_bias : Py_None);
error:
    PyMem_RawFree(ws);
    Py_XDECREF(x);
    Py_XDECREF(kernel);
    Py_XDECREF(y);
    Py_XDECREF(d_y);
    Py_XDECREF(d_x);
    Py_XDECREF(d_kernel);
    Py_XDECREF(d_bias);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* Activations                                                                         */
/* ---------------------------------------------------------------------------------- */

static PyObject *activation_forward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "activation_forward";
    static char *kwlist[] = {"x", "activation", NULL};
    PyObject *x_obj;
    int activation;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O$i:activation_forward", kwlist, &x_obj,
                                     &activation)) {
        return NULL;
    }
    PyArrayObject *x = as_input(x_obj, op, "x", 2, "(rows, columns)");
    if (!x) return NULL;
    PyArrayObject *y = new_result(2, PyArray_DIMS(x));
    if (y) {
        gp_status status;
        Py_BEGIN_ALLOW_THREADS;
        status = gp_activation_forward(data_of(y), data_of(x), (size_t)PyArray_DIM(x, 0),
                                       (size_t)PyArray_DIM(x, 1), (gp_activation)activation);
        Py_END_ALLOW_THREADS;
        if (status != GP_OK) {
            set_status_error(status, op);
            Py_CLEAR(y);
        }
    }
    Py_DECREF(x);
    return (PyObject *)y;
}

static PyObject *activation_backward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "activation_backward";
    static char *kwlist[] = {"y", "d_y", "activation", NULL};
    PyObject *y_obj, *dy_obj;
    int activation;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO$i:activation_backward", kwlist, &y_obj,
                                     &dy_obj, &activation)) {
        return NULL;
    }
    PyArrayObject *y = NULL, *d_y = NULL, *d_x = NULL;
    y = as_input(y_obj, op, "y", 2, "(rows, columns)");
    if (y) d_y = as_input(dy_obj, op, "d_y", 2, "(rows, columns)");
    if (d_y && check_shape(d_y, op, "d_y", 2, PyArray_DIMS(y), "(the shape of y)") == 0) {
        d_x = new_result(2, PyArray_DIMS(y));
    }
    if (d_x) {
        gp_status status;
        Py_BEGIN_ALLOW_THREADS;
        status = gp_activation_backward(data_of(d_x), data_of(y), data_of(d_y),
                                        (size_t)PyArray_DIM(y, 0), (size_t)PyArray_DIM(y, 1),
                                        (gp_activation)activation);
        Py_END_ALLOW_THREADS;
        if (status != GP_OK) {
            set_status_error(status, op);
            Py_CLEAR(d_x);
        }
    }
    Py_XDECREF(y);
    Py_XDECREF(d_y);
    return (PyObject *)d_x;
}

/* ---------------------------------------------------------------------------------- */
/* Optimizers: the weight and the slots are updated in place                           */
/* ---------------------------------------------------------------------------------- */

/*
 * Converts the arrays of one optimizer update: objs[0] is the weight (updated in place),
 * objs[1] the gradient (converted to float32 of the weight's shape), objs[2..n) the
 * slots (updated in place, the weight's shape; None gives NULL). On failure every
 * reference taken is released and -1 returned.
 */
static int optimizer_arrays(const char *op, PyObject **objs, const char *const *names, int n,
                            PyArrayObject **arrs) {
    for (int i = 0; i < n; i++) arrs[i] = NULL;
    if (!PyArray_Check(objs[0])) {
        PyErr_Format(PyExc_TypeError, "%s: w must be a numpy.ndarray, got %s", op,
                     Py_TYPE(objs[0])->tp_name);
        return -1;
    }
    PyArrayObject *w0 = (PyArrayObject *)objs[0];
    const int ndim = PyArray_NDIM(w0);
    const npy_intp *dims = PyArray_DIMS(w0);
    arrs[0] = as_inplace(objs[0], op, names[0], ndim, dims, "(any)");
    if (arrs[0] && PyArray_SIZE(arrs[0]) > 0) {
        arrs[1] = convert_real(objs[1], op, names[1], NPY_FLOAT32);
        if (arrs[1] && check_shape(arrs[1], op, names[1], ndim, dims, "(the shape of w)") < 0) {
            Py_CLEAR(arrs[1]);
        }
    } else if (arrs[0]) {
        PyErr_Format(PyExc_ValueError, "%s: w must not be empty", op);
    }
    int ok = arrs[0] && arrs[1];
    for (int i = 2; ok && i < n; i++) {
        if (objs[i] != Py_None) {
            arrs[i] = as_inplace(objs[i], op, names[i], ndim, dims, "(the shape of w)");
            ok = arrs[i] != NULL;
        }
    }
    if (ok) return 0;
    for (int i = 0; i < n; i++) Py_CLEAR(arrs[i]);
    return -1;
}

static void release_arrays(PyArrayObject **arrs, int n) {
    for (int i = 0; i < n; i++) Py_CLEAR(arrs[i]);
}

static size_t size_of(PyArrayObject *arr) {
    return (size_t)PyArray_SIZE(arr);
}

static PyObject *finish_update(gp_status status, const char *op) {
    if (status != GP_OK) {
        set_status_error(status, op);
        return NULL;
    }
    Py_RETURN_NONE;
}

#define STEP_KWARGS "learning_rate", "weight_decay", "grad_scale", "clip_value"

static PyObject *sgd_update(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "sgd_update";
    static char *kwlist[] = {"w", "grad", "velocity", STEP_KWARGS, "momentum", "nesterov", NULL};
    static const char *const names[] = {"w", "grad", "velocity"};
    PyObject *objs[3];
    gp_optim_step step;
    float momentum;
    int nesterov;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO$fffffp:sgd_update", kwlist, &objs[0],
                                     &objs[1], &objs[2], &step.learning_rate, &step.weight_decay,
                                     &step.grad_scale, &step.clip_value, &momentum, &nesterov)) {
        return NULL;
    }
    PyArrayObject *a[3];
    if (optimizer_arrays(op, objs, names, 3, a) < 0) return NULL;
    gp_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = gp_sgd_update(data_of(a[0]), data_of(a[2]), data_of(a[1]), size_of(a[0]), &step,
                           momentum, nesterov);
    Py_END_ALLOW_THREADS;
    release_arrays(a, 3);
    return finish_update(status, op);
}

static PyObject *adam_update(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "adam_update";
    static char *kwlist[] = {"w",      "grad",   "m",       "v",         "v_hat", STEP_KWARGS,
                             "beta_1", "beta_2", "epsilon", "iteration", NULL};
    static const char *const names[] = {"w", "grad", "m", "v", "v_hat"};
    PyObject *objs[5];
    gp_optim_step step;
    double beta_1, beta_2, iteration;
    float epsilon;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO$ffffddfd:adam_update", kwlist, &objs[0],
                                     &objs[1], &objs[2], &objs[3], &objs[4], &step.learning_rate,
                                     &step.weight_decay, &step.grad_scale, &step.clip_value,
                                     &beta_1, &beta_2, &epsilon, &iteration)) {
        return NULL;
    }
    PyArrayObject *a[5];
    if (optimizer_arrays(op, objs, names, 5, a) < 0) return NULL;
    gp_status status;
    Py_BEGIN_ALLOW_THREADS;
    status =
        gp_adam_update(data_of(a[0]), data_of(a[2]), data_of(a[3]), data_of(a[4]), data_of(a[1]),
                       size_of(a[0]), &step, beta_1, beta_2, epsilon, iteration);
    Py_END_ALLOW_THREADS;
    release_arrays(a, 5);
    return finish_update(status, op);
}

static PyObject *rmsprop_update(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "rmsprop_update";
    static char *kwlist[] = {"w",         "grad", "velocity", "momentum_buf", "average_grad",
                             STEP_KWARGS, "rho",  "momentum", "epsilon",      NULL};
    static const char *const names[] = {"w", "grad", "velocity", "momentum_buf", "average_grad"};
    PyObject *objs[5];
    gp_optim_step step;
    double rho;
    float momentum, epsilon;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO$ffffdff:rmsprop_update", kwlist, &objs[0],
                                     &objs[1], &objs[2], &objs[3], &objs[4], &step.learning_rate,
                                     &step.weight_decay, &step.grad_scale, &step.clip_value, &rho,
                                     &momentum, &epsilon)) {
        return NULL;
    }
    PyArrayObject *a[5];
    if (optimizer_arrays(op, objs, names, 5, a) < 0) return NULL;
    gp_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = gp_rmsprop_update(data_of(a[0]), data_of(a[2]), data_of(a[3]), data_of(a[4]),
                               data_of(a[1]), size_of(a[0]), &step, rho, momentum, epsilon);
    Py_END_ALLOW_THREADS;
    release_arrays(a, 5);
    return finish_update(status, op);
}

static PyObject *adagrad_update(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static const char *op = "adagrad_update";
    static char *kwlist[] = {"w", "grad", "accumulator", STEP_KWARGS, "epsilon", NULL};
    static const char *const names[] = {"w", "grad", "accumulator"};
    PyObject *objs[3];
    gp_optim_step step;
    float epsilon;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO$fffff:adagrad_update", kwlist, &objs[0],
                                     &objs[1], &objs[2], &step.learning_rate, &step.weight_decay,
                                     &step.grad_scale, &step.clip_value, &epsilon)) {
        return NULL;
    }
    PyArrayObject *a[3];
    if (optimizer_arrays(op, objs, names, 3, a) < 0) return NULL;
    gp_status status;
    Py_BEGIN_ALLOW_THREADS;
    status = gp_adagrad_update(data_of(a[0]), data_of(a[2]), data_of(a[1]), size_of(a[0]), &step,
                               epsilon);
    Py_END_ALLOW_THREADS;
    release_arrays(a, 3);
    return finish_update(status, op);
}

static PyObject *sum_squares(PyObject *self, PyObject *arg) {
    (void)self;
    PyArrayObject *arr = convert_real(arg, "sum_squares", "x", NPY_FLOAT32);
    if (!arr) return NULL;
    double total;
    Py_BEGIN_ALLOW_THREADS;
    total = gp_sum_squares(data_of(arr), size_of(arr));
    Py_END_ALLOW_THREADS;
    Py_DECREF(arr);
    return PyFloat_FromDouble(total);
}

/* The flat index of x's first NaN or infinity (after conversion to float32), or None. The
 * Python side checks arrays with it rather than with numpy.isfinite, which would allocate a
 * boolean array of x's size. */
static PyObject *find_nonfinite(PyObject *self, PyObject *arg) {
    (void)self;
    PyArrayObject *arr = convert_real(arg, "find_nonfinite", "x", NPY_FLOAT32);
    if (!arr) return NULL;
    const size_t n = size_of(arr);
    size_t bad;
    Py_BEGIN_ALLOW_THREADS;
    bad = gp_find_nonfinite(data_of(arr), n);
    Py_END_ALLOW_THREADS;
    Py_DECREF(arr);
    if (bad == n) Py_RETURN_NONE;
    return PyLong_FromSize_t(bad);
}

/* ---------------------------------------------------------------------------------- */
/* Losses                                                                              */
/* ---------------------------------------------------------------------------------- */

/* Fills a loss config from y_pred (N, C) and checks it. */
static int loss_config(const char *op, PyArrayObject *y_pred, gp_loss_config *cfg) {
    cfg->rows = (size_t)PyArray_DIM(y_pred, 0);
    cfg->cols = (size_t)PyArray_DIM(y_pred, 1);
    const gp_status status = gp_loss_check_config(cfg);
    if (status != GP_OK) {
        set_status_error(status, op);
        return -1;
    }
    return 0;
}

/* Converts y_pred (N, C), the targets (y_true (N, C), or labels (N) when sparse) and,
 * when d_obj is not NULL, d_per_row (N); the float arrays are scanned for NaN and Inf
 * when `finite`. Returns 0, or -1 with every reference released. */
static int loss_arrays(const char *op, int sparse, int finite, PyObject *target_obj,
                       PyObject *pred_obj, PyObject *d_obj, PyArrayObject **target,
                       PyArrayObject **pred, PyArrayObject **d_per_row) {
    *target = *d_per_row = NULL;
    *pred = as_array(pred_obj, op, "y_pred", 2, "(rows, classes)", finite);
    if (!*pred) return -1;
    const npy_intp rows[1] = {PyArray_DIM(*pred, 0)};
    if (sparse) {
        *target = convert_real(target_obj, op, "labels", NPY_INT64);
        if (*target && check_shape(*target, op, "labels", 1, rows, "(rows,)") < 0) {
            Py_CLEAR(*target);
        }
    } else {
        *target = as_array(target_obj, op, "y_true", 2, "(rows, columns)", finite);
        if (*target && check_shape(*target, op, "y_true", 2, PyArray_DIMS(*pred),
                                   "(the shape of y_pred)") < 0) {
            Py_CLEAR(*target);
        }
    }
    if (*target && d_obj) {
        *d_per_row = as_array(d_obj, op, "d_per_row", 1, "(rows,)", finite);
        if (*d_per_row && check_shape(*d_per_row, op, "d_per_row", 1, rows, "(rows,)") < 0) {
            Py_CLEAR(*d_per_row);
        }
        if (!*d_per_row) Py_CLEAR(*target);
    }
    if (*target) return 0;
    Py_CLEAR(*pred);
    return -1;
}

/* The four loss entry points share one wrapper: forward or backward, dense or sparse. */
static PyObject *loss_call(PyObject *args, PyObject *kwargs, int sparse, int backward) {
    const char *op =
        sparse ? (backward ? "sparse_crossentropy_backward" : "sparse_crossentropy_forward")
               : (backward ? "loss_backward" : "loss_forward");
    static char *kwlist[] = {"target",          "y_pred", "d_per_row",    "kind", "from_logits",
                             "label_smoothing", "delta",  "check_finite", NULL};
    PyObject *target_obj, *pred_obj, *d_obj = NULL;
    int kind, from_logits, check_finite = 1;
    gp_loss_config cfg = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O$ipffp", kwlist, &target_obj, &pred_obj,
                                     &d_obj, &kind, &from_logits, &cfg.label_smoothing, &cfg.delta,
                                     &check_finite)) {
        return NULL;
    }
    if (backward != (d_obj != NULL)) {
        PyErr_Format(PyExc_TypeError, "%s: d_per_row is %s", op,
                     backward ? "required" : "only for the backward");
        return NULL;
    }
    cfg.kind = (gp_loss_kind)kind;
    cfg.from_logits = from_logits;
    PyArrayObject *target, *pred, *d_per_row, *out = NULL;
    if (loss_arrays(op, sparse, check_finite, target_obj, pred_obj, d_obj, &target, &pred,
                    &d_per_row) < 0) {
        return NULL;
    }
    if (loss_config(op, pred, &cfg) == 0) {
        out = backward ? new_result(2, PyArray_DIMS(pred)) : new_result(1, PyArray_DIMS(pred));
    }
    if (out) {
        gp_status status;
        const long long *labels = sparse ? (const long long *)PyArray_DATA(target) : NULL;
        Py_BEGIN_ALLOW_THREADS;
        if (sparse) {
            status = backward ? gp_sparse_crossentropy_backward(data_of(out), labels, data_of(pred),
                                                                data_of(d_per_row), &cfg)
                              : gp_sparse_crossentropy_forward(data_of(out), labels, data_of(pred),
                                                               &cfg);
        } else {
            status = backward ? gp_loss_backward(data_of(out), data_of(target), data_of(pred),
                                                 data_of(d_per_row), &cfg)
                              : gp_loss_forward(data_of(out), data_of(target), data_of(pred), &cfg);
        }
        Py_END_ALLOW_THREADS;
        if (status != GP_OK) {
            set_status_error(status, op);
            Py_CLEAR(out);
        }
    }
    Py_DECREF(target);
    Py_DECREF(pred);
    Py_XDECREF(d_per_row);
    return (PyObject *)out;
}

static PyObject *loss_forward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    return loss_call(args, kwargs, 0, 0);
}

static PyObject *loss_backward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    return loss_call(args, kwargs, 0, 1);
}

static PyObject *sparse_crossentropy_forward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    return loss_call(args, kwargs, 1, 0);
}

static PyObject *sparse_crossentropy_backward(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    return loss_call(args, kwargs, 1, 1);
}

/* ---------------------------------------------------------------------------------- */
/* BLAS information                                                                    */
/* ---------------------------------------------------------------------------------- */

static PyObject *blas_config(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString(gp_blas_config());
}

static PyObject *get_num_threads(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromLong(gp_blas_get_num_threads());
}

static PyObject *set_num_threads(PyObject *self, PyObject *arg) {
    (void)self;
    const long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 1 || n > 1024) {
        PyErr_Format(PyExc_ValueError, "set_num_threads: num_threads must be in [1, 1024], got %ld",
                     n);
        return NULL;
    }
    gp_blas_set_num_threads((int)n);
    Py_RETURN_NONE;
}

static PyObject *recycled_memory_kept_bytes_py(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromSize_t(recycled_memory_kept_bytes());
}

static PyMethodDef core_methods[] = {
    {"rnn_forward", (PyCFunction)(void (*)(void))rnn_forward, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.ops.gru_forward, lstm_forward and simple_rnn_forward."},
    {"rnn_backward", (PyCFunction)(void (*)(void))rnn_backward, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.ops.rnn_backward."},
    {"rnn_buffer_sizes", rnn_buffer_sizes, METH_VARARGS,
     "Private: float counts of a recurrent call's cache and workspaces."},
    {"dense_forward", (PyCFunction)(void (*)(void))dense_forward, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.ops.dense_forward."},
    {"dense_backward", (PyCFunction)(void (*)(void))dense_backward, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.ops.dense_backward."},
    {"activation_forward", (PyCFunction)(void (*)(void))activation_forward,
     METH_VARARGS | METH_KEYWORDS, "Private: see gru_py.ops.activation_forward."},
    {"activation_backward", (PyCFunction)(void (*)(void))activation_backward,
     METH_VARARGS | METH_KEYWORDS, "Private: see gru_py.ops.activation_backward."},
    {"sgd_update", (PyCFunction)(void (*)(void))sgd_update, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.optimizers.SGD."},
    {"adam_update", (PyCFunction)(void (*)(void))adam_update, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.optimizers.Adam."},
    {"rmsprop_update", (PyCFunction)(void (*)(void))rmsprop_update, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.optimizers.RMSprop."},
    {"adagrad_update", (PyCFunction)(void (*)(void))adagrad_update, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.optimizers.Adagrad."},
    {"sum_squares", sum_squares, METH_O, "Sum of squares in double precision."},
    {"find_nonfinite", find_nonfinite, METH_O,
     "Flat index of the first NaN or Inf (as float32), or None."},
    {"loss_forward", (PyCFunction)(void (*)(void))loss_forward, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.losses."},
    {"loss_backward", (PyCFunction)(void (*)(void))loss_backward, METH_VARARGS | METH_KEYWORDS,
     "Private: see gru_py.losses."},
    {"sparse_crossentropy_forward", (PyCFunction)(void (*)(void))sparse_crossentropy_forward,
     METH_VARARGS | METH_KEYWORDS, "Private: see gru_py.losses."},
    {"sparse_crossentropy_backward", (PyCFunction)(void (*)(void))sparse_crossentropy_backward,
     METH_VARARGS | METH_KEYWORDS, "Private: see gru_py.losses."},
    {"blas_config", blas_config, METH_NOARGS, "The OpenBLAS build string."},
    {"get_num_threads", get_num_threads, METH_NOARGS, "OpenBLAS's thread count."},
    {"set_num_threads", set_num_threads, METH_O, "Sets OpenBLAS's thread count."},
    {"recycled_memory_kept_bytes", recycled_memory_kept_bytes_py, METH_NOARGS,
     "Bytes of freed large results kept for reuse."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "gru_py._core",
    "The C core of gru_py (private).",
    -1,
    core_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__core(void) {
    import_array();
    g_recycled_handler = recycled_memory_handler();
    if (!g_recycled_handler) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m) return NULL;
    /* Activation and loss codes, the contract between the Python modules and the core. */
    static const struct {
        const char *name;
        int value;
    } codes[] = {
        {"CELL_GRU", GP_CELL_GRU},
        {"CELL_LSTM", GP_CELL_LSTM},
        {"CELL_SIMPLE_RNN", GP_CELL_SIMPLE_RNN},
        {"ACT_LINEAR", GP_ACT_LINEAR},
        {"ACT_SIGMOID", GP_ACT_SIGMOID},
        {"ACT_TANH", GP_ACT_TANH},
        {"ACT_HARD_SIGMOID", GP_ACT_HARD_SIGMOID},
        {"ACT_RELU", GP_ACT_RELU},
        {"ACT_SOFTMAX", GP_ACT_SOFTMAX},
        {"LOSS_MSE", GP_LOSS_MSE},
        {"LOSS_MAE", GP_LOSS_MAE},
        {"LOSS_HUBER", GP_LOSS_HUBER},
        {"LOSS_CATEGORICAL_CROSSENTROPY", GP_LOSS_CATEGORICAL_CROSSENTROPY},
        {"LOSS_BINARY_CROSSENTROPY", GP_LOSS_BINARY_CROSSENTROPY},
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (PyModule_AddIntConstant(m, codes[i].name, (long)codes[i].value) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
