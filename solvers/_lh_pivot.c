/* Lemke-Howson pivoting in C: the hot loop of popgames.solvers.lemke_howson.
 *
 * Plain C with the CPython API and the buffer protocol (no numpy headers), built as
 * the optional extension popgames.solvers._lh_pivot; lemke_howson.py falls back to
 * its numpy engine (_lh_numpy.py, _lh_tableau.py) when this module is missing. The
 * algorithm is that one's, step for step (same tableaux, same fast and lexicographic
 * ratio tests, same tolerances, same race of labels, same vertex of the final basis);
 * only the tableau update differs: a direct rank-1 update per pivot instead of queued
 * updates folded in by BLAS, which is what per-pivot Python overhead forced. The
 * tolerance for pivot entries, ties and zero values (tol) is an argument of race:
 * lemke_howson.py races again with a smaller one when every path failed.
 *
 * Tableau: basic = rhs - T * nonbasic; T is k x N, column-major (the entering
 * column is read every pivot and the update runs down columns).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PIV_REL 1e-12  /* keep in step with _lh_tableau.py */
#define VERIFY 1e-10

enum { GO, DONE, CYCLE, BREAK, UNVERIFIED };      /* what a pivot ended in */
enum { FOUND, LIMIT, FAILED, BAD_INPUT };         /* how a race ended */

/* The pivot loop is compiled for AVX2 as well, picked at load time where the CPU has it.
 * No FMA contraction (setup.py passes -ffp-contract=off): every clone then rounds alike,
 * so results do not depend on the machine. Loops start on 32-byte boundaries (setup.py
 * passes -falign-loops=32): left to chance, an unrelated edit moved the rank-1 update loop
 * across one and made the pivots 10-25% slower at n = 50..200 (AMD EPYC, gcc 12). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__)
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

typedef Py_ssize_t idx_t;

typedef struct {
    double *T, *rhs;
    idx_t *rows;      /* label of the basic variable in each row */
    idx_t *loc;       /* label -> column (>= 0) or -1 - row (basic) */
    idx_t *slack;     /* the initial basis, in lexicographic order */
    idx_t k, N;
    int degen;
} Tab;

typedef struct {
    Tab tab[2];
    idx_t label, enter;
    int t, dead;
    uint64_t h, saved;            /* Zobrist hash of the bases; Brent's saved state key */
    long long power, lam;
    void *mem;
} Path;

