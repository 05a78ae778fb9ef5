/* policy_secrets.c: values a policy sets and must know again although the
 * CPE never shows them (passwords read back empty): sealed with the
 * instance's key (core/acs_secret.h) into device_secrets, under the
 * parameter's path, once the CPE accepted the SetParameterValues; their
 * plaintext is never written to the parameters table. The connection
 * request client opens the same rows (engine/connreq).
 *
 *   acs.secret(name)              -> the value, or nil and why ("no secret key" when
 *                                    acsd runs without one, "none stored", ...)
 *   acs.secret_set(name, v, decl) -- sealed when declaration decl succeeded
 *   acs.random_secret(n)          -> n random characters of [A-Za-z0-9] */
#include <lauxlib.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/acs_app.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "core/acs_secret.h"
#include "session/policy_internal.h"

static const acs_secret_key *key_of(lua_State *L, acs__session *s) {
  const acs_secret_key *k = acs_app_secret_key(s->t->aw->app);
  if (!k) luaL_error(L, "no secret key: acsd runs without secret_key_file");
  return k;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* This session's value for name: set in this session, else stored. */
static int open_secret(acs__session *s, const acs_secret_key *k, const char *name, acs_buf *out,
                       const char **why) {
  const json_t *mine = s->pol->secrets;
  for (size_t i = json_array_size(mine); i-- > 0;) {
    const json_t *e = json_array_get(mine, i);
    if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0) {
      acs_buf_puts(out, json_string_value(json_object_get(e, "value")));
      return acs_buf_err(out) ? ACS_ENOMEM : 0;
    }
  }
  const json_t *list = json_object_get(s->pol->ctx, "secrets");
  for (size_t i = 0; i < json_array_size(list); i++) {
    const json_t *e = json_array_get(list, i);
    const char *n = json_string_value(json_object_get(e, "name"));
    if (!n || strcmp(n, name) != 0) continue;
    const char *kid = json_string_value(json_object_get(e, "key_id"));
    if (!kid || strcmp(kid, k->id) != 0) {
      *why = "sealed under another key";
      return ACS_EINVAL;
    }
    const char *hex = json_string_value(json_object_get(e, "sealed_hex"));
    size_t hl = hex ? strlen(hex) : 0;
    unsigned char *ct = malloc(hl / 2 + 1);
    if (!ct) return ACS_ENOMEM;
    size_t len = 0;
    bool ok = hl % 2 == 0;
    for (size_t j = 0; ok && j < hl; j += 2) {
      int hi = hexval(hex[j]), lo = hexval(hex[j + 1]);
      ok = hi >= 0 && lo >= 0;
      ct[len++] = (unsigned char)(hi * 16 + lo);
    }
    acs_buf aad = ACS_BUF_INIT;
    acs_secret_aad(s->device_id, name, &aad);
    int rc = ok && !acs_buf_err(&aad) ? acs_secret_open(k, aad.data, ct, len, out) : ACS_EINVAL;
    acs_buf_free(&aad);
    free(ct);
    if (rc == ACS_EINVAL) *why = "does not open (altered, or copied from elsewhere)";
    return rc;
  }
  *why = "none stored";
  return ACS_ENOTFOUND;
}

int l_acs_secret(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
  const char *name = luaL_checkstring(L, 1);
  const acs_secret_key *k = acs_app_secret_key(s->t->aw->app);
  if (!k) {
    lua_pushnil(L);
    lua_pushstring(L, "no secret key");
    return 2;
  }
  /* the lists scanned and a decryption (of at most 4 KiB) */
  acs_script_charge(L, 500 + json_array_size(s->pol->secrets) +
                           json_array_size(json_object_get(s->pol->ctx, "secrets")));
  acs_buf b = ACS_BUF_INIT;
  const char *why = "out of memory";
  int rc = open_secret(s, k, name, &b, &why);
  if (rc == 0) {
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    acs_secret_buf_free(&b);
    return 1;
  }
  acs_secret_buf_free(&b);
  if (rc == ACS_ENOMEM) return luaL_error(L, "out of memory");
  lua_pushnil(L);
  lua_pushstring(L, why);
  return 2;
}

