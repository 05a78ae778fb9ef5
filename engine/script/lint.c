/* lint.c: static checks of policies against the sandbox (acs_script_lint.h).
 *
 * The text is compiled as a chunk of its own (as load.c's syntax check
 * does), dumped by lua_dump with its debug information, and the dump read
 * back here: Lua 5.4's format (ldump.c) is a header, then each function's
 * source, lines, code, constants, upvalues, nested functions and debug
 * information, sizes as big-endian base-128 numbers whose last byte has
 * its high bit set. The header's version, format and sizes are checked, so
 * a Lua whose dump differs is refused (ACS_ENOMEM is never it: the test of
 * this file fails instead).
 *
 * In each function, the upvalue named _ENV is the global table; an access
 * of a global is GETTABUP (read) or SETTABUP (write) on it with a constant
 * string key, or, when the key's constant index does not fit the short
 * form (beyond 255 constants), GETUPVAL of _ENV followed by GETFIELD /
 * GETTABLE (LOADK of the key) or their SET forms. The names a run has are
 * looked up in the VM's tables (the API, the generation's library and lazy
 * globals, and _G, which every run's environment holds), never in a list
 * kept here. All of it runs in protected mode on the VM's main thread. */
#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "script/acs_script_lint.h"
#include "script/script_internal.h"

/* lopcodes.h of Lua 5.4 (not installed with the library) */
enum {
  OP_GETUPVAL = 9,
  OP_GETTABUP = 11,
  OP_GETTABLE = 12,
  OP_GETFIELD = 14,
  OP_SETTABUP = 15,
  OP_SETTABLE = 16,
  OP_SETFIELD = 18,
  OP_SELF = 20,
  OP_LOADK = 3,
};
#define I_OP(i) ((unsigned)(i)&0x7fu)
#define I_A(i) (((unsigned)(i) >> 7) & 0xffu)
#define I_K(i) (((unsigned)(i) >> 15) & 1u)
#define I_B(i) (((unsigned)(i) >> 16) & 0xffu)
#define I_C(i) (((unsigned)(i) >> 24) & 0xffu)
#define I_BX(i) ((unsigned)(i) >> 15)

/* constant tags (lobject.h: makevariant) */
enum {
  K_NIL = 0x00,
  K_FALSE = 0x01,
  K_TRUE = 0x11,
  K_INT = 0x03,
  K_FLT = 0x13,
  K_SSTR = 0x04,
  K_LSTR = 0x14
};
#define ABSLINEINFO (-0x80)
#define MAX_DEPTH 200

typedef struct rd {
  const unsigned char *p, *e;
  bool bad;
} rd;

typedef struct kst {
  const char *s; /* NULL: not a string */
  size_t n;
} kst;

typedef struct dumpbuf {
  char *p;
  size_t n, cap;
} dumpbuf;

/* Findings are kept, then given in line order (the dump has nested
 * functions before the code around them). */
typedef struct finding {
  int line;
  size_t seq;
  char msg[256];
} finding;

typedef struct lint {
  acs_script_vm *vm;
  lua_State *L;
  int api, lib, lazy; /* stack indexes of the tables names are looked up in */
  acs_script_lint_fn fn;
  void *ud;
  finding *found;
  size_t nfound, capfound;
  dumpbuf dump;
  bool bad; /* the dump is not understood */
  bool oom;
} lint;

static size_t rd_size(rd *r) {
  size_t x = 0;
  for (;;) {
    if (r->p >= r->e || x > (SIZE_MAX >> 7)) {
      r->bad = true;
      return 0;
    }
    unsigned b = *r->p++;
    x = (x << 7) | (b & 0x7fu);
    if (b & 0x80u) return x;
  }
}

static const unsigned char *rd_bytes(rd *r, size_t n) {
  if (r->bad || (size_t)(r->e - r->p) < n) {
    r->bad = true;
    return NULL;
  }
  const unsigned char *p = r->p;
  r->p += n;
  return p;
}

static kst rd_string(rd *r) {
  kst k = {NULL, 0};
  size_t n = rd_size(r);
  if (n == 0 || r->bad) return k;
  const unsigned char *p = rd_bytes(r, n - 1);
  if (p) {
    k.s = (const char *)p;
    k.n = n - 1;
  }
  return k;
}

static uint32_t code_at(const unsigned char *code, size_t pc) {
  uint32_t i;
  memcpy(&i, code + 4 * pc, 4);
  return i;
}