/* splitmix64(i + 1): the Zobrist keys of _zobrist in _lh_tableau.py */
static inline uint64_t zob(idx_t i)
{
    uint64_t z = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

typedef struct {   /* shared scratch, and the race's tolerance */
    idx_t *cand;
    double *key;
    double tol;    /* pivot entries exceed it; rows tie and values are zero within it */
} Work;

/* y -= a * x over n entries (restrict: x is the entering column, y another one). */
static inline void axpy_neg(double *restrict y, const double *restrict x, double a, idx_t n)
{
    for (idx_t i = 0; i < n; i++)
        y[i] -= a * x[i];
}

/* Lexicographic minimum-ratio row for column col (see _lex_ratio in _lh_tableau.py), or -1. */
static idx_t lex_ratio(const Tab *tb, const double *col, Work *w)
{
    idx_t k = tb->k, nc = 0;
    double cmax = 0.0;
    for (idx_t i = 0; i < k; i++)
        if (fabs(col[i]) > cmax)
            cmax = fabs(col[i]);
    double thr = fmax(w->tol, PIV_REL * cmax);
    for (idx_t i = 0; i < k; i++)
        if (col[i] > thr)
            w->cand[nc++] = i;
    if (nc == 0)
        return -1;
    double big = 0.0;
    for (idx_t q = 0; q < nc; q++)
        if (col[w->cand[q]] > big)
            big = col[w->cand[q]];
    for (idx_t s = -1; s < k && nc > 1; s++) {
        /* s = -1: rhs / pivot; then the inverse basis column of initial slack s */
        idx_t j = s < 0 ? 0 : tb->loc[tb->slack[s]];
        double lo = INFINITY, amax = 1.0;
        for (idx_t q = 0; q < nc; q++) {
            idx_t i = w->cand[q];
            double num = s < 0 ? tb->rhs[i] : j >= 0 ? tb->T[i + j * k] : (double)(i == -1 - j);
            w->key[q] = num / col[i];
            if (w->key[q] < lo)
                lo = w->key[q];
            if (fabs(num) > amax)
                amax = fabs(num);
        }
        idx_t kept = 0;     /* ties: pivoting on either row leaves the other about zero */
        for (idx_t q = 0; q < nc; q++)
            if ((w->key[q] - lo) * big <= w->tol * amax)
                w->cand[kept++] = w->cand[q];
        nc = kept;
    }
    return w->cand[0];      /* several left only if the inverse basis has equal rows */
}

/* One complementary pivot of path p: DONE when the dropped label left, CYCLE when the
 * pivoting state repeated, BREAK when no row can leave, else GO (see pivot_path). */
CLONES static int step(Path *p, Work *w)
{
    Tab *tb = &p->tab[p->t];
    idx_t k = tb->k, N = tb->N, c = tb->loc[p->enter], r = -1;
    double *T = tb->T, *rhs = tb->rhs, *col = T + c * k, tol = w->tol;
    int slow;
    if (!tb->degen) {   /* fast path (see pivot_path in _lh_tableau.py) */
        double *q = w->key, best, cmax = 0.0;
        for (idx_t i = 0; i < k; i++)   /* (a loop of its own, so that it vectorizes) */
            q[i] = col[i] / rhs[i];
        int nan = q[0] != q[0];         /* 0/0: numpy's argmax would pick it, then go slow */
        best = q[0];
        r = 0;
        for (idx_t i = 1; i < k; i++) {
            if (q[i] > best) {
                best = q[i];
                r = i;
            }
            nan |= q[i] != q[i];
        }
        for (idx_t i = 0; i < k; i++)
            if (fabs(col[i]) > cmax)
                cmax = fabs(col[i]);
        if (nan || !(col[r] > fmax(tol, PIV_REL * cmax))) {
            r = -1;
        } else {        /* another row taken to about zero by the pivot: a tie, go slow */
            double theta = rhs[r] * (1.0 / col[r]);    /* as in the update below */
            for (idx_t i = 0; i < k; i++)
                if (rhs[i] - col[i] * theta <= tol && i != r) {
                    r = -1;
                    break;
                }
        }
    }
    slow = r < 0;
    if (slow) {
        for (idx_t i = 0; i < k; i++)   /* snap drifted zeros (see _lh_tableau.py) */
            if (fabs(rhs[i]) <= tol)
                rhs[i] = 0.0;
        r = lex_ratio(tb, col, w);
        if (r < 0)
            return BREAK;
    }
    double inv = 1.0 / col[r], theta = rhs[r] * inv;
    for (idx_t i = 0; i < k; i++)
        rhs[i] -= col[i] * theta;
    rhs[r] = theta;
    for (idx_t j = 0; j < N; j++) {
        if (j == c)
            continue;
        double *dst = T + j * k, f = dst[r] * inv;
        if (f != 0.0)
            axpy_neg(dst, col, f, k);
        dst[r] = f;
    }
    for (idx_t i = 0; i < k; i++)
        col[i] *= -inv;
    col[r] = inv;
    idx_t leave = tb->rows[r];
    tb->rows[r] = p->enter;
    tb->loc[p->enter] = -1 - r;
    tb->loc[leave] = c;
    if (slow) {
        double lo = INFINITY;
        for (idx_t i = 0; i < k; i++)
            if (rhs[i] < lo)
                lo = rhs[i];
        tb->degen = lo < tol;
    } else {            /* only the entering value can be below tol */
        tb->degen = theta < tol;
    }
    if (leave == p->label)
        return DONE;
    idx_t L = k + N;
    p->h ^= zob(p->t * L + leave) ^ zob(p->t * L + p->enter);
    p->enter = leave;   /* its twin in the other polytope enters there */
    p->t = 1 - p->t;
    uint64_t key = p->h ^ zob((2 + p->t) * L + p->enter);
    if (key == p->saved)
        return CYCLE;
    if (++p->lam == p->power) {
        p->saved = key;
        p->power *= 2;
        p->lam = 0;
    }
    return GO;
}

/* (x, y) is an equilibrium of the scaled game (A, B), both m x n row-major, to VERIFY. */
static int verified(const double *A, const double *B, const double *x, const double *y,
                    idx_t m, idx_t n, double *work)
{
    double best = -INFINITY, val = 0.0;
    for (idx_t i = 0; i < m; i++) {
        double v = 0.0;
        for (idx_t j = 0; j < n; j++)
            v += A[i * n + j] * y[j];
        val += x[i] * v;
        if (v > best)
            best = v;
    }
    if (!(best - val <= VERIFY))
        return 0;
    for (idx_t j = 0; j < n; j++)
        work[j] = 0.0;
    for (idx_t i = 0; i < m; i++)
        for (idx_t j = 0; j < n; j++)
            work[j] += x[i] * B[i * n + j];
    best = -INFINITY;
    val = 0.0;
    for (idx_t j = 0; j < n; j++) {
        val += work[j] * y[j];
        if (work[j] > best)
            best = work[j];
    }
    return best - val <= VERIFY;
}

/* Solve G z = 1 (s x s, row-major, overwritten) by Gaussian elimination with partial
 * pivoting; 0 when singular. */
static int solve_ones(double *G, double *z, idx_t s)
{
    for (idx_t i = 0; i < s; i++)
        z[i] = 1.0;
    for (idx_t q = 0; q < s; q++) {
        idx_t piv = q;
        for (idx_t i = q + 1; i < s; i++)
            if (fabs(G[i * s + q]) > fabs(G[piv * s + q]))
                piv = i;
        if (G[piv * s + q] == 0.0)
            return 0;
        if (piv != q) {
            for (idx_t j = 0; j < s; j++) {
                double tmp = G[q * s + j]; G[q * s + j] = G[piv * s + j]; G[piv * s + j] = tmp;
            }
            double tmp = z[q]; z[q] = z[piv]; z[piv] = tmp;
        }
        for (idx_t i = q + 1; i < s; i++) {
            double f = G[i * s + q] / G[q * s + q];
            if (f == 0.0)
                continue;
            for (idx_t j = q; j < s; j++)
                G[i * s + j] -= f * G[q * s + j];
            z[i] -= f * z[q];
        }
    }
    for (idx_t q = s - 1; q >= 0; q--) {
        double v = z[q];
        for (idx_t j = q + 1; j < s; j++)
            v -= G[q * s + j] * z[j];
        z[q] = v / G[q * s + q];
    }
    return 1;
}

/* The tableau's mixed strategy, with polish re-solved on the final basis (see _vertex in
 * _lh_numpy.py). M[j][a] = M0[j * rs + a * cs], nrow x size; returns 0 on no memory. */
static int vertex(const Tab *tb, const double *M0, idx_t rs, idx_t cs, idx_t nrow, idx_t size,
                  idx_t struct_lo, idx_t slack_lo, double tol, int polish, double *out)
{
    idx_t s = 0, nt = 0, kk = tb->k;
    idx_t *idx = malloc(sizeof(idx_t) * (size + nrow + 1));
    if (!idx)
        return 0;
    idx_t *tight = idx + size;
    for (idx_t a = 0; a < size; a++)
        out[a] = 0.0;
    for (idx_t r = 0; r < kk; r++) {
        idx_t lab = tb->rows[r];
        if (lab >= struct_lo && lab < struct_lo + size) {
            idx[s++] = lab - struct_lo;
            out[lab - struct_lo] = tb->rhs[r];
        }
    }
    for (idx_t j = 0; j < nrow; j++)
        if (tb->loc[slack_lo + j] >= 0)
            tight[nt++] = j;
    if (polish && s > 1 && s == nt) {
        double *G = malloc(sizeof(double) * (s * s + s));
        if (!G) {
            free(idx);
            return 0;
        }
        double *z = G + s * s;
        for (idx_t q = 0; q < s; q++)
            for (idx_t v = 0; v < s; v++)
                G[q * s + v] = M0[tight[q] * rs + idx[v] * cs];
        if (solve_ones(G, z, s)) {
            int ok = 1;
            for (idx_t v = 0; v < s; v++)
                ok &= isfinite(z[v]) && z[v] > -tol;
            if (ok)
                for (idx_t v = 0; v < s; v++)
                    out[idx[v]] = z[v];
        }
        free(G);
    }
    double sum = 0.0;
    for (idx_t a = 0; a < size; a++)
        sum += out[a] = out[a] > 0.0 ? out[a] : 0.0;
    for (idx_t a = 0; a < size; a++)
        out[a] /= sum;
    free(idx);
    return 1;
}

/* Tableau 0: P's (rows: labels m..m+n-1, T = B', i.e. B row-major); tableau 1: Q's
 * (rows: labels 0..m-1, T = A column-major). */
static int path_init(Path *p, idx_t label, idx_t m, idx_t n, const double *Bs, const double *AsT)
{
    idx_t L = m + n;
    size_t bytes = sizeof(double) * 2 * (m * n) + sizeof(double) * L
                   + sizeof(idx_t) * (2 * L + 2 * L + L);
    char *mem = malloc(bytes);
    if (!mem)
        return 0;
    p->mem = mem;
    p->label = p->enter = label;
    p->t = label < m ? 0 : 1;
    double *d = (double *)mem;
    idx_t *ix = (idx_t *)(d + 2 * m * n + L);
    for (int t = 0; t < 2; t++) {
        Tab *tb = &p->tab[t];
        tb->k = t ? m : n;
        tb->N = t ? n : m;
        tb->T = d + t * m * n;
        tb->rhs = d + 2 * m * n + (t ? n : 0);
        tb->rows = ix + (t ? n : 0);
        tb->loc = ix + L + t * L;
        tb->slack = ix + 3 * L + (t ? n : 0);
        tb->degen = 0;
        memcpy(tb->T, t ? AsT : Bs, sizeof(double) * m * n);
        idx_t row_lo = t ? 0 : m, col_lo = t ? m : 0;
        for (idx_t i = 0; i < tb->k; i++) {
            tb->rhs[i] = 1.0;
            tb->rows[i] = tb->slack[i] = row_lo + i;
            tb->loc[row_lo + i] = -1 - i;
        }
        for (idx_t j = 0; j < tb->N; j++)
            tb->loc[col_lo + j] = j;
    }
    p->h = 0;
    for (int t = 0; t < 2; t++)
        for (idx_t i = 0; i < p->tab[t].k; i++)
            p->h ^= zob(t * L + p->tab[t].rows[i]);
    p->saved = p->h ^ zob((2 + p->t) * L + p->enter);
    p->power = 1;
    p->lam = 0;
    p->dead = 0;
    return 1;
}

/* Entries affinely rescaled into [1, 2] exactly as _scaled in _lh_numpy.py; 0 when
 * some entry is not finite. */
static int scaled(const double *src, double *dst, idx_t len)
{
    double lo = INFINITY, hi = -INFINITY, zero = 0.0;
    for (idx_t i = 0; i < len; i++) {
        if (src[i] < lo)
            lo = src[i];
        if (src[i] > hi)
            hi = src[i];
        zero += src[i] * 0.0;   /* stays 0 unless an entry is inf or nan */
    }
    if (zero != 0.0 || !isfinite(lo) || !isfinite(hi))
        return 0;
    double f = hi > lo ? 1.0 / (hi - lo) : 0.0;
    for (idx_t i = 0; i < len; i++)
        dst[i] = hi > lo ? (src[i] - lo) * f + 1.0 : 1.0;
    return 1;
}

static PyObject *race(PyObject *self, PyObject *args)
{
    PyObject *pay_obj, *lab_obj, *x_obj, *y_obj;
    long long limit;
    double tol;
    if (!PyArg_ParseTuple(args, "OOLOOd", &pay_obj, &lab_obj, &limit, &x_obj, &y_obj, &tol))
        return NULL;
    if (!(tol > 0.0 && tol < 1.0)) {
        PyErr_SetString(PyExc_ValueError, "tol must be in (0, 1)");
        return NULL;
    }
    Py_buffer pb, xb, yb;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
    if (PyObject_GetBuffer(pay_obj, &pb, flags) < 0)
        return NULL;
    if (PyObject_GetBuffer(x_obj, &xb, flags | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&pb);
        return NULL;
    }
    if (PyObject_GetBuffer(y_obj, &yb, flags | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&pb);
        PyBuffer_Release(&xb);
        return NULL;
    }
    PyObject *result = NULL, *seq = NULL;
    Path *paths = NULL;
    idx_t *labels = NULL, *fail = NULL, npaths = 0;
    double *buf = NULL;
    Work w = {NULL, NULL, tol};
    idx_t m = pb.ndim == 3 ? pb.shape[1] : 0, n = pb.ndim == 3 ? pb.shape[2] : 0;
    const char *bad = NULL;
    if (pb.ndim != 3 || pb.shape[0] != 2 || m < 1 || n < 1 || pb.itemsize != 8)
        bad = "payoffs must be a C-contiguous float64 array [2, m, n]";
    else if (strcmp(pb.format, "d") || strcmp(xb.format, "d") || strcmp(yb.format, "d") ||
             xb.len != m * 8 || yb.len != n * 8)
        bad = "x and y must be float64 buffers of lengths m and n";
    if (bad) {
        PyErr_SetString(PyExc_ValueError, bad);
        goto done;
    }
    if (!(seq = PySequence_Fast(lab_obj, "labels must be a sequence")))
        goto done;
    idx_t nl = PySequence_Fast_GET_SIZE(seq);
    labels = malloc(sizeof(idx_t) * (nl + 1));
    paths = calloc(nl + 1, sizeof(Path));
    fail = malloc(sizeof(idx_t) * 2 * (nl + 1));
    buf = malloc(sizeof(double) * (3 * m * n + 2 * (m + n)));
    w.cand = malloc(sizeof(idx_t) * (m + n));
    if (!labels || !paths || !fail || !buf || !w.cand) {
        PyErr_NoMemory();
        goto done;
    }
    for (idx_t i = 0; i < nl; i++) {
        labels[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i));
        if (labels[i] == -1 && PyErr_Occurred())
            goto done;
        if (labels[i] < 0 || labels[i] >= m + n) {
            PyErr_SetString(PyExc_ValueError, "label out of range");
            goto done;
        }
    }
    double *As = buf, *Bs = buf + m * n, *AsT = buf + 2 * m * n;
    w.key = buf + 3 * m * n;
    const double *P = pb.buf;
    if (!scaled(P, As, m * n) || !scaled(P + m * n, Bs, m * n)) {
        result = Py_BuildValue("(innn())", BAD_INPUT, (idx_t)-1, (idx_t)0, (idx_t)0);
        goto done;
    }
    for (idx_t i = 0; i < m; i++)
        for (idx_t j = 0; j < n; j++)
            AsT[i + j * m] = As[i * n + j];

    int status = FAILED, nomem = 0, interrupted = 0, finished = 0;
    long long total = 0, start_next = 0;
    idx_t found = -1, nalive = 0, nfail = 0;
    PyThreadState *ts = PyEval_SaveThread();
    while (!finished) {
        if (npaths < nl && (total >= start_next || nalive == 0)) {
            if (!path_init(&paths[npaths], labels[npaths], m, n, Bs, AsT)) {
                nomem = 1;
                break;
            }
            npaths++;
            nalive++;
            start_next = total * 2 > 64 ? total * 2 : 64;
        } else if (nalive == 0) {
            break;          /* status FAILED: every path failed */
        }
        for (idx_t q = 0; q < npaths && !finished; q++) {
            Path *p = &paths[q];
            if (p->dead)
                continue;
            total++;
            int code = step(p, &w);
            if (code == DONE) {     /* the re-solved vertex, else the pivoted values */
                for (int polish = 1; polish >= 0 && !finished; polish--) {
                    if (!(vertex(&p->tab[0], Bs, 1, n, n, m, 0, m, tol, polish, xb.buf) &&
                          vertex(&p->tab[1], As, n, 1, m, n, m, 0, tol, polish, yb.buf))) {
                        nomem = finished = 1;
                    } else if (verified(As, Bs, xb.buf, yb.buf, m, n, w.key)) {
                        status = FOUND;
                        found = p->label;
                        finished = 1;
                    }
                }
                if (finished)
                    break;
                code = UNVERIFIED;
            }
            if (code != GO) {   /* drop the path; its failure is reported if all fail */
                p->dead = 1;
                nalive--;
                fail[2 * nfail] = p->label;
                fail[2 * nfail++ + 1] = code;
                free(p->mem);
                p->mem = NULL;
            }
            if (total >= limit) {
                status = LIMIT;
                finished = 1;
            } else if ((total & 0xffff) == 0) {   /* let Ctrl-C through on long paths */
                PyEval_RestoreThread(ts);
                interrupted = PyErr_CheckSignals() < 0;
                ts = PyEval_SaveThread();
                finished |= interrupted;
            }
        }
    }
    PyEval_RestoreThread(ts);
    if (nomem) {
        PyErr_NoMemory();
    } else if (!interrupted) {
        PyObject *failures = PyTuple_New(nfail);
        for (idx_t i = 0; failures && i < nfail; i++) {
            PyObject *pair = Py_BuildValue("(nn)", fail[2 * i], fail[2 * i + 1]);
            if (!pair) {
                Py_CLEAR(failures);
                break;
            }
            PyTuple_SET_ITEM(failures, i, pair);
        }
        if (failures)
            result = Py_BuildValue("(inLnN)", status, found, total, npaths, failures);
    }
done:
    for (idx_t q = 0; q < npaths; q++)
        free(paths[q].mem);
    free(paths);
    free(fail);
    free(labels);
    free(buf);
    free(w.cand);
    Py_XDECREF(seq);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&yb);
    return result;
}

