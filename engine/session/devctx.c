/* devctx.c: a device's policy context kept between sessions (acs_devctx.h). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "session/acs_devctx.h"

#define DAY_MINUTES 1440u
#define HOUR_MINUTES 60u

void acs_devctx_free(acs_devctx *c) {
  for (size_t i = 0; i < c->ncodes; i++) {
    free(c->codes[i].code);
    free(c->codes[i].m);
  }
  free(c->codes);
  json_decref(c->json);
  *c = (acs_devctx)ACS_DEVCTX_INIT;
}

static acs_devctx_code *code_of(acs_devctx *c, const char *code) {
  for (size_t i = 0; i < c->ncodes; i++)
    if (strcmp(c->codes[i].code, code) == 0) return &c->codes[i];
  acs_devctx_code *v = realloc(c->codes, (c->ncodes + 1) * sizeof *v);
  if (!v) return NULL;
  c->codes = v;
  acs_devctx_code *k = &v[c->ncodes];
  memset(k, 0, sizeof *k);
  if (!(k->code = strdup(code))) return NULL;
  c->ncodes++;
  return k;
}

/* count events at minute; minutes arrive in order, or within the last one */
static int add_minute(acs_devctx_code *k, uint32_t minute, uint32_t count) {
  if (k->n && k->m[k->n - 1].minute >= minute) {
    for (size_t i = k->n; i-- > 0;) {
      if (k->m[i].minute == minute) {
        k->m[i].count += count;
        return 0;
      }
      if (k->m[i].minute < minute) break;
    }
  }
  if (k->n == k->cap) {
    size_t cap = k->cap ? k->cap * 2 : 4;
    acs_devctx_minute *m = realloc(k->m, cap * sizeof *m);
    if (!m) return ACS_ENOMEM;
    k->m = m;
    k->cap = cap;
  }
  size_t at = k->n;
  while (at > 0 && k->m[at - 1].minute > minute) at--;
  memmove(&k->m[at + 1], &k->m[at], (k->n - at) * sizeof *k->m);
  k->m[at] = (acs_devctx_minute){minute, count};
  k->n++;
  return 0;
}

int acs_devctx_load(acs_devctx *c, const char *json_text, int64_t gen) {
  acs_devctx_free(c);
  json_t *j = json_loads(json_text, 0, NULL);
  if (!json_is_object(j)) {
    json_decref(j);
    return ACS_EINVAL;
  }
  c->json = j;
  c->gen = gen;
  c->json_bytes = 4 * strlen(json_text); /* jansson's nodes: about four times the text */
  const char *code;
  json_t *list;
  json_object_foreach(json_object_get(j, "event_minutes"), code, list) {
    acs_devctx_code *k = code_of(c, code);
    if (!k) goto nomem;
    for (size_t i = 0; i < json_array_size(list); i++) {
      const json_t *p = json_array_get(list, i);
      json_int_t m = json_integer_value(json_array_get(p, 0));
      json_int_t n = json_integer_value(json_array_get(p, 1));
      if (m <= 0 || m > UINT32_MAX || n <= 0 || n > UINT32_MAX) continue;
      if (add_minute(k, (uint32_t)m, (uint32_t)n)) goto nomem;
    }
  }
  json_object_del(j, "event_minutes");
  return 0;
nomem:
  acs_devctx_free(c);
  return ACS_ENOMEM;
}

static uint32_t minute_of(int64_t ms) { return ms > 0 ? (uint32_t)(ms / 60000) : 0; }

int acs_devctx_add_event(acs_devctx *c, const char *code, int64_t now_ms) {
  acs_devctx_code *k = code_of(c, code ? code : "");
  return k ? add_minute(k, minute_of(now_ms), 1) : ACS_ENOMEM;
}

void acs_devctx_booted(acs_devctx *c, bool boot, bool bootstrap, int64_t now_ms) {
  if (!c->json) return;
  if (boot) json_object_set_new(c->json, "last_boot", json_integer(now_ms));
  if (bootstrap) json_object_set_new(c->json, "last_bootstrap", json_integer(now_ms));
}

int acs_devctx_count(acs_devctx *c, int64_t now_ms) {
  uint32_t now = minute_of(now_ms);
  json_t *events = json_object();
  if (!events) return ACS_ENOMEM;
  int rc = 0;
  for (size_t i = 0; i < c->ncodes; i++) {
    acs_devctx_code *k = &c->codes[i];
    size_t old = 0;
    while (old < k->n && k->m[old].minute + DAY_MINUTES <= now) old++;
    memmove(k->m, k->m + old, (k->n - old) * sizeof *k->m);
    k->n -= old;
    json_int_t hour = 0, day = 0;
    for (size_t j = 0; j < k->n; j++) {
      day += k->m[j].count;
      if (k->m[j].minute + HOUR_MINUTES > now) hour += k->m[j].count;
    }
    if (day && json_object_set_new(events, k->code, json_pack("[I, I]", hour, day))) rc = ACS_ENOMEM;
  }
  if (!c->json) {
    json_decref(events);
    return rc;
  }
  return json_object_set_new(c->json, "events", events) ? ACS_ENOMEM : rc;
}

size_t acs_devctx_bytes(const acs_devctx *c) {
  size_t b = sizeof *c + c->json_bytes;
  for (size_t i = 0; i < c->ncodes; i++)
    b += sizeof c->codes[i] + strlen(c->codes[i].code) + 1 + c->codes[i].cap * sizeof *c->codes[i].m;
  return b;
}
