/* policy_tree.c: a policy tree, from a directory or as JSON (one generation's
 * files: {"provisions/NAME": "text", "presets/NAME": "text"}), compiled into
 * a worker's VM together with the standard library (acs_policy.h). */
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/acs_policy.h"
#include "session/session_internal.h"

#define MAX_FILE (1u << 20)
#define MAX_FILES 4096

typedef struct acs_lualib_file {
  const char *name;
  const char *text;
} acs_lualib_file;
extern const acs_lualib_file acs_lualib[];

/* The .lua files of dir/sub as "sub/NAME" -> text, in the object. */
static int read_sub(const char *dir, const char *sub, json_t *files, char *err, size_t errlen) {
  char path[4096];
  snprintf(path, sizeof path, "%.3000s/%s", dir, sub);
  struct dirent **list = NULL;
  int n = scandir(path, &list, NULL, alphasort);
  if (n < 0) return 0; /* no such folder: nothing of that kind */
  int rc = 0;
  for (int i = 0; i < n; i++) {
    const char *f = list[i]->d_name;
    size_t fl = strlen(f);
    if (rc || fl < 5 || strcmp(f + fl - 4, ".lua") != 0 || f[0] == '.') goto next;
    if (json_object_size(files) >= MAX_FILES) {
      snprintf(err, errlen, "%s: more than %d policy files", dir, MAX_FILES);
      rc = ACS_ERANGE;
      goto next;
    }
    char file[8192];
    snprintf(file, sizeof file, "%.4000s/%.4000s", path, f);
    FILE *fp = fopen(file, "rb");
    struct stat st;
    if (!fp || fstat(fileno(fp), &st) || st.st_size > (off_t)MAX_FILE) {
      snprintf(err, errlen, "%s: %s", file, fp ? "larger than 1 MiB" : "cannot read");
      if (fp) fclose(fp);
      rc = ACS_EINVAL;
      goto next;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t got = text ? fread(text, 1, (size_t)st.st_size, fp) : 0;
    fclose(fp);
    if (!text || got != (size_t)st.st_size) {
      free(text);
      snprintf(err, errlen, "%s: cannot read", file);
      rc = ACS_EINVAL;
      goto next;
    }
    char name[600];
    snprintf(name, sizeof name, "%s/%.*s", sub, (int)(fl - 4), f);
    json_t *t = json_stringn(text, got);
    free(text);
    if (!t) {
      snprintf(err, errlen, "%s: not UTF-8 text", file);
      rc = ACS_EINVAL;
      goto next;
    }
    json_object_set_new(files, name, t);
  next:
    free(list[i]);
  }
  free(list);
  return rc;
}

int acs_policy_read_tree(const char *dir, json_t **out, char *err, size_t errlen) {
  struct stat st;
  *out = NULL;
  if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "%s: not a directory", dir);
    return ACS_EINVAL;
  }
  json_t *files = json_object();
  if (!files) return ACS_ENOMEM;
  int rc = read_sub(dir, "provisions", files, err, errlen);
  if (!rc) rc = read_sub(dir, "presets", files, err, errlen);
  if (!rc) rc = read_sub(dir, "alarms", files, err, errlen);
  if (!rc) rc = read_sub(dir, "jobs", files, err, errlen);
  if (!rc) rc = read_sub(dir, "virtual", files, err, errlen);
  if (rc) {
    json_decref(files);
    return rc;
  }
  *out = files;
  return 0;
}