static void report(lint *t, int line, const char *fmt, const char *a, size_t an, const char *b,
                   size_t bn) {
  if (t->nfound == t->capfound) {
    size_t cap = t->capfound ? 2 * t->capfound : 16;
    finding *q = realloc(t->found, cap * sizeof *q);
    if (!q) {
      t->oom = true;
      return;
    }
    t->found = q;
    t->capfound = cap;
  }
  finding *f = &t->found[t->nfound];
  f->line = line;
  f->seq = t->nfound++;
  snprintf(f->msg, sizeof f->msg, fmt, (int)(an > 80 ? 80 : an), a, (int)(bn > 80 ? 80 : bn),
           b ? b : "");
}

static int finding_cmp(const void *a, const void *b) {
  const finding *x = a, *y = b;
  if (x->line != y->line) return x->line < y->line ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Pushes what a run would find under the global name (nil: nothing). */
static void global_push(lint *t, const kst *name) {
  lua_State *L = t->L;
  if (name->n == 2 && !memcmp(name->s, "_G", 2)) {
    lua_pushboolean(L, 1);
    return;
  }
  int tabs[3] = {t->lib, t->lazy, t->api};
  for (int i = 0; i < 3; i++) {
    lua_pushlstring(L, name->s, name->n);
    if (lua_rawget(L, tabs[i]) != LUA_TNIL) {
      if (i == 1) { /* lazy: the value is made per run, its fields unknown */
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
      }
      return;
    }
    lua_pop(L, 1);
  }
  lua_pushnil(L);
}

/* For a global's value on top: pushes the table whose fields a run reads
 * (a read-only proxy's real table, a plain table) or nil: not checkable. */
static void fields_push(lint *t) {
  lua_State *L = t->L;
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pushnil(L);
    return;
  }
  if (!lua_getmetatable(L, -1)) {
    lua_pushvalue(L, -1);
    return;
  }
  /* a proxy: its metatable's __index is the real table */
  lua_pushliteral(L, "__index");
  int ty = lua_rawget(L, -2);
  lua_remove(L, -2);
  if (ty != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

/* A field access right after the global read of gname: next is the
 * instruction that uses the global's register (reg). */
static void check_field(lint *t, const kst *k, size_t nk, uint32_t next, unsigned reg,
                        const kst *gname, int line) {
  unsigned op = I_OP(next);
  const kst *f = NULL;
  bool write = false;
  if (op == OP_GETFIELD && I_B(next) == reg && I_C(next) < nk) {
    f = &k[I_C(next)];
  } else if (op == OP_SELF && I_B(next) == reg && I_K(next) && I_C(next) < nk) {
    f = &k[I_C(next)];
  } else if (op == OP_SETFIELD && I_A(next) == reg && I_B(next) < nk) {
    f = &k[I_B(next)];
    write = true;
  }
  if (!f || !f->s) return;
  lua_State *L = t->L;
  global_push(t, gname);
  fields_push(t);
  if (lua_istable(L, -1)) {
    if (write) {
      report(t, line, "setting field '%.*s' of read-only global '%.*s'", f->s, f->n, gname->s,
             gname->n);
    } else {
      lua_pushlstring(L, f->s, f->n);
      if (lua_rawget(L, -2) == LUA_TNIL)
        report(t, line, "unknown field '%.*s' of global '%.*s'", f->s, f->n, gname->s, gname->n);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 2);
}

static void check_read(lint *t, const kst *name, int line) {
  global_push(t, name);
  if (lua_isnil(t->L, -1)) report(t, line, "unknown global '%.*s'%.*s", name->s, name->n, "", 0);
  lua_pop(t->L, 1);
}

static void check_write(lint *t, const kst *name, int line) {
  global_push(t, name);
  if (lua_isnil(t->L, -1))
    report(t, line, "setting unknown global '%.*s' (use a local)%.*s", name->s, name->n, "", 0);
  else
    report(t, line, "setting global '%.*s' shadows the API's%.*s", name->s, name->n, "", 0);
  lua_pop(t->L, 1);
}

typedef struct fninfo {
  int linedefined;
  const unsigned char *code;
  size_t ncode;
  kst *k;
  size_t nk;
  const signed char *lineinfo;
  size_t nlineinfo;
  int *abs; /* pc, line pairs */
  size_t nabs;
  int env; /* the _ENV upvalue's index, or -1 */
} fninfo;

static void scan(lint *t, const fninfo *f) {
  int line = f->linedefined;
  size_t ai = 0;
  for (size_t pc = 0; pc < f->ncode; pc++) {
    if (pc < f->nlineinfo) {
      if (f->lineinfo[pc] == ABSLINEINFO) {
        while (ai < f->nabs && (size_t)f->abs[2 * ai] < pc) ai++;
        if (ai < f->nabs && (size_t)f->abs[2 * ai] == pc) line = f->abs[2 * ai + 1];
      } else {
        line += f->lineinfo[pc];
      }
    }
    if (f->env < 0) continue;
    uint32_t i = code_at(f->code, pc);
    uint32_t next = pc + 1 < f->ncode ? code_at(f->code, pc + 1) : 0;
    unsigned op = I_OP(i);
    if (op == OP_GETTABUP && I_B(i) == (unsigned)f->env && I_C(i) < f->nk && f->k[I_C(i)].s) {
      check_read(t, &f->k[I_C(i)], line);
      if (pc + 1 < f->ncode) check_field(t, f->k, f->nk, next, I_A(i), &f->k[I_C(i)], line);
    } else if (op == OP_SETTABUP && I_A(i) == (unsigned)f->env && I_B(i) < f->nk &&
               f->k[I_B(i)].s) {
      check_write(t, &f->k[I_B(i)], line);
    } else if (op == OP_GETUPVAL && I_B(i) == (unsigned)f->env && pc + 1 < f->ncode) {
      /* the long form: _ENV in a register, then the key */
      unsigned reg = I_A(i), nop = I_OP(next);
      const kst *name = NULL;
      bool write = false;
      if (nop == OP_GETFIELD && I_B(next) == reg && I_C(next) < f->nk) {
        name = &f->k[I_C(next)];
      } else if (nop == OP_SETFIELD && I_A(next) == reg && I_B(next) < f->nk) {
        name = &f->k[I_B(next)];
        write = true;
      } else if (nop == OP_LOADK && pc + 2 < f->ncode && I_BX(next) < f->nk) {
        uint32_t third = code_at(f->code, pc + 2);
        unsigned kreg = I_A(next);
        if (I_OP(third) == OP_GETTABLE && I_B(third) == reg && I_C(third) == kreg) {
          name = &f->k[I_BX(next)];
        } else {
          /* a write: the value is computed in registers above both, then
           * stored (the two stay reserved until then) */
          for (size_t q = pc + 2; q < f->ncode; q++) {
            uint32_t w = code_at(f->code, q);
            if (I_OP(w) == OP_SETTABLE && I_A(w) == reg && I_B(w) == kreg) {
              name = &f->k[I_BX(next)];
              write = true;
              break;
            }
          }
        }
      }
      if (name && name->s) {
        if (write)
          check_write(t, name, line);
        else
          check_read(t, name, line);
      }
    }
  }
}

/* Reads one function (and, first, the functions nested in it) and scans
 * its code. */
static void read_function(lint *t, rd *r, int depth) {
  fninfo f;
  memset(&f, 0, sizeof f);
  f.env = -1;
  kst *upnames = NULL;
  if (depth > MAX_DEPTH) {
    r->bad = true;
    return;
  }
  rd_string(r); /* source */
  f.linedefined = (int)rd_size(r);
  rd_size(r);     /* lastlinedefined */
  rd_bytes(r, 3); /* numparams, is_vararg, maxstacksize */
  f.ncode = rd_size(r);
  if (f.ncode > (size_t)(r->e - r->p) / 4) r->bad = true;
  f.code = rd_bytes(r, 4 * f.ncode);
  f.nk = rd_size(r);
  if (r->bad || f.nk > (size_t)(r->e - r->p)) goto out;
  f.k = calloc(f.nk ? f.nk : 1, sizeof *f.k);
  if (!f.k) goto oom;
  for (size_t i = 0; i < f.nk && !r->bad; i++) {
    const unsigned char *tt = rd_bytes(r, 1);
    if (!tt) break;
    switch (*tt) {
      case K_NIL:
      case K_FALSE:
      case K_TRUE:
        break;
      case K_INT:
      case K_FLT:
        rd_bytes(r, 8);
        break;
      case K_SSTR:
      case K_LSTR:
        f.k[i] = rd_string(r);
        break;
      default:
        r->bad = true;
    }
  }
  size_t nup = rd_size(r);
  rd_bytes(r, 3 * nup);
  size_t nprotos = rd_size(r);
  for (size_t i = 0; i < nprotos && !r->bad; i++) read_function(t, r, depth + 1);
  f.nlineinfo = rd_size(r);
  f.lineinfo = (const signed char *)rd_bytes(r, f.nlineinfo);
  f.nabs = rd_size(r);
  if (r->bad || f.nabs > (size_t)(r->e - r->p)) goto out;
  f.abs = calloc(2 * f.nabs + 1, sizeof *f.abs);
  if (!f.abs) goto oom;
  for (size_t i = 0; i < f.nabs && !r->bad; i++) {
    f.abs[2 * i] = (int)rd_size(r);
    f.abs[2 * i + 1] = (int)rd_size(r);
  }
  size_t nloc = rd_size(r);
  for (size_t i = 0; i < nloc && !r->bad; i++) {
    rd_string(r);
    rd_size(r);
    rd_size(r);
  }
  size_t nupn = rd_size(r);
  if (r->bad || nupn > (size_t)(r->e - r->p)) goto out;
  upnames = calloc(nupn ? nupn : 1, sizeof *upnames);
  if (!upnames) goto oom;
  for (size_t i = 0; i < nupn && !r->bad; i++) {
    upnames[i] = rd_string(r);
    if (upnames[i].s && upnames[i].n == 4 && !memcmp(upnames[i].s, "_ENV", 4) && f.env < 0)
      f.env = (int)i;
  }
  if (!r->bad) scan(t, &f);
  goto out;
oom:
  t->oom = true;
  r->bad = true;
out:
  free(f.k);
  free(f.abs);
  free(upnames);
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  dumpbuf *b = ud;
  if (b->n + sz > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + sz) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) return 1;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, sz);
  b->n += sz;
  return 0;
}

typedef struct lint_call {
  lint *t;
  const char *name, *text;
  size_t len;
  int status; /* 0, or ACS_EINVAL: the message is on the stack */
} lint_call;

static int lint_protected(lua_State *L) {
  lint_call *c = lua_touserdata(L, 1);
  lint *t = c->t;
  acs_script_vm *vm = t->vm;
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_api);
  t->api = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_gen);
  if (lua_rawgetp(L, -1, &acs__gen_lib) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  t->lib = lua_gettop(L);
  if (lua_rawgetp(L, -2, &acs__gen_lazy) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
  }
  t->lazy = lua_gettop(L);
  lua_pushfstring(L, "=%s", c->name);
  if (luaL_loadbufferx(L, c->text, c->len, lua_tostring(L, -1), "t") != LUA_OK) {
    c->status = ACS_EINVAL;
    return 1; /* the message */
  }
  /* the bytes go to C memory, which the caller frees whatever happens */
  dumpbuf *b = &t->dump;
  if (lua_dump(L, dump_writer, b, 0) || !b->p) {
    t->oom = true;
    return 0;
  }
  size_t n = b->n;
  const unsigned char *d = (const unsigned char *)b->p;
  static const unsigned char head[] = {0x1b, 'L',  'u',  'a',  0x54, 0, 0x19, 0x93,
                                       '\r', '\n', 0x1a, '\n', 4,    8, 8};
  rd r = {d, d + n, false};
  const unsigned char *h = rd_bytes(&r, sizeof head);
  lua_Integer tint = 0x5678;
  lua_Number tnum = 370.5;
  const unsigned char *hi = rd_bytes(&r, 8), *hn = rd_bytes(&r, 8);
  if (!h || memcmp(h, head, sizeof head) || !hi || memcmp(hi, &tint, 8) || !hn ||
      memcmp(hn, &tnum, 8) || !rd_bytes(&r, 1)) {
    t->bad = true;
    return 0;
  }
  read_function(t, &r, 0);
  if (r.bad) t->bad = true;
  return 0;
}

