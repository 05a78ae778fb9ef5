/* test_script_sandbox: the policy runtime's API (engine/script): loading and
 * generations, runs and channels, host functions, engine yields, the
 * frozen API (checked against the allow-list), the bounded libraries
 * (compared with Lua's own on the same inputs), os/math per run, budgets. */
#include <lualib.h>

#include "core/acs_err.h"
#include "script_test.h"

static acs_script_vm *g_vm;

/* --- host functions */
static int l_host_ctx(lua_State *L) {
  const char *s = acs_script_ctx(L);
  lua_pushstring(L, s ? s : "(none)");
  return 1;
}
static int l_host_ask(lua_State *L) { return acs_script_yield(L, lua_gettop(L), 0, NULL); }
static int k_host_askk(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lua_pushfstring(L, "%s+k%d", luaL_optstring(L, -1, "?"), (int)ctx);
  return 1;
}
static int l_host_askk(lua_State *L) { return acs_script_yield(L, lua_gettop(L), 7, k_host_askk); }
static int l_host_newrun(lua_State *L) {
  acs_script_run *r = acs_script_run_new(g_vm, NULL, NULL);
  lua_pushboolean(L, r != NULL);
  if (r) acs_script_run_free(r);
  return 1;
}
static int l_host_charge(lua_State *L) {
  acs_script_charge(L, (uint64_t)luaL_checkinteger(L, 1));
  return 0;
}

static void register_hosts(acs_script_vm *vm) {
  CHECK_INT(acs_script_vm_register(vm, NULL, "ctx", l_host_ctx), 0);
  CHECK_INT(acs_script_vm_register(vm, "host", "ask", l_host_ask), 0);
  CHECK_INT(acs_script_vm_register(vm, "host", "askk", l_host_askk), 0);
  CHECK_INT(acs_script_vm_register(vm, "host", "newrun", l_host_newrun), 0);
  CHECK_INT(acs_script_vm_register(vm, "host", "charge", l_host_charge), 0);
  CHECK_INT(acs_script_vm_register(vm, "host", "ask", l_host_ask), ACS_EINVAL); /* exists */
  CHECK_INT(acs_script_vm_register(vm, NULL, "string", l_host_ask), ACS_EINVAL);
  CHECK_INT(acs_script_vm_register(vm, "ctx", "x", l_host_ask), ACS_EINVAL); /* a function */
  CHECK_INT(acs_script_vm_register(vm, NULL, "bad-name", l_host_ask), ACS_EINVAL);
  CHECK_INT(acs_script_vm_register(vm, NULL, "", l_host_ask), ACS_EINVAL);
  CHECK_INT(acs_script_vm_register(vm, NULL, "f", NULL), ACS_EINVAL);
}