void acs_policy_checksum(const json_t *files, char out[65]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  /* in name order, so that the same tree always sums the same */
  size_t n = json_object_size(files), k = 0;
  const char **keys = calloc(n + 1, sizeof *keys);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)files, key, v) if (keys) keys[k++] = key;
  for (size_t i = 1; keys && i < k; i++)
    for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
      const char *t = keys[j];
      keys[j] = keys[j - 1];
      keys[j - 1] = t;
    }
  for (size_t i = 0; keys && i < k; i++) {
    json_t *t = json_object_get(files, keys[i]);
    EVP_DigestUpdate(md, keys[i], strlen(keys[i]) + 1);
    EVP_DigestUpdate(md, json_string_value(t), json_string_length(t));
    EVP_DigestUpdate(md, "\n", 1);
  }
  free(keys);
  EVP_DigestFinal_ex(md, d, &dl);
  EVP_MD_CTX_free(md);
  for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void free_names(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* The chunk names that start with prefix, sorted. */
static int names_with(const acs_script_chunk *c, size_t k, const char *prefix, char ***out,
                      size_t *nout) {
  size_t pl = strlen(prefix), n = 0;
  for (size_t i = 0; i < k; i++) n += strncmp(c[i].name, prefix, pl) == 0;
  char **v = calloc(n + 1, sizeof *v);
  if (!v) return ACS_ENOMEM;
  n = 0;
  for (size_t i = 0; i < k; i++) {
    if (strncmp(c[i].name, prefix, pl) != 0) continue;
    if (!(v[n] = strdup(c[i].name))) {
      free_names(v, n);
      return ACS_ENOMEM;
    }
    n++;
  }
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
      char *t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  *out = v;
  *nout = n;
  return 0;
}

int acs_policy_vm_load_json(acs_policy_vm *pv, const json_t *files, char *err, size_t errlen) {
  size_t nlib = 0;
  for (const acs_lualib_file *f = acs_lualib; f->name; f++) nlib++;
  size_t n = nlib + json_object_size(files);
  acs_script_chunk *c = calloc(n + 1, sizeof *c);
  char **libnames = calloc(nlib + 1, sizeof *libnames);
  int rc = ACS_ENOMEM;
  if (!c || !libnames) goto cleanup;
  size_t k = 0;
  for (const acs_lualib_file *f = acs_lualib; f->name; f++, k++) {
    if (!(libnames[k] = malloc(strlen(f->name) + 5))) goto cleanup;
    sprintf(libnames[k], "lib/%s", f->name);
    /* lua/acs.lua is the library every run shares; the others are policies */
    c[k] = (acs_script_chunk){libnames[k], f->text, strlen(f->text), strcmp(f->name, "acs") == 0};
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)files, key, v) {
    if (!json_is_string(v) ||
        (strncmp(key, "provisions/", 11) != 0 && strncmp(key, "presets/", 8) != 0 &&
         strncmp(key, "alarms/", 7) != 0 && strncmp(key, "jobs/", 5) != 0 &&
         strncmp(key, "virtual/", 8) != 0)) {
      snprintf(err, errlen,
               "%s: not a policy file (provisions/, presets/, alarms/, jobs/ or virtual/NAME)",
               key);
      rc = ACS_EINVAL;
      goto cleanup;
    }
    c[k++] = (acs_script_chunk){key, json_string_value(v), json_string_length(v), false};
  }
  if ((rc = acs_script_vm_load_set(pv->vm, c, k, err, errlen))) goto cleanup;
  /* the new generation's presets and alarm rule files, in name order */
  char **names = NULL, **alarms = NULL;
  size_t np = 0, na = 0;
  if ((rc = names_with(c, k, "presets/", &names, &np)) ||
      (rc = names_with(c, k, "alarms/", &alarms, &na))) {
    free_names(names, np);
    goto cleanup;
  }
  free_names(pv->presets, pv->npresets);
  pv->presets = names;
  pv->npresets = np;
  free_names(pv->alarms, pv->nalarms);
  pv->alarms = alarms;
  pv->nalarms = na;
  pv->chunks = k;
  pv->error = false;
cleanup:
  for (size_t i = 0; libnames && i < nlib; i++) free(libnames[i]);
  free(libnames);
  free(c);
  return rc;
}

int acs_policy_vm_reload(acs_policy_vm *pv, const char *dir, char *err, size_t errlen) {
  json_t *files = NULL;
  int rc = acs_policy_read_tree(dir, &files, err, errlen);
  if (!rc) rc = acs_policy_vm_load_json(pv, files, err, errlen);
  json_decref(files);
  return rc;
}

acs_policy_vm *acs_policy_vm_new(const char *dir, char *err, size_t errlen) {
  acs_policy_vm *pv = calloc(1, sizeof *pv);
  if (!pv) return NULL;
  acs_script_vm_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.clock = acs__policy_clock();
  if (!(pv->vm = acs_script_vm_new(&cfg)) || acs__policy_register(pv->vm)) {
    acs_policy_vm_free(pv);
    return NULL;
  }
  pv->error = true;
  if (dir) {
    if (acs_policy_vm_reload(pv, dir, err, errlen)) {
      acs_log(ACS_LOG_ERR, "policy", "policies not loaded: %s", err);
    }
  } else {
    json_t *none = json_object();
    if (!none || acs_policy_vm_load_json(pv, none, err, errlen))
      acs_log(ACS_LOG_ERR, "policy", "the standard library does not load: %s", err);
    json_decref(none);
  }
  return pv;
}

void acs_policy_vm_free(acs_policy_vm *pv) {
  if (!pv) return;
  if (pv->vm) acs_script_vm_free(pv->vm);
  free_names(pv->presets, pv->npresets);
  free_names(pv->alarms, pv->nalarms);
  free(pv->preset_refs);
  free(pv);
}
