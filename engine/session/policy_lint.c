/* policy_lint.c: a tree's static checks at push (acs_policy.h,
 * docs/policies.md "Checked before it serves"). Every file of the tree is
 * checked by acs_script_lint against the scratch VM the tree was just
 * compiled in, so the names allowed are exactly those of the sandbox and
 * of this tree's library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "script/acs_script_lint.h"
#include "session/acs_policy.h"

typedef struct lint_ud {
  const char *file;
  json_t *out;
  bool oom;
} lint_ud;

static void finding_cb(void *ud, int line, const char *message) {
  lint_ud *u = ud;
  if (json_array_append_new(
          u->out, json_pack("{s:s,s:i,s:s}", "file", u->file, "line", line, "message", message)))
    u->oom = true;
}

int acs_policy_lint_tree(acs_policy_vm *pv, const json_t *files, json_t *findings, char *err,
                         size_t errlen) {
  const char *name;
  json_t *v;
  /* in name order, as the tree compiles */
  const char **names = NULL;
  size_t n = 0, cap = json_object_size(files);
  if (cap && !(names = malloc(cap * sizeof *names))) return ACS_ENOMEM;
  json_object_foreach((json_t *)files, name, v) names[n++] = name;
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      const char *t = names[j];
      names[j] = names[j - 1];
      names[j - 1] = t;
    }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    v = json_object_get(files, names[i]);
    lint_ud u = {names[i], findings, false};
    int r = acs_script_lint(pv->vm, names[i], json_string_value(v), json_string_length(v),
                            finding_cb, &u, err, errlen);
    if (r < 0) rc = r;
    if (u.oom) rc = ACS_ENOMEM;
  }
  free(names);
  return rc;
}