/* --- loading and generations */
static void test_load(acs_script_vm *vm) {
  char err[256];
  const char *bad = "local x = 1\nif x then\n  return (\nend\n";
  CHECK_INT(acs_script_vm_load(vm, "prov/bad", bad, strlen(bad), err, sizeof err), ACS_EINVAL);
  CHECK(strncmp(err, "prov/bad:4:", 11) == 0);
  CHECK(!acs_script_vm_has(vm, "prov/bad"));
  const char bin[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
  CHECK_INT(acs_script_vm_load(vm, "bin", bin, sizeof bin - 1, err, sizeof err), ACS_EINVAL);
  CHECK_STR(err, "bin: binary chunks are not accepted");
  const char *envc = "local a = 1\nlocal _ENV --[[ hidden ]] <const> = 45\nreturn x\n";
  CHECK_INT(acs_script_vm_load(vm, "envc", envc, strlen(envc), err, sizeof err), ACS_EINVAL);
  CHECK(strstr(err, "envc:2: _ENV cannot") == err);
  const char *envs = "local s = '_ENV <const>' -- _ENV <close>\nreturn s\n";
  CHECK_INT(acs_script_vm_load(vm, "envs", envs, strlen(envs), err, sizeof err), 0);
  CHECK_INT(acs_script_vm_load(vm, "", "return 1", 8, err, sizeof err), ACS_EINVAL);

  /* a generation is swapped as a whole, or not at all */
  acs_script_chunk set1[] = {{"a", "return 'a1'", 11, false}, {"b", "return 'b1'", 11, false}};
  CHECK_INT(acs_script_vm_load_set(vm, set1, 2, err, sizeof err), 0);
  uint64_t gen = acs_script_vm_generation(vm);
  CHECK(acs_script_vm_has(vm, "a") && acs_script_vm_has(vm, "b") && !acs_script_vm_has(vm, "envs"));
  acs_script_run *old = acs_script_run_new(vm, NULL, NULL);
  acs_script_chunk set2[] = {{"a", "return 'a2'", 11, false}, {"c", "return (", 8, false}};
  CHECK_INT(acs_script_vm_load_set(vm, set2, 2, err, sizeof err), ACS_EINVAL);
  CHECK(strncmp(err, "c:1:", 4) == 0);
  CHECK_INT(acs_script_vm_generation(vm), gen);
  CHECK(acs_script_vm_has(vm, "b") && !acs_script_vm_has(vm, "c"));
  acs_script_chunk dup[] = {{"x", "return 1", 8, false}, {"x", "return 2", 8, false}};
  CHECK_INT(acs_script_vm_load_set(vm, dup, 2, err, sizeof err), ACS_EINVAL);
  CHECK_STR(err, "x: policy defined twice");
  CHECK_INT(acs_script_vm_load_set(vm, set2, 1, err, sizeof err), 0);
  CHECK_INT(acs_script_vm_generation(vm), gen + 1);
  CHECK(!acs_script_vm_has(vm, "b"));
  CHECK_INT(acs_script_vm_load(vm, "b", "return 'b3'", 11, err, sizeof err), 0);
  CHECK(acs_script_vm_has(vm, "a") && acs_script_vm_has(vm, "b"));

  /* the old run still sees its generation */
  acs_script_chan *ch;
  CHECK_INT(acs_script_run_call(old, "a", NULL, &ch), ACS_SCRIPT_DONE);
  st_result r;
  st_fill(&r, ch, ACS_SCRIPT_DONE);
  CHECK_STR(r.value, "a1");
  acs_script_run_free(old);
  acs_script_run *cur = acs_script_run_new(vm, NULL, NULL);
  CHECK_INT(acs_script_run_call(cur, "a", NULL, &ch), ACS_SCRIPT_DONE);
  st_fill(&r, ch, ACS_SCRIPT_DONE);
  CHECK_STR(r.value, "a2");
  CHECK_INT(acs_script_run_call(cur, "nope", NULL, &ch), ACS_ENOTFOUND);
  CHECK(ch == NULL);
  acs_script_run_free(cur);

  /* line numbers survive the wrapper, runtime errors name the policy */
  CHECK_FAULT(vm, "local x = 1\n\nlocal y = nil + x\n", "script.error",
              "t:3: attempt to perform arithmetic on a nil value");
}

static void args_cb(lua_State *L, void *ud) {
  lua_pushinteger(L, *(int *)ud);
  lua_setfield(L, -2, "n");
  lua_pushnil(L); /* left over: the runtime settles the stack */
}

static void test_run_basic(acs_script_vm *vm) {
  CHECK_INT(st_load(vm, "greet", "local args = ...\nreturn args.who .. '!', select('#', ...)"), 0);
  CHECK_INT(st_load(vm, "num", "local a = ... return a.n * 2, ctx()"), 0);
  acs_script_run *run = acs_script_run_new(vm, NULL, "session-ctx");
  const char *kv[] = {"who", "cpe", "skip", NULL, NULL};
  acs_script_chan *ch;
  CHECK_INT(acs_script_run_call(run, "greet", kv, &ch), ACS_SCRIPT_DONE);
  int n;
  lua_State *T = acs_script_chan_values(ch, &n);
  CHECK_INT(n, 2);
  CHECK_STR(lua_tostring(T, -2), "cpe!");
  CHECK_INT(lua_tointeger(T, -1), 1);
  CHECK_INT(acs_script_chan_state(ch), ACS_SCRIPT_DONE);
  CHECK(acs_script_chan_fault_code(ch) == NULL);
  CHECK_STR(acs_script_chan_fault_message(ch), "");
  CHECK_STR(acs_script_chan_policy(ch), "greet");
  CHECK(acs_script_chan_run(ch) == run);
  CHECK_INT(acs_script_chan_resume(ch, 0), ACS_ESTATE); /* DONE */
  CHECK_STR(acs_script_run_ctx(run), "session-ctx");

  int v = 21;
  CHECK_INT(acs_script_run_call_fn(run, "num", args_cb, &v, &ch), ACS_SCRIPT_DONE);
  T = acs_script_chan_values(ch, &n);
  CHECK_INT(n, 2);
  CHECK_INT(lua_tointeger(T, -2), 42);
  CHECK_STR(lua_tostring(T, -1), "session-ctx");
  acs_script_run_free(run);

  CHECK_EVAL(vm, "return ctx()", "(none)");
  CHECK_FAULT(vm, "return nosuch", "script.error", "t:1: unknown global 'nosuch'");
  CHECK_FAULT(vm, "return _ENV[1]", "script.error", "unknown global (a number key)");
  CHECK_FAULT(vm, "error('plain', 0)", "script.error", "plain");
  CHECK_FAULT(vm, "error(42)", "script.error", "42");
  CHECK_FAULT(vm, "error(2.5)", "script.error", "2.5");
  CHECK_FAULT(vm, "error()", "script.error", "(error object is a nil value)");
  CHECK_FAULT(vm, "error({})", "script.error", "(error object is a table value)");
  CHECK_EVAL(vm, "x = 1 _G.y = 2 return x + y + _ENV.x", "4");
  CHECK_EVAL(vm, "return _G == _ENV", "true");
  CHECK_EVAL(vm, "local string = 5 return string", "5");
  CHECK_EVAL(vm, "string = nil return ('x'):upper() .. tostring(string ~= nil)", "Xtrue");
}

/* A channel that completed leaves its coroutine to a later channel (of any
 * run), reset: the later one starts on an empty stack, with its own
 * arguments and environment; a faulted channel's coroutine is not reused. */
static const char *first_value(acs_script_chan *ch);

static void test_reuse(acs_script_vm *vm) {
  CHECK_INT(st_load(vm, "co_id",
                    "local t = coroutine.running() leftover = tostring(t)\n"
                    "return tostring(t), select('#', ...), (...).n"),
            0);
  CHECK_INT(st_load(vm, "co_seen", "return rawget(_G, 'leftover')"), 0);
  CHECK_INT(st_load(vm, "co_boom", "local t = tostring(coroutine.running()) error(t, 0)"), 0);
  char first[64] = "", boom[64] = "";
  for (int i = 0; i < 3; i++) {
    acs_script_run *run = acs_script_run_new(vm, NULL, NULL);
    int v = i;
    acs_script_chan *ch = NULL;
    CHECK_INT(acs_script_run_call_fn(run, "co_id", args_cb, &v, &ch), ACS_SCRIPT_DONE);
    int n;
    lua_State *T = acs_script_chan_values(ch, &n);
    CHECK_INT(n, 3);
    if (i == 0) snprintf(first, sizeof first, "%s", lua_tostring(T, -3));
    CHECK_STR(lua_tostring(T, -3), first); /* the same coroutine, run after run */
    CHECK_INT(lua_tointeger(T, -2), 1);    /* its arguments only */
    CHECK_INT(lua_tointeger(T, -1), i);
    /* a second channel of the run: another coroutine, the run's globals */
    CHECK_INT(acs_script_run_call(run, "co_seen", NULL, &ch), ACS_SCRIPT_DONE);
    CHECK_STR(first_value(ch), first);
    if (i == 1) {
      CHECK_INT(acs_script_run_call(run, "co_boom", NULL, &ch), ACS_SCRIPT_FAULT);
      snprintf(boom, sizeof boom, "%s", acs_script_chan_fault_message(ch));
    }
    acs_script_run_free(run);
    /* a new run sees nothing of the last one's globals */
    run = acs_script_run_new(vm, NULL, NULL);
    CHECK_INT(acs_script_run_call(run, "co_seen", NULL, &ch), ACS_SCRIPT_DONE);
    int nv;
    T = acs_script_chan_values(ch, &nv);
    CHECK(nv == 1 && lua_isnil(T, -1));
    acs_script_run_free(run);
  }
  CHECK(boom[0] && strcmp(boom, first) != 0);
}

/* --- globals stay in their run; channels of a run share them */
static void test_isolation(acs_script_vm *vm) {
  CHECK_INT(st_load(vm, "setx", "x = (...).v local got = host.ask('wait') return x .. got"), 0);
  CHECK_INT(st_load(vm, "getx", "return x"), 0);
  CHECK_INT(st_load(vm, "getx_g", "return rawget(_G, 'x')"), 0);
  CHECK_INT(st_load(vm, "boom", "x = 'clobbered' error('boom')"), 0);
  acs_script_run *a = acs_script_run_new(vm, NULL, NULL), *b = acs_script_run_new(vm, NULL, NULL);
  const char *kv[] = {"v", "A", NULL};
  acs_script_chan *ca, *cb, *ca2;
  CHECK_INT(acs_script_run_call(a, "setx", kv, &ca), ACS_SCRIPT_YIELD);
  int n;
  lua_State *T = acs_script_chan_values(ca, &n);
  CHECK_INT(n, 1);
  CHECK_STR(lua_tostring(T, -1), "wait");
  CHECK_INT(acs_script_run_call(b, "getx", NULL, &cb), ACS_SCRIPT_FAULT);
  CHECK(strstr(acs_script_chan_fault_message(cb), "unknown global 'x'") != NULL);
  CHECK_INT(acs_script_run_call(b, "getx_g", NULL, &cb), ACS_SCRIPT_DONE);
  T = acs_script_chan_values(cb, &n);
  CHECK(lua_isnil(T, -1));
  /* a second channel of run a sees a's globals */
  CHECK_INT(acs_script_run_call(a, "getx", NULL, &ca2), ACS_SCRIPT_DONE);
  T = acs_script_chan_values(ca2, &n);
  CHECK_STR(lua_tostring(T, -1), "A");
  /* a fault in another channel of run a leaves ca resumable */
  acs_script_chan *cf;
  CHECK_INT(acs_script_run_call(a, "boom", NULL, &cf), ACS_SCRIPT_FAULT);
  CHECK(acs_script_chan_values(cf, NULL) == NULL);
  T = acs_script_chan_values(ca, &n);
  lua_pushstring(T, "!");
  CHECK_INT(acs_script_chan_resume(ca, 2), ACS_EINVAL);
  CHECK_INT(acs_script_chan_resume(ca, 1), ACS_SCRIPT_DONE);
  T = acs_script_chan_values(ca, &n);
  CHECK_INT(n, 1);
  CHECK_STR(lua_tostring(T, -1), "clobbered!");
  acs_script_run_free(a);
  acs_script_run_free(b);
  acs_script_run *c = acs_script_run_new(vm, NULL, NULL);
  CHECK_INT(acs_script_run_call(c, "getx", NULL, &cb), ACS_SCRIPT_FAULT);
  acs_script_run_free(c);
}

/* --- host functions that yield to the engine */
static int resume_with(acs_script_chan *ch, const char *s) {
  int n;
  lua_State *T = acs_script_chan_values(ch, &n);
  lua_pushstring(T, s);
  return acs_script_chan_resume(ch, 1);
}

static const char *first_value(acs_script_chan *ch) {
  int n;
  lua_State *T = acs_script_chan_values(ch, &n);
  return T && n > 0 && lua_type(T, -n) == LUA_TSTRING ? lua_tostring(T, -n) : "(none)";
}

static void test_yield(acs_script_vm *vm) {
  static const struct {
    const char *src, *yielded, *answer, *want;
    int yields;
  } cases[] = {
      {"return host.ask('q1') .. '!'", "q1", "A", "A!", 1},
      {"return host.askk('q2')", "q2", "B", "B+k7", 1},
      {"local ok, v = pcall(host.ask, 'q3') return tostring(ok) .. v", "q3", "C", "trueC", 1},
      {"local ok, v = xpcall(function() return host.ask('q4') end, function(e) return e end) "
       "return v",
       "q4", "D", "D", 1},
      {"local f = coroutine.wrap(function() return host.ask('in-co') .. '<' end) return f()",
       "in-co", "E", "E<", 1},
      {"local co = coroutine.create(function(a) local x = host.ask(a) coroutine.yield(x .. 'y') "
       "return 'end' end) local _, r1 = coroutine.resume(co, 'deep') local _, r2 = "
       "coroutine.resume(co) return r1 .. r2 .. coroutine.status(co)",
       "deep", "F", "Fyenddead", 1},
      {"local f = coroutine.wrap(function() return coroutine.wrap(function() return "
       "host.ask('two') end)() end) return f() .. ctx()",
       "two", "G", "Gctx", 1},
      {"local a = host.ask('one') local b = host.ask('two') return a .. b", "one", "H", "HH", 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK_INT(st_load(vm, "y", cases[i].src), 0);
    acs_script_run *run = acs_script_run_new(vm, NULL, "ctx");
    acs_script_chan *ch;
    int st = acs_script_run_call(run, "y", NULL, &ch);
    for (int k = 0; k < cases[i].yields; k++) {
      CHECK_INT(st, ACS_SCRIPT_YIELD);
      if (st != ACS_SCRIPT_YIELD) {
        fprintf(stderr, "  case %zu: %s\n", i, acs_script_chan_fault_message(ch));
        break;
      }
      if (k == 0) CHECK_STR(first_value(ch), cases[i].yielded);
      st = resume_with(ch, cases[i].answer);
    }
    CHECK_INT(st, ACS_SCRIPT_DONE);
    if (st == ACS_SCRIPT_DONE)
      CHECK_STR(first_value(ch), cases[i].want);
    else
      fprintf(stderr, "  case %zu: %s\n", i, acs_script_chan_fault_message(ch));
    acs_script_run_free(run);
  }
  /* a yield where C is in the way is an error */
  CHECK_FAULT(vm,
              "local t = {3, 1, 2} table.sort(t, function(a, b) host.ask('x') return a < b end)",
              "script.error", "attempt to yield across a C-call boundary");
  CHECK_FAULT(vm, "return (('ab'):gsub('.', function(c) return host.ask(c) end))", "script.error",
              "attempt to yield across a C-call boundary");
  CHECK_FAULT(vm,
              "return tostring(setmetatable({}, {__tostring = function() return "
              "host.ask('m') end}))",
              "script.error", "attempt to yield across a C-call boundary");
  /* a coroutine whose engine yield could not pass is never resumable */
  CHECK_EVAL(vm,
             "local co = coroutine.create(function() return host.ask('z') end) "
             "local ok, e = pcall(table.sort, {2, 1}, function() return coroutine.resume(co) end) "
             "local ok2, e2 = pcall(coroutine.resume, co) return e2",
             "the coroutine is waiting for the engine");
  /* another channel cannot resume a coroutine that waits for the engine */
  CHECK_INT(st_load(vm, "park",
                    "co = coroutine.create(function() return host.ask('p') end) "
                    "return coroutine.resume(co)"),
            0);
  CHECK_INT(st_load(vm, "steal", "return select(2, pcall(coroutine.resume, co))"), 0);
  acs_script_run *run = acs_script_run_new(vm, NULL, NULL);
  acs_script_chan *c1, *c2;
  CHECK_INT(acs_script_run_call(run, "park", NULL, &c1), ACS_SCRIPT_YIELD);
  CHECK_INT(acs_script_run_call(run, "steal", NULL, &c2), ACS_SCRIPT_DONE);
  CHECK(strstr(first_value(c2), "waiting for the engine") != NULL);
  CHECK_INT(resume_with(c1, "ans"), ACS_SCRIPT_DONE);
  int n;
  lua_State *T = acs_script_chan_values(c1, &n);
  CHECK_INT(n, 2);
  CHECK(lua_toboolean(T, -2));
  CHECK_STR(lua_tostring(T, -1), "ans");
  acs_script_run_free(run);
  /* runs cannot be created from inside a resume */
  CHECK_EVAL(vm, "return host.newrun()", "false");
  CHECK_EVAL(vm, "return coroutine.wrap(function() return host.newrun() end)()", "false");
}

/* --- the frozen API against the allow-list */
static void test_allowlist(acs_script_vm *vm) {
  const char *enumerate =
      "local out = {}\n"
      "for _, ns in ipairs({'string', 'table', 'math', 'utf8', 'coroutine', 'os', 'host'}) do\n"
      "  local names = {}\n"
      "  for k in pairs(_ENV[ns]) do names[#names + 1] = k end\n"
      "  table.sort(names)\n"
      "  out[#out + 1] = ns .. ': ' .. table.concat(names, ' ')\n"
      "end\n"
      "return table.concat(out, '\\n')";
  CHECK_EVAL(vm, enumerate,
             "string: byte char find format gmatch gsub len lower match rep reverse sub upper\n"
             "table: concat insert move pack remove sort unpack\n"
             "math: abs acos asin atan ceil cos deg exp floor fmod huge log max maxinteger min "
             "mininteger modf pi rad random randomseed sin sqrt tan tointeger type ult\n"
             "utf8: char charpattern codepoint codes len offset\n"
             "coroutine: close create isyieldable resume running status wrap yield\n"
             "os: clock date difftime time\n"
             "host: ask askk charge newrun");
  const char *globals =
      "local out = {}\n"
      "for _, g in ipairs({'assert', 'collectgarbage', 'coroutine', 'error', 'getmetatable',\n"
      "  'ipairs', 'math', 'next', 'os', 'pairs', 'pcall', 'rawequal', 'rawget', 'rawlen',\n"
      "  'rawset', 'select', 'setmetatable', 'string', 'table', 'tonumber', 'tostring', 'type',\n"
      "  'utf8', 'xpcall', '_G', '_VERSION', 'ctx', 'host'}) do\n"
      "  out[#out + 1] = type(_ENV[g]):sub(1, 1)\n"
      "end\n"
      "return table.concat(out)";
  CHECK_EVAL(vm, globals, "fftffftftffffffffttffftftsft");
  static const char *const forbidden[] = {
      "io",         "debug", "package", "require", "dofile", "loadfile", "load",
      "loadstring", "print", "setfenv", "getfenv", "module", "newproxy", "gcinfo",
      "unpack",     "bit32", "jit",     "ffi",     "utf8x",  NULL,
  };
  for (const char *const *f = forbidden; *f; f++) {
    char src[64], want[64];
    snprintf(src, sizeof src, "return %s", *f);
    snprintf(want, sizeof want, "unknown global '%s'", *f);
    CHECK_FAULT(vm, src, "script.error", want);
  }
  CHECK_EVAL(vm,
             "return tostring(os.execute) .. tostring(os.exit) .. tostring(os.getenv) .. "
             "tostring(os.remove) .. tostring(os.rename) .. tostring(os.tmpname) .. "
             "tostring(os.setlocale) .. tostring(string.dump) .. tostring(string.pack) .. "
             "tostring(math.randomseed == nil)",
             "nilnilnilnilnilnilnilnilnilfalse");
  CHECK_EVAL(vm, "return _VERSION", "Lua 5.4");
}

/* --- the bounded libraries give what Lua's give (same inputs, same chunk
 * name, so even error messages must be equal) */
static const char *diff_src =
    "local function ser(...)\n"
    "  local out = {}\n"
    "  for i = 1, select('#', ...) do local v = select(i, ...) out[#out + 1] = type(v) .. ':' .. "
    "tostring(v) end\n"
    "  return '(' .. table.concat(out, ',') .. ')'\n"
    "end\n"
    "local function call(g, ...) local r = table.pack(g(...)) return table.unpack(r, 1, r.n) end\n"
    "local function try(...)\n"
    "  local r = table.pack(pcall(call, ...))\n"
    "  if not r[1] then return 'ERR[' .. tostring(r[2]) .. ']' end\n"
    "  return ser(table.unpack(r, 2, r.n))\n"
    "end\n"
    "local C = {\n"
    "  {'hello world', 'o'}, {'hello world', 'o', 6}, {'hello world', 'o', -3}, {'hello world', "
    "'o', 100},\n"
    "  {'hello world', 'l+'}, {'hello world', '^h'}, {'hello world', '^e'}, {'hello world', "
    "'d$'},\n"
    "  {'hello world', 'o$'}, {'hello world', '(o)(r)'}, {'hello world', '()ll()'},\n"
    "  {'hello world', '(h)(e)(l)(l)(o)'}, {'hello world', '%a+'}, {'hello world', '%A'},\n"
    "  {'  x  ', '^%s*(.-)%s*$'}, {'key = value', '(%w+)%s*=%s*(%w+)'}, {'abc', ''}, {'', ''},\n"
    "  {'', 'a*'}, {'abc', '.-'}, {'abc', 'a-b'}, {'aaab', 'a-b'}, {'aaa', 'a-'}, {'aaa', 'a-$'},\n"
    "  {'abc', '[a-b]+'}, {'a]b', '[]]'}, {'a-b', '[a%-]+'}, {'a^b', '[%^]'}, {'a^b', '[^a]'},\n"
    "  {'x-y', '[x-]'}, {'abc123', '[%d]+'}, {'abc123', '[^%d]+'}, {'THE (quick) fox', "
    "'%((%a+)%)'},\n"
    "  {'f(a(b)c)d', '%b()'}, {'[[x]]', '%b[]'}, {'\"q\"', '%b\"\"'}, {'THE (quick) fox', "
    "'%f[%a]%a+'},\n"
    "  {'hello', '%f[%l]'}, {'THE END', '%f[%z]'}, {'abcabc', '(abc)%1'}, {'abab', '(a)(b)%2'},\n"
    "  {'aa', '(a)%2'}, {'x', '%1'}, {'x', '(()'}, {'x', '(x))'}, {'x', '[a'}, {'x', '%'},\n"
    "  {'x', '%b'}, {'x', '%bx'}, {'x', '%f'}, {'x', '%fx'}, {'a.b', '.'}, {'a.b', '%.'},\n"
    "  {'a+b', 'a+b'}, {'a+b', 'a%+b'}, {'aaa', 'a?a?a'}, {'ab', 'a?b?c?'},\n"
    "  {'date: 2024-01-02', '(%d+)-(%d+)-(%d+)'}, {'one two  three', '%S+'}, {'a,b,,c', "
    "'([^,]*)'},\n"
    "  {'abc', '()'}, {'abc', '^'}, {'abc', '$'}, {'abc', '^$'}, {'', '^$'}, {'\\0a\\0', '%z'},\n"
    "  {'a\\0b', '\\0'}, {'a\\0b', '[\\0]'}, {'a\\0b', '.%z?b'}, {'hello', 'l*'}, {'hello', "
    "'x*'},\n"
    "  {'hello', '(l)(l)'}, {'h\\195\\169llo', '[\\128-\\255]+'}, {'ABCdef', '%u+'}, {'ABCdef', "
    "'%l+'},\n"
    "  {'a1_b2', '%w+'}, {'tab\\there', '%c'}, {'p.u,n!c', '%p+'}, {'deadBEEF', '%x+'}, {'a b', "
    "'%g+'},\n"
    "  {'x', '[%a-z]'}, {'-', '[%a-z]'}, {'abc', '[b-]'}, {'aXb', '%u'},\n"
    "  {'1.5e10', '^[+-]?%d+%.?%d*[eE]?%d*$'}, {'foo.bar.baz', '([^.]+)'},\n"
    "  {'Device.WiFi.SSID.1.SSID', '^Device%.WiFi%.SSID%.(%d+)%.(%a+)$'}, {'aaa', '^a', 2},\n"
    "  {'aaa', 'a', -1}, {'aaa', 'a', -10}, {'abc', 'c', 0}, {'x', string.rep('(', 33) .. 'x' .. "
    "string.rep(')', 33)},\n"
    "  {string.rep('a', 10), '(a-)(a*)'}, {'hello', '(h)(.)'}, {'abc', '%w-$'}, {'a b c', '%s'},\n"
    "  {'[]', '[]'}, {'[]', '[^]]'}, {'a%b', '%%'}, {'a', '[%]'}, {'a.b', '[.]'}, {'x', '%w-%'},\n"
    "  {'ab', 'a$b'}, {'a$b', 'a$b'}, {'aaa', '(a*(.)%w(%s*))'}, {'hello', 'h(.-)o'}, {'x^', "
    "'x^'},\n"
    "  {'  indent', '^(%s*)'}, {'CamelCaseWord', '%u%l*'}, {'k1=v1;k2=v2', '(%w+)=(%w+)'},\n"
    "  {'x', '()x()', 2}, {'', '()'}, {'aaa', '%f[a]'}, {'abc', '%f[^a]'}, {'1,2', '%f[%d]%d'},\n"
    "}\n"
    "local out = {}\n"
    "for i, c in ipairs(C) do\n"
    "  local s, p, init = c[1], c[2], c[3]\n"
    "  out[#out + 1] = i .. ' find ' .. try(string.find, s, p, init)\n"
    "  out[#out + 1] = i .. ' findp ' .. try(string.find, s, p, init, true)\n"
    "  out[#out + 1] = i .. ' match ' .. try(string.match, s, p, init)\n"
    "  out[#out + 1] = i .. ' gmatch ' .. try(function() local t = {} for a, b in "
    "string.gmatch(s, p, init) do t[#t + 1] = ser(a, b) if #t > 40 then break end end return "
    "table.concat(t, ';') end)\n"
    "  out[#out + 1] = i .. ' gsub ' .. try(string.gsub, s, p, '<%0>')\n"
    "  out[#out + 1] = i .. ' gsub1 ' .. try(string.gsub, s, p, '[%1%%]')\n"
    "  out[#out + 1] = i .. ' gsubf ' .. try(string.gsub, s, p, function(a, b) if b then return "
    "a .. '|' .. tostring(b) end if type(a) == 'string' and #a % 2 == 0 then return a:upper() "
    "end end)\n"
    "  out[#out + 1] = i .. ' gsubt ' .. try(string.gsub, s, p, {hello = 'HI', o = 0, [''] = "
    "'E', l = false})\n"
    "  out[#out + 1] = i .. ' gsubn ' .. try(string.gsub, s, p, '#', 2)\n"
    "end\n"
    "local function tab(t) local o = {} for i = -1, 8 do o[#o + 1] = tostring(t[i]) end return "
    "table.concat(o, ' ') end\n"
    "local T = {\n"
    "  function() local t = {1, 2, 3} table.insert(t, 1, 0) table.insert(t, 9) return tab(t) end,\n"
    "  function() local t = {1, 2, 3} table.insert(t, 5, 0) return tab(t) end,\n"
    "  function() local t = {1, 2, 3} table.insert(t, 4, 0) return tab(t) end,\n"
    "  function() local t = {1, 2, 3} table.insert(t, 0, 0) return tab(t) end,\n"
    "  function() local t = {1, 2, 3} table.insert(t, 1, 2, 3) end,\n"
    "  function() local t = {1, 2, 3} local v = table.remove(t) return v, tab(t) end,\n"
    "  function() local t = {1, 2, 3} local v = table.remove(t, 1) return v, tab(t) end,\n"
    "  function() local t = {} local a, b = table.remove(t), table.remove(t, 0) return a, b, "
    "tab(t) end,\n"
    "  function() local t = {1, 2, 3} local v = table.remove(t, 4) return v, tab(t) end,\n"
    "  function() local t = {1, 2, 3} local v = table.remove(t, 5) return v end,\n"
    "  function() local t = {[0] = 'z'} local v = table.remove(t, 0) return v, tab(t) end,\n"
    "  function() local t = {1, 2, 3, 4, 5} table.move(t, 2, 4, 1) return tab(t) end,\n"
    "  function() local t = {1, 2, 3, 4, 5} table.move(t, 1, 3, 3) return tab(t) end,\n"
    "  function() local t = {1, 2, 3} local u = table.move(t, 1, 3, 2, {}) return tab(u) end,\n"
    "  function() local t = {1, 2, 3} local u = table.move(t, 3, 1, 2) return tab(u) end,\n"
    "  function() local v = table.pack(table.unpack({1, 2, 3})) return v.n, v[3] end,\n"
    "  function() local v = table.pack(table.unpack({1, 2, 3}, 2)) return v.n, v[1] end,\n"
    "  function() local v = table.pack(table.unpack({1, 2, 3}, -1, 1)) return v.n, v[1], v[3] "
    "end,\n"
    "  function() local v = table.pack(table.unpack({}, 3, 1)) return v.n end,\n"
    "  function() local v = table.concat({1, 2, 'x'}, ', ') return v end,\n"
    "  function() local v = table.concat({1, 2, 3}, '-', 2, 3) return v end,\n"
    "  function() local v = table.concat({1, {}, 3}) return v end,\n"
    "  function() local v = table.concat({}, 'x') return v end,\n"
    "  function() local v = table.concat({1, 2, 3}, '', 3, 2) return v end,\n"
    "  function() local v = table.concat({1, 2, 3}, 4) return v end,\n"
    "  function() local t = table.pack(1, nil, 3) return t.n, t[1], t[2], t[3] end,\n"
    "  function() local t = {5, 2, 8, 1, 9, 3, 3, 7} table.sort(t) return tab(t) end,\n"
    "  function() local t = {5, 2, 8, 1, 9, 3} table.sort(t, function(a, b) return a > b end) "
    "return tab(t) end,\n"
    "  function() local t = {'b', 'a', 'c', 'aa'} table.sort(t) return tab(t) end,\n"
    "  function() local t = {3, 1} table.sort(t, 5) end,\n"
    "  function() local v = string.rep('ab', 3, ',') return v end,\n"
    "  function() local v = string.rep('ab', 0) .. string.rep('', 5) .. string.rep('x', -1) return "
    "v end,\n"
    "  function() local v = string.format('%5.2f|%-4d|%x|%q|%s|%%|%10s', 3.14159, 7, 255, 'a\\nb', "
    "nil, 'r') return v end,\n"
    "  function() local v = string.format('%d', 'x') return v end,\n"
    "  function() local v = string.format('%99d', 1) return #v end,\n"
    "  function() local v = string.format('%.99f', 1) return #v end,\n"
    "  function() local a, b, c = string.byte('hello', 2, 4) return a, b, c end,\n"
    "  function() local a, b = string.byte('hello', -2, -1) return a, b end,\n"
    "  function() local a = string.byte('') return a end,\n"
    "  function() local v = string.sub('hello', 2, -2) .. string.sub('hello', -3) .. "
    "string.sub('hello', 9) .. string.sub('hello', 0) return v end,\n"
    "  function() local v = string.sub('hello') return v end,\n"
    "  function() local v = ('Hello'):upper() .. ('Hello'):lower() .. ('abc'):reverse() .. "
    "#('abc') return v end,\n"
    "  function() local v = string.char(72, 105) return v end,\n"
    "  function() local v = string.char(256) return v end,\n"
    "  function() local v = tonumber('0x10') + tonumber('10', 2) + tonumber(' 5 ') return v end,\n"
    "  function() local v = tonumber('z', 36) return v, tonumber('1e2'), tonumber('abc') end,\n"
    "  function() local v = utf8.char(72, 228, 8364) return v, utf8.len(v), "
    "utf8.codepoint(v, 1, -1) end,\n"
    "  function() local v = utf8.offset('a\\228\\184\\173b', 3) return v, utf8.len('\\255') end,\n"
    "  function() local o = {} for p, c in utf8.codes('h\\195\\169') do o[#o + 1] = p .. '=' .. c "
    "end return table.concat(o, ' ') end,\n"
    "  function() return '10' + 1, '3' * '4', 10 .. '' end,\n"
    "}\n"
    "for i, f in ipairs(T) do out[#out + 1] = 'T' .. i .. ' ' .. try(f) end\n"
    "return table.concat(out, '\\n')\n";

static void test_differential(acs_script_vm *vm) {
  lua_State *P = luaL_newstate();
  luaL_openlibs(P);
  int rc = luaL_loadbufferx(P, diff_src, strlen(diff_src), "=t", "t");
  CHECK_INT(rc, LUA_OK);
  if (rc == LUA_OK) rc = lua_pcall(P, 0, 1, 0);
  CHECK_INT(rc, LUA_OK);
  const char *want = lua_tostring(P, -1);
  if (!want) want = "";

  CHECK_INT(st_load(vm, "t", diff_src), 0);
  acs_script_run *run = acs_script_run_new(vm, NULL, NULL);
  acs_script_chan *ch;
  int st = acs_script_run_call(run, "t", NULL, &ch);
  CHECK_INT(st, ACS_SCRIPT_DONE);
  const char *got = "";
  if (st == ACS_SCRIPT_DONE) {
    int n;
    lua_State *T = acs_script_chan_values(ch, &n);
    got = lua_tostring(T, -n);
  } else {
    fprintf(stderr, "  differential: %s\n", acs_script_chan_fault_message(ch));
  }
  /* compare line by line, printing the first differences */
  int lines = 0, diffs = 0;
  const char *a = want, *b = got;
  while (*a || *b) {
    const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
    size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
    lines++;
    if (la != lb || memcmp(a, b, la) != 0) {
      if (++diffs <= 10) fprintf(stderr, "  lua:  %.*s\n  ours: %.*s\n", (int)la, a, (int)lb, b);
    }
    a += la + (ea ? 1 : 0);
    b += lb + (eb ? 1 : 0);
  }
  fprintf(stderr, "differential: %d lines compared, %d differ\n", lines, diffs);
  CHECK(lines > 500);
  CHECK_INT(diffs, 0);
  acs_script_run_free(run);
  lua_close(P);
}

/* --- os and math.random */
static void test_os(acs_script_vm *vm) {
  st_clock_ms = 86400000LL * 365 + 4321;
  CHECK_EVAL(vm, "return os.time()", "31536004");
  CHECK_EVAL(vm, "return os.clock()", "31536004.321");
  CHECK_EVAL(vm, "return os.date('!%Y-%m-%d %H:%M:%S')", "1971-01-01 00:00:04");
  CHECK_EVAL(vm, "return os.date('%Y-%m-%dT%H:%M:%SZ', 0)", "1970-01-01T00:00:00Z");
  CHECK_EVAL(vm,
             "local d = os.date('*t', 86400 + 3600) return d.year .. d.month .. d.day .. "
             "d.hour .. d.min .. d.sec .. d.wday .. d.yday .. tostring(d.isdst)",
             "19701210062false");
  CHECK_EVAL(vm, "return os.time{year = 2020, month = 1, day = 1, hour = 0}", "1577836800");
  CHECK_EVAL(vm, "return os.time{year = 2020, month = 1, day = 1}", "1577880000");
  CHECK_EVAL(vm,
             "local t = {year = 2020, month = 13, day = 1, hour = 0} os.time(t) return "
             "t.year .. '-' .. t.month",
             "2021-1");
  CHECK_EVAL(vm, "return os.difftime(10, 4)", "6.0");
  CHECK_FAULT(vm, "return os.time{year = 2020}", "script.error",
              "field 'month' missing in date table");
  CHECK_FAULT(vm, "return os.date('%Q')", "script.error", "invalid conversion specifier");
  CHECK_FAULT(vm, "return os.date('%E')", "script.error", "invalid conversion specifier");
  CHECK_EVAL(vm, "return os.date('%Ey|%a|%%', 0)", "70|Thu|%");
  st_clock_ms += 10000;
  CHECK_EVAL(vm, "return os.time()", "31536014");
  st_clock_ms = 1700000000123;
}

static void test_random(void) {
  acs_script_vm *v1 = st_vm(NULL), *v2 = st_vm(NULL);
  const char *draw =
      "local o = {} for i = 1, 5 do o[i] = math.random(1, 1000000) end return "
      "table.concat(o, ',')";
  char a[256], b[256];
  snprintf(a, sizeof a, "%s", st_eval(v1, draw));
  snprintf(b, sizeof b, "%s", st_eval(v2, draw));
  CHECK(a[0] != '\0');
  CHECK_STR(a, b); /* same VM seed, same nth run: same numbers */
  snprintf(b, sizeof b, "%s", st_eval(v1, draw));
  CHECK(strcmp(a, b) != 0); /* another run: other numbers */
  snprintf(a, sizeof a, "%s", st_eval(v1, "math.randomseed(7) return math.random(0)"));
  snprintf(b, sizeof b, "%s", st_eval(v2, "math.randomseed(7) return math.random(0)"));
  CHECK_STR(a, b);
  /* randomseed in one run leaves another run's sequence alone */
  CHECK_INT(acs_script_vm_register(v2, "host", "ask", l_host_ask), ACS_ESTATE);
  char with[128], without[128];
  for (int pass = 0; pass < 2; pass++) {
    acs_script_vm *vm = st_vm(NULL);
    CHECK_INT(acs_script_vm_register(vm, "host", "ask", l_host_ask), 0);
    st_load(vm, "seq", "local a = math.random(0) host.ask() return a .. ':' .. math.random(0)");
    st_load(vm, "reseed", "math.randomseed(1) return math.random(0)");
    acs_script_run *r1 = acs_script_run_new(vm, NULL, NULL);
    acs_script_run *r2 = acs_script_run_new(vm, NULL, NULL);
    acs_script_chan *c1, *c2;
    CHECK_INT(acs_script_run_call(r1, "seq", NULL, &c1), ACS_SCRIPT_YIELD);
    if (pass) CHECK_INT(acs_script_run_call(r2, "reseed", NULL, &c2), ACS_SCRIPT_DONE);
    CHECK_INT(acs_script_chan_resume(c1, 0), ACS_SCRIPT_DONE);
    snprintf(pass ? with : without, 128, "%s", first_value(c1));
    acs_script_run_free(r1);
    acs_script_run_free(r2);
    acs_script_vm_free(vm);
  }
  CHECK_STR(with, without);
  CHECK_EVAL(v1,
             "for i = 1, 1000 do local x = math.random(3, 5) assert(x >= 3 and x <= 5 and "
             "math.type(x) == 'integer') local f = math.random() assert(f >= 0 and f < 1) end "
             "local m = math.random(math.mininteger, math.maxinteger) return math.type(m)",
             "integer");
  CHECK_FAULT(v1, "return math.random(3, 1)", "script.error", "interval is empty");
  CHECK_FAULT(v1, "return math.random(1, 2, 3)", "script.error", "wrong number of arguments");
  acs_script_vm_free(v1);
  acs_script_vm_free(v2);
}

/* --- metatables and read-only tables */
static void test_metatables(acs_script_vm *vm) {
  CHECK_EVAL(vm,
             "local mt = {__index = function(t, k) return k .. '!' end} local t = "
             "setmetatable({}, mt) return t.x .. tostring(getmetatable(t) == mt)",
             "x!true");
  CHECK_EVAL(vm, "local t = setmetatable({}, {__metatable = 'locked'}) return getmetatable(t)",
             "locked");
  CHECK_FAULT(vm, "local t = setmetatable({}, {__metatable = 1}) setmetatable(t, {})",
              "script.error", "cannot change a protected metatable");
  CHECK_EVAL(vm,
             "return tostring(getmetatable('')) .. tostring(getmetatable(string)) .. "
             "tostring(getmetatable(_ENV)) .. tostring(getmetatable(1)) .. "
             "tostring(getmetatable(true))",
             "falsefalsefalsenilnil");
  CHECK_FAULT(vm, "setmetatable({}, {__gc = function() end})", "script.error",
              "__gc metamethods are not allowed");
  CHECK_FAULT(vm, "setmetatable({}, {__gc = false})", "script.error", "__gc metamethods");
  CHECK_FAULT(vm, "setmetatable(string, {})", "script.error",
              "cannot change a protected metatable");
  CHECK_FAULT(vm, "setmetatable(_ENV, nil)", "script.error", "cannot change a protected metatable");
  CHECK_FAULT(vm, "setmetatable('x', {})", "script.error", "bad argument #1 to 'setmetatable'");
  CHECK_EVAL(vm,
             "local t = setmetatable({}, {__close = function() end, __mode = 'k'}) return "
             "'ok'",
             "ok");
  CHECK_FAULT(vm, "string.x = 1", "script.error", "t:1: attempt to modify a read-only table");
  CHECK_FAULT(vm, "math.pi = 3", "script.error", "attempt to modify a read-only table");
  CHECK_FAULT(vm, "rawset(os, 'time', 1)", "script.error", "attempt to modify a read-only table");
  CHECK_FAULT(vm, "table.insert(math, 1)", "script.error", "attempt to modify a read-only table");
  CHECK_FAULT(vm, "table.remove(os, 1)", "script.error", "attempt to modify a read-only table");
  CHECK_EVAL(vm, "table.sort(coroutine) return 'nothing to sort'", "nothing to sort");
  CHECK_EVAL(vm,
             "local n = 0 local f, s, c = pairs(string) for k, v in pairs(string) do n = n + "
             "1 end return n .. tostring(s) .. tostring(c) .. tostring(rawget(string, 'rep')) .. "
             "tostring(next(string)) .. rawlen(string) .. #string",
             "13nilnilnilnil00");
  CHECK_EVAL(vm, "local t = {} rawset(t, 'a', 1) return rawget(t, 'a') + rawlen({1, 2})", "3");
}

/* --- bounded functions and budgets */
static void test_bounded(acs_script_vm *vm) {
  CHECK_EVAL(vm, "return #string.rep('ab', 2^19)", "1048576");
  CHECK_FAULT(vm, "return string.rep('ab', 2^19 + 1)", "script.error",
              "string.rep: result too large");
  CHECK_FAULT(vm, "return ('x'):rep(1e9, ',')", "script.error", "result too large");
  CHECK_EVAL(vm, "return #string.rep('', 2^62) .. #('x'):rep(-5)", "00");
  CHECK_EVAL(vm,
             "local t = {} for i = 1, 1024 do t[i] = ('y'):rep(1024) end return "
             "#table.concat(t)",
             "1048576");
  CHECK_FAULT(vm,
              "local t = {} for i = 1, 1025 do t[i] = ('y'):rep(1024) end return "
              "table.concat(t)",
              "script.error", "table.concat: result too large");
  CHECK_FAULT(vm, "return ('x'):rep(2^20):gsub('x', 'yy')", "script.error",
              "string.gsub: result too large");
  CHECK_FAULT(vm, "return string.format('%s%s', ('x'):rep(2^20), 'y')", "script.error",
              "string.format: result too large");
  /* per-run caps */
  acs_script_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.max_string = 100;
  st_result r = st_exec(vm, "return #string.rep('x', 100)", &lim);
  CHECK_INT(r.state, ACS_SCRIPT_DONE);
  CHECK_STR(r.value, "100");
  r = st_exec(vm, "return #string.rep('x', 101)", &lim);
  CHECK_INT(r.state, ACS_SCRIPT_FAULT);
  CHECK(strstr(r.msg, "at most 100 bytes") != NULL);

  /* instructions are counted and C work is charged */
  CHECK_INT(st_load(vm, "loop", "local n = 0 for i = 1, 100000 do n = n + i end return n"), 0);
  CHECK_INT(st_load(vm, "charge", "host.charge(1000000) return 1"), 0);
  CHECK_INT(st_load(vm, "charge2", "host.charge(1e9) return 1"), 0);
  acs_script_run *run = acs_script_run_new(vm, NULL, NULL);
  acs_script_chan *ch;
  CHECK_INT(acs_script_run_call(run, "loop", NULL, &ch), ACS_SCRIPT_DONE);
  uint64_t used = acs_script_run_instructions(run);
  CHECK(used >= 150000 && used < 300000);
  CHECK_INT(acs_script_run_call(run, "charge", NULL, &ch), ACS_SCRIPT_DONE);
  CHECK(acs_script_run_instructions(run) >= used + 1000000);
  CHECK_INT(acs_script_run_call(run, "charge2", NULL, &ch), ACS_SCRIPT_FAULT);
  CHECK_STR(acs_script_chan_fault_code(ch), "script.timeout");
  acs_script_run_free(run);

  lim.max_string = 0;
  lim.instructions = 100000;
  r = st_exec(vm, "local n = 0 for i = 1, 1e6 do n = n + i end return n", &lim);
  CHECK_STR(r.code, "script.timeout");
  CHECK(strstr(r.msg, "100000 per run") != NULL);
  lim.instructions = 0;
  lim.slice = 50000;
  r = st_exec(vm, "local n = 0 for i = 1, 1e6 do n = n + i end return n", &lim);
  CHECK_STR(r.code, "script.timeout");
  CHECK(strstr(r.msg, "50000 per resume") != NULL);

  /* the slice is per resume, the total per run */
  CHECK_INT(st_load(vm, "slices",
                    "for k = 1, 4 do local n = 0 for i = 1, 20000 do n = n + i end "
                    "host.ask(k) end return 'done'"),
            0);
  lim.slice = 60000;
  lim.instructions = 150000;
  run = acs_script_run_new(vm, &lim, NULL);
  int st = acs_script_run_call(run, "slices", NULL, &ch);
  int yields = 0;
  while (st == ACS_SCRIPT_YIELD) {
    yields++;
    st = acs_script_chan_resume(ch, 0);
  }
  CHECK_INT(st, ACS_SCRIPT_FAULT); /* 4 x ~40000 > 150000 */
  CHECK_INT(yields, 3);
  CHECK_STR(acs_script_chan_fault_code(ch), "script.timeout");
  acs_script_run_free(run);

  /* memory is attributed to the run */
  memset(&lim, 0, sizeof lim);
  CHECK_INT(st_load(vm, "keep",
                    "keep = {} for i = 1, 64 do keep[i] = ('m'):rep(16384) .. i end "
                    "return collectgarbage('count')"),
            0);
  lua_gc(acs_script_vm_state(vm), LUA_GCCOLLECT); /* no old garbage to credit the run */
  run = acs_script_run_new(vm, NULL, NULL);
  size_t before = acs_script_run_memory(run);
  CHECK_INT(acs_script_run_call(run, "keep", NULL, &ch), ACS_SCRIPT_DONE);
  CHECK(acs_script_run_memory(run) >= before + 1024 * 1024);
  int n;
  lua_State *T = acs_script_chan_values(ch, &n);
  CHECK(lua_tonumber(T, -1) >= 1024);
  acs_script_run_free(run);
  lim.memory = 2u << 20;
  r = st_exec(vm, "local t = {} for i = 1, 64 do t[i] = ('m'):rep(65536) .. i end return #t", &lim);
  CHECK_STR(r.code, "script.memory");
  CHECK(strstr(r.msg, "2097152 bytes per run") != NULL);
  CHECK_EVAL(vm, "return collectgarbage('step') .. tostring(collectgarbage('isrunning'))", "0true");
  CHECK_FAULT(vm, "collectgarbage('stop')", "script.error", "not available to policies");
}

/* --- coroutines as policies see them */
static void test_coroutines(acs_script_vm *vm) {
  CHECK_EVAL(vm,
             "local co = coroutine.create(function(a, b) local c = coroutine.yield(a + b) "
             "local d, e = coroutine.yield(c * 2) return d + e end) "
             "local o = {} local _, x = coroutine.resume(co, 1, 2) o[#o + 1] = x "
             "_, x = coroutine.resume(co, 10) o[#o + 1] = x "
             "o[#o + 1] = coroutine.status(co) "
             "_, x = coroutine.resume(co, 3, 4) o[#o + 1] = x "
             "o[#o + 1] = coroutine.status(co) "
             "o[#o + 1] = tostring(select(2, coroutine.resume(co))) "
             "return table.concat(o, ',')",
             "3,20,suspended,7,dead,cannot resume dead coroutine");
  CHECK_EVAL(vm,
             "local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end) "
             "return gen() + gen() + gen()",
             "6");
  CHECK_EVAL(vm,
             "local me, main = coroutine.running() local o = {tostring(main), "
             "tostring(coroutine.isyieldable()), coroutine.status(me)} "
             "local co co = coroutine.create(function() local c, m = coroutine.running() "
             "o[#o + 1] = tostring(c == co) .. tostring(m) .. tostring(coroutine.isyieldable()) "
             ".. coroutine.status(me) end) coroutine.resume(co) return table.concat(o, ',')",
             "true,false,running,truefalsetruenormal");
  CHECK_EVAL(
      vm,
      "local f = coroutine.wrap(function() error('inner') end) local ok, e = pcall(function() "
      "f() end) "
      "return e",
      "t:1: t:1: inner");
  CHECK_EVAL(vm,
             "local co = coroutine.create(function() local x <close> = setmetatable({}, "
             "{__close = function() closed = true end}) coroutine.yield() end) "
             "coroutine.resume(co) local ok = coroutine.close(co) "
             "return tostring(ok) .. tostring(closed) .. coroutine.status(co)",
             "truetruedead");
  /* a coroutine that died of an error is closed at once (unlike Lua, where
   * closing it later returns false and the error) */
  CHECK_EVAL(vm,
             "local co = coroutine.create(function() local x <close> = setmetatable({}, {__close = "
             "function() closed = true end}) error({code = 1}) end) local r = "
             "tostring(coroutine.resume(co)) .. tostring(closed) local ok, e = coroutine.close(co) "
             "return r .. tostring(ok) .. type(e)",
             "falsetruetruenil");
  CHECK_FAULT(vm, "coroutine.yield(1)", "script.error",
              "attempt to yield from outside a coroutine");
  CHECK_FAULT(vm, "coroutine.resume(coroutine.running())", "script.error",
              "not a coroutine of this policy run");
  CHECK_FAULT(vm, "coroutine.close(coroutine.running())", "script.error",
              "not a coroutine of this policy run");
  CHECK_EVAL(vm,
             "local co co = coroutine.create(function() return coroutine.resume(co) end) "
             "local _, ok, e = coroutine.resume(co) return tostring(ok) .. ' ' .. e",
             "false cannot resume non-suspended coroutine");
  CHECK_EVAL(vm,
             "local co co = coroutine.create(function() return coroutine.close(co) end) "
             "local ok, e = coroutine.resume(co) return e",
             "t:1: cannot close a running coroutine");
  CHECK_EVAL(vm, "return ctx() .. coroutine.wrap(function() return ctx() end)()", "(none)(none)");
  acs_script_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.coroutines = 10;
  st_result r = st_exec(vm, "for i = 1, 11 do coroutine.create(function() end) end", &lim);
  CHECK_STR(r.code, "script.error");
  CHECK(strstr(r.msg, "too many coroutines (10 per run)") != NULL);
  r = st_exec(vm, "for i = 1, 10 do coroutine.wrap(function() end)() end return 'ok'", &lim);
  CHECK_STR(r.value, "ok");
}

/* --- a library chunk: run once per generation, shared by its runs */
static acs_script_chan *lib_call(acs_script_run *run, const char *name, int want) {
  acs_script_chan *ch = NULL;
  int st = acs_script_run_call(run, name, NULL, &ch);
  if (st != want && ch) fprintf(stderr, "  %s: %s\n", name, acs_script_chan_fault_message(ch));
  CHECK_INT(st, want);
  return ch;
}

static void test_library(void) {
  acs_script_vm *vm = st_vm(NULL);
  CHECK(vm != NULL);
  if (!vm) return;
  register_hosts(vm);
  static const char lib[] =
      "local state = ...\n"
      "counter = {n = 0, sub = {1, 2}}\n"
      "loads = 1\n"
      "function bump() local st = state() st.n = (st.n or 0) + 1 return st.n end\n"
      "function who() return name end\n"
      "function setg(v) made = v end\n"
      "function asks() return host.ask('lib') end\n"
      "function bad() return nosuch end\n"
      "return {lazy = function() return {made_in = ctx()} end, nothing = function() end}\n";
  static const char use[] =
      "name = 'A' assert(who() == 'A', 'the library reads the run')\n"
      "assert(bump() == 1 and bump() == 2)\n"
      "setg(5) assert(made == 5, 'the library writes the run')\n"
      "assert(rawget(_G, 'bump') == nil and loads == 1)\n"
      "assert(not pcall(function() counter.n = 1 end), 'a library table is writable')\n"
      "assert(not pcall(rawset, counter.sub, 1, 9), 'a nested library table is writable')\n"
      "assert(counter.sub[2] == 2 and #counter.sub == 2 and counter.n == 0)\n"
      "assert(lazy.made_in == ctx() and lazy == lazy and rawget(_G, 'lazy') == lazy)\n"
      "function who() return 'shadow' end\n"
      "return asks()\n";
  static const char again[] =
      "assert(rawget(_G, 'made') == nil and rawget(_G, 'lazy') == nil)\n"
      "assert(bump() == 1, 'the library state of another run')\n"
      "name = 'B' assert(who() == 'B', 'a shadowing of another run')\n"
      "return lazy.made_in\n";
  acs_script_chunk set[] = {
      {"lib", lib, sizeof lib - 1, true},
      {"use", use, sizeof use - 1, false},
      {"again", again, sizeof again - 1, false},
      {"nothing", "return nothing", 14, false},
      {"bad", "return bad()", 12, false},
      {"whoami", "return who()", 12, false},
  };
  char err[256] = "";
  CHECK_INT(acs_script_vm_load_set(vm, set, 6, err, sizeof err), 0);
  CHECK(!acs_script_vm_has(vm, "lib") && acs_script_vm_has(vm, "use"));
  uint64_t gen = acs_script_vm_generation(vm);
  acs_script_run *a = acs_script_run_new(vm, NULL, "run a");
  acs_script_chan *ch = lib_call(a, "use", ACS_SCRIPT_YIELD); /* through a library function */
  CHECK_INT(resume_with(ch, "answer"), ACS_SCRIPT_DONE);
  CHECK_STR(first_value(ch), "answer");
  acs_script_chan *none = NULL;
  CHECK_INT(acs_script_run_call(a, "lib", NULL, &none), ACS_ENOTFOUND);
  ch = lib_call(a, "nothing", ACS_SCRIPT_FAULT);
  CHECK(ch && strstr(acs_script_chan_fault_message(ch), "unknown global 'nothing'"));
  ch = lib_call(a, "bad", ACS_SCRIPT_FAULT);
  CHECK(ch && strstr(acs_script_chan_fault_message(ch), "unknown global 'nosuch'"));
  /* a library that fails keeps the generation; a new one leaves a's alone */
  acs_script_chunk broken[] = {{"lib", "error('nope', 0)", 16, true}};
  CHECK_INT(acs_script_vm_load_set(vm, broken, 1, err, sizeof err), ACS_EINVAL);
  CHECK_STR(err, "nope");
  CHECK_INT(acs_script_vm_generation(vm), gen);
  acs_script_chunk v2[] = {{"lib", "function who() return 'v2' end", 30, true},
                           {"who", "return who()", 12, false}};
  CHECK_INT(acs_script_vm_load_set(vm, v2, 2, err, sizeof err), 0);
  acs_script_run *b = acs_script_run_new(vm, NULL, "run b");
  ch = lib_call(b, "who", ACS_SCRIPT_DONE);
  CHECK_STR(first_value(ch), "v2");
  acs_script_run_free(b);
  ch = lib_call(a, "whoami", ACS_SCRIPT_DONE); /* a keeps its generation (and its globals) */
  CHECK_STR(first_value(ch), "shadow");
  acs_script_run_free(a);
  CHECK_INT(acs_script_vm_load_set(vm, set, 6, err, sizeof err), 0);
  acs_script_run *c = acs_script_run_new(vm, NULL, "run c");
  ch = lib_call(c, "again", ACS_SCRIPT_DONE);
  CHECK_STR(first_value(ch), "run c");
  acs_script_run_free(c);
  acs_script_vm_free(vm);
}

/* A sealed run (acs_script_run_seal) reads only what depends on a policy's
 * text: string, table, the base functions; anything else raises and marks
 * the run, a pcall that catches the error included. */
static void test_sealed(void) {
  acs_script_vm *vm = st_vm(NULL);
  CHECK(vm != NULL);
  if (!vm) return;
  register_hosts(vm);
  static const char lib[] =
      "function who() return 'lib' end\n"
      "return {lazy = function() return {made_in = ctx()} end}\n";
  static const struct {
    const char *name, *text;
    int st;
    bool unsealed;
  } cases[] = {
      {"pure",
       "local t = {} for i = 1, 3 do t[#t + 1] = string.format('%d', i) end\n"
       "return table.concat(t, ',') .. select('#', 1, 2) .. tostring(tonumber('4'))\n"
       "  .. type(next({})) .. utf8.char(65) .. ('x'):rep(2)",
       ACS_SCRIPT_DONE, false},
      {"math", "return math.floor(1.5)", ACS_SCRIPT_FAULT, true},
      {"os", "return os.time()", ACS_SCRIPT_FAULT, true},
      {"coroutine", "return coroutine.running()", ACS_SCRIPT_FAULT, true},
      {"library", "return who()", ACS_SCRIPT_FAULT, true},
      {"lazy", "return lazy.made_in", ACS_SCRIPT_FAULT, true},
      {"host", "return ctx()", ACS_SCRIPT_FAULT, true},
      {"caught", "local ok = pcall(function() return os.time() end) return tostring(ok)",
       ACS_SCRIPT_DONE, true},
  };
  size_t n = sizeof cases / sizeof cases[0];
  acs_script_chunk set[16] = {{"lib", lib, sizeof lib - 1, true}};
  for (size_t i = 0; i < n; i++)
    set[i + 1] = (acs_script_chunk){cases[i].name, cases[i].text, strlen(cases[i].text), false};
  char err[256] = "";
  CHECK_INT(acs_script_vm_load_set(vm, set, n + 1, err, sizeof err), 0);
  for (size_t i = 0; i < n; i++) {
    acs_script_run *run = acs_script_run_new(vm, NULL, "sealed");
    acs_script_run_seal(run);
    acs_script_chan *ch = lib_call(run, cases[i].name, cases[i].st);
    if (acs_script_run_unsealed(run) != cases[i].unsealed) fprintf(stderr, "  %s\n", cases[i].name);
    CHECK(acs_script_run_unsealed(run) == cases[i].unsealed);
    if (cases[i].st == ACS_SCRIPT_FAULT)
      CHECK(ch && strstr(acs_script_chan_fault_message(ch), "may depend on the session"));
    if (i == 0) CHECK_STR(first_value(ch), "1,2,324nilAxx");
    if (i == n - 1) CHECK_STR(first_value(ch), "false");
    acs_script_run_free(run);
    /* unsealed, the same text runs */
    run = acs_script_run_new(vm, NULL, "open");
    lib_call(run, cases[i].name, ACS_SCRIPT_DONE);
    CHECK(!acs_script_run_unsealed(run));
    acs_script_run_free(run);
  }
  acs_script_vm_free(vm);
}

int main(void) {
  acs_script_limits def;
  acs_script_limits_default(&def);
  CHECK_INT(def.hook_every, 1000);
  CHECK(def.memory == 8u << 20 && def.max_string == 1u << 20 && def.slice_ms == 500);
  CHECK(acs_script_fault_code(ACS_SCRIPT_FAULT_NONE) == NULL);
  CHECK_STR(acs_script_fault_code(ACS_SCRIPT_FAULT_PATTERN), "script.pattern");

  acs_script_vm *vm = st_vm(NULL);
  CHECK(vm != NULL);
  if (!vm) return acs_test_result("test_script_sandbox");
  g_vm = vm;
  CHECK(acs_script_vm_memory(vm) > 10000);
  CHECK(acs_script_vm_state(vm) != NULL);
  register_hosts(vm);
  test_load(vm);
  CHECK_INT(acs_script_vm_register(vm, NULL, "late", l_host_ask), ACS_ESTATE);
  test_run_basic(vm);
  test_reuse(vm);
  test_isolation(vm);
  test_yield(vm);
  test_allowlist(vm);
  test_differential(vm);
  test_os(vm);
  test_random();
  test_metatables(vm);
  test_bounded(vm);
  test_coroutines(vm);
  acs_script_vm_free(vm);
  test_library();
  test_sealed();
  return acs_test_result("test_script_sandbox");
}