int l_acs_secret_set(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
  const char *name = luaL_checkstring(L, 1);
  size_t vl;
  const char *value = luaL_checklstring(L, 2, &vl);
  lua_Integer decl = luaL_checkinteger(L, 3);
  key_of(L, s);
  if (strlen(name) > 256 || vl > 4096 || strlen(value) != vl)
    return luaL_error(L, "a secret's name is at most 256 bytes, its value 4096 (no NUL)");
  if (decl < 1 || (size_t)decl > s->pol->ndecls) return luaL_error(L, "no such declaration");
  acs_script_charge_host(L, 128 + strlen(name) + vl);
  if (!s->pol->secrets) s->pol->secrets = json_array();
  json_t *e = json_pack("{s:s, s:s, s:I}", "name", name, "value", value, "decl", (json_int_t)decl);
  if (!e || json_array_append_new(s->pol->secrets, e)) return luaL_error(L, "out of memory");
  return 0;
}

int l_acs_random_secret(lua_State *L) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  lua_Integer n = luaL_optinteger(L, 1, 20);
  if (n < 8 || n > 256) return luaL_error(L, "random_secret: 8 to 256 characters");
  acs_script_charge(L, 500); /* a draw from the random generator */
  unsigned char raw[256];
  char out[257];
  size_t k = 0;
  while (k < (size_t)n) { /* rejection sampling: no bias towards the first letters */
    if (RAND_bytes(raw, sizeof raw) != 1) return luaL_error(L, "no random bytes");
    for (size_t i = 0; i < sizeof raw && k < (size_t)n; i++)
      if (raw[i] < 248) out[k++] = alphabet[raw[i] % 62];
  }
  lua_pushlstring(L, out, k);
  OPENSSL_cleanse(out, sizeof out);
  OPENSSL_cleanse(raw, sizeof raw);
  return 1;
}

bool acs__policy_is_secret(const acs__session *s, const char *name) {
  const json_t *mine = s->pol ? s->pol->secrets : NULL;
  for (size_t i = 0; i < json_array_size(mine); i++)
    if (strcmp(json_string_value(json_object_get(json_array_get(mine, i), "name")), name) == 0)
      return true;
  return false;
}

static const char sql_secret[] =
    "INSERT INTO device_secrets (device_id, name, ciphertext, key_id)\n"
    "VALUES ($1, $2, decode($3, 'hex'), $4)\n"
    "ON CONFLICT (device_id, name) DO UPDATE SET ciphertext = excluded.ciphertext,\n"
    "  key_id = excluded.key_id, set_at = now()";

void acs__policy_flush_secrets(acs__session *s) {
  acs__policy *p = s->pol;
  const acs_secret_key *k = acs_app_secret_key(s->t->aw->app);
  for (size_t i = 0; k && i < json_array_size(p->secrets); i++) {
    const json_t *e = json_array_get(p->secrets, i);
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *value = json_string_value(json_object_get(e, "value"));
    json_int_t decl = json_integer_value(json_object_get(e, "decl"));
    pdecl *d = &p->decls[decl - 1];
    if (d->failed || acs__policy_needs_work(s, d)) {
      acs_log(ACS_LOG_WARN, "policy", "%s: secret %s not kept: the CPE did not take it",
              s->device_id, name);
      continue;
    }
    acs_buf aad = ACS_BUF_INIT, sealed = ACS_BUF_INIT, hex = ACS_BUF_INIT;
    acs_secret_aad(s->device_id, name, &aad);
    int rc = acs_buf_err(&aad) ? ACS_ENOMEM
                               : acs_secret_seal(k, aad.data, value, strlen(value), &sealed);
    for (size_t j = 0; rc == 0 && j < sealed.len; j++)
      acs_buf_printf(&hex, "%02x", (unsigned char)sealed.data[j]);
    if (rc == 0 && acs_buf_err(&hex)) rc = ACS_ENOMEM;
    if (rc == 0) {
      const char *params[4] = {s->device_id, name, hex.data, k->id};
      rc = acs__sess_store_sql(s, sql_secret, 4, params, NULL, NULL, NULL);
    }
    if (rc)
      acs_log(ACS_LOG_WARN, "policy", "%s: secret %s not kept: %s", s->device_id, name,
              acs_strerror(rc));
    acs_buf_free(&aad);
    acs_buf_free(&sealed);
    acs_buf_free(&hex);
  }
}