static PyMethodDef methods[] = {
    {"race", race, METH_VARARGS,
     "race(payoffs, labels, limit, x, y, tol) -> (status, label, pivots, paths_started,\n"
     "failures)\n\n"
     "Race Lemke-Howson paths from labels (a new one joins whenever the pivot count\n"
     "doubles, or when no path is left) on the float64 C-contiguous payoffs [2, m, n],\n"
     "with tol the tolerance for pivot entries, ties and zero values (in (0, 1));\n"
     "the first verified equilibrium is written into x (m) and y (n). status: 0 found\n"
     "(label = the label that finished), 1 pivot limit reached, 2 every path failed,\n"
     "3 payoffs not finite. failures: (label, code) of the dropped paths, code 2\n"
     "cycling, 3 no pivot row, 4 end not an equilibrium."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lh_pivot",
                                    "Lemke-Howson pivoting in C (see lemke_howson.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__lh_pivot(void)
{
    PyObject *mod = PyModule_Create(&module);
    PyObject *tols = Py_BuildValue("{sdsd}", "piv_rel", PIV_REL, "verify", VERIFY);
    if (!mod || !tols || PyModule_AddObject(mod, "TOLERANCES", tols) < 0) {
        Py_XDECREF(tols);
        Py_XDECREF(mod);
        return NULL;
    }
    return mod;
}