int acs_script_lint(acs_script_vm *vm, const char *name, const char *text, size_t len,
                    acs_script_lint_fn fn, void *ud, char *err, size_t errlen) {
  if (vm->cur || vm->nest) return ACS_ESTATE;
  if (len > 0 && text[0] == LUA_SIGNATURE[0]) {
    snprintf(err, errlen, "%s: binary chunks are not accepted", name);
    return ACS_EINVAL;
  }
  lint t = {.vm = vm, .L = vm->L, .fn = fn, .ud = ud};
  lint_call c = {&t, name, text, len, 0};
  lua_State *L = vm->L;
  int top = lua_gettop(L);
  lua_pushcfunction(L, lint_protected);
  lua_pushlightuserdata(L, &c);
  int st = lua_pcall(L, 1, 1, 0);
  int rc = 0;
  if (st != LUA_OK || t.oom) {
    rc = ACS_ENOMEM;
  } else if (c.status) {
    snprintf(err, errlen, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "does not compile");
    rc = c.status;
  } else if (t.bad) {
    snprintf(err, errlen, "%s: the compiled code is not in the format this check reads", name);
    rc = ACS_EINVAL;
  } else {
    if (t.nfound) qsort(t.found, t.nfound, sizeof *t.found, finding_cmp);
    for (size_t i = 0; i < t.nfound; i++) fn(ud, t.found[i].line, t.found[i].msg);
    rc = (int)t.nfound;
  }
  free(t.found);
  lua_settop(L, top);
  free(t.dump.p);
  return rc;
}
