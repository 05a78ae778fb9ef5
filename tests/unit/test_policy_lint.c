/* test_policy_lint: the static checks of a push (engine/script/lint.c,
 * engine/session/policy_lint.c): unknown globals read or written, API
 * names shadowed, unknown or written fields of the read-only API tables,
 * each with its line, in the main chunk and in nested functions, in the
 * short and the long (beyond 255 constants) forms of a global access; the
 * shipped policies/ pass clean; a finding refuses a push unless forced. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs_test.h"
#include "core/acs_err.h"
#include "script/acs_script_lint.h"
#include "session/acs_policy.h"

typedef struct seen {
  int n;
  int line[32];
  char msg[32][300];
} seen;

static void cb(void *ud, int line, const char *message) {
  seen *s = ud;
  if (s->n < 32) {
    s->line[s->n] = line;
    snprintf(s->msg[s->n], sizeof s->msg[0], "%s", message);
  }
  s->n++;
}

static int lint(acs_policy_vm *pv, const char *text, seen *s) {
  char err[512] = "";
  memset(s, 0, sizeof *s);
  int rc = acs_script_lint(pv->vm, "provisions/t", text, strlen(text), cb, s, err, sizeof err);
  if (rc < 0) fprintf(stderr, "lint: %s\n", err);
  return rc;
}

int main(void) {
  char err[512] = "";
  acs_policy_vm *pv = acs_policy_vm_new(NULL, err, sizeof err);
  CHECK(pv != NULL);
  if (!pv) return acs_test_result("test_policy_lint");
  seen s;

  /* what the sandbox has: the API, the library's globals and lazy ones, _G */
  CHECK_INT(lint(pv,
                 "local args = ...\n"
                 "declare('Device.X', {value = 1})\n"
                 "local d = device.id\n"
                 "if has_tag('x') then set('Device.Y', string.format('%d', os.time())) end\n"
                 "local t = {} table.insert(t, math.max(1, 2)) _G.print_me = nil\n"
                 "acs.log('info', 'x') log('info', SEVERITIES[1] or '')\n"
                 "local ok = pcall(function() return tostring(args) .. d end)\n"
                 "local s = ('x'):rep(2) commit()\n",
                 &s),
            0);
  for (int i = 0; i < s.n && i < 32; i++)
    fprintf(stderr, "unexpected: %d: %s\n", s.line[i], s.msg[i]);

  /* each kind of finding, with its line */
  CHECK_INT(lint(pv,
                 "local x = 1\n"
                 "foo(x)\n"                /* 2: unknown global */
                 "counter = 2\n"           /* 3: setting unknown */
                 "local f = string.dump\n" /* 4: unknown field */
                 "acs.nothing()\n"         /* 5: unknown field of the API */
                 "declare = nil\n"         /* 6: shadows */
                 "string.extra = 1\n"      /* 7: setting a field */
                 "local function g()\n"
                 "  return bar + 1\n" /* 9: in a nested function */
                 "end\n"
                 "local o = os.execute\n", /* 11: os has no execute */
                 &s),
            8);
  CHECK_INT(s.line[0], 2);
  CHECK_STR(s.msg[0], "unknown global 'foo'");
  CHECK_INT(s.line[1], 3);
  CHECK_STR(s.msg[1], "setting unknown global 'counter' (use a local)");
  CHECK_INT(s.line[2], 4);
  CHECK_STR(s.msg[2], "unknown field 'dump' of global 'string'");
  CHECK_INT(s.line[3], 5);
  CHECK_STR(s.msg[3], "unknown field 'nothing' of global 'acs'");
  CHECK_INT(s.line[4], 6);
  CHECK_STR(s.msg[4], "setting global 'declare' shadows the API's");
  CHECK_INT(s.line[5], 7);
  CHECK_STR(s.msg[5], "setting field 'extra' of read-only global 'string'");
  /* in line order, though nested functions come first in the dump */
  CHECK_INT(s.line[6], 9);
  CHECK_STR(s.msg[6], "unknown global 'bar'");
  CHECK_INT(s.line[7], 11);
  CHECK_STR(s.msg[7], "unknown field 'execute' of global 'os'");

  /* beyond 255 constants a global access takes the long form */
  char big[16384];
  size_t n = (size_t)snprintf(big, sizeof big, "local t = {");
  for (int i = 0; i < 300; i++) n += (size_t)snprintf(big + n, sizeof big - n, "'k%d', ", i);
  snprintf(big + n, sizeof big - n,
           "}\nlocal y = zzz_missing\nzzz_written = 1\nlog('info', 'x')\n");
  CHECK_INT(lint(pv, big, &s), 2);
  CHECK_INT(s.line[0], 2);
  CHECK_STR(s.msg[0], "unknown global 'zzz_missing'");
  CHECK_INT(s.line[1], 3);
  CHECK_STR(s.msg[1], "setting unknown global 'zzz_written' (use a local)");

  /* a syntax error is the compiler's message */
  memset(&s, 0, sizeof s);
  CHECK_INT(acs_script_lint(pv->vm, "provisions/t", "x = = 1", 7, cb, &s, err, sizeof err),
            ACS_EINVAL);
  CHECK(strncmp(err, "provisions/t:1:", 15) == 0);
  acs_policy_vm_free(pv);

  /* the shipped policies pass clean */
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/policies",
           getenv("ACS_SOURCE_DIR") ? getenv("ACS_SOURCE_DIR") : "..");
  json_t *files = NULL;
  CHECK_INT(acs_policy_read_tree(dir, &files, err, sizeof err), 0);
  acs_policy_push_stmt st;
  CHECK_INT(acs_policy_push_prepare(files, "test", NULL, false, 0, &st), 0);
  CHECK(st.valid);
  CHECK_INT((long long)st.findings, 0);
  if (!st.valid) fprintf(stderr, "policies/: %s\n", st.error);
  acs_policy_push_stmt_free(&st);

  /* a finding refuses the tree, with file and line; force lets it through */
  json_object_set_new(files, "provisions/bad", json_string("-- bad\nlocal v = undefined_thing\n"));
  CHECK_INT(acs_policy_push_prepare(files, "test", NULL, false, 0, &st), 0);
  CHECK(!st.valid);
  CHECK_STR(st.error, "provisions/bad:2: unknown global 'undefined_thing'");
  CHECK(st.error_text && strstr(st.error_text, "provisions/bad.lua:2: unknown global"));
  CHECK(st.findings_text == NULL);
  acs_policy_push_stmt_free(&st);
  CHECK_INT(acs_policy_push_prepare(files, "test", NULL, true, 0, &st), 0);
  CHECK(st.valid);
  CHECK_INT((long long)st.findings, 1);
  CHECK(st.findings_text && strstr(st.findings_text, "undefined_thing"));
  CHECK(st.error_text == NULL);
  acs_policy_push_stmt_free(&st);
  json_decref(files);
  return acs_test_result("test_policy_lint");
}
