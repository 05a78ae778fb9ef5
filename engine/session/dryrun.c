/* dryrun.c: a policy tree run over stored devices without a CPE
 * (acs_dryrun.h).
 *
 * A dry run builds the session a device's next Inform would make (its
 * identity, the stored data model, tags and policy context, as the
 * Inform's read gives them), runs the policy phase of policy.c on it, and
 * answers each planner RPC from a second copy of the stored model: the
 * CPE's side, which SetParameterValues, AddObject and DeleteObject change
 * as a device would. The session's store writes are recorded instead
 * (s->dry: session_store.c hands faults and alarms here, and the
 * worker-less session has no group commit for the rest), so nothing
 * reaches the store or a device. */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/acs_arena.h"
#include "core/acs_err.h"
#include "session/acs_dryrun.h"
#include "session/acs_rpc_json.h"
#include "session/policy_internal.h"
#include "store/migrations_sql.h"

/* What a dry run's session records instead of writing. */
struct acs__dry {
  json_t *report;
  json_t *errors; /* the caller's, or NULL */
  bool all_presets;
  bool match_only; /* which presets match, nothing started */
  json_t *matched; /* match_only: "presets/NAME#K" of each preset that matched */
};

/* clang-format off */
const char acs_dryrun_sample_sql[] =
    "WITH pick AS (\n"
    "  SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY oui, product_class,\n"
    "      software_version, tags ORDER BY last_inform DESC NULLS LAST, id) AS k\n"
    "    FROM devices WHERE $2::text IS NULL) x\n"
    "  ORDER BY k, id LIMIT $1::int),\n"
    "one AS (SELECT id FROM devices WHERE id = $2::text),\n"
    "ids AS (SELECT id FROM pick UNION ALL SELECT id FROM one)\n"
    "SELECT json_build_object('id', d.id, 'oui', d.oui, 'product_class', d.product_class,\n"
    "  'serial_number', d.serial_number, 'manufacturer', d.manufacturer,\n"
    "  'software_version', d.software_version, 'hardware_version', d.hardware_version,\n"
    "  'source_ip', host(d.source_ip), 'refreshed', d.refreshed,\n"
    "  'ctx',\n"
    CTX_HEAD
    "      'alarms', (SELECT coalesce(json_agg(json_build_array(a.rule, a.instance_key)), '[]')\n"
    "          FROM alarms a WHERE a.device_id = d.id AND a.cleared_at IS NULL),\n"
    "      'secrets', (SELECT coalesce(json_agg(json_build_object('name', x.name,\n"
    "          'sealed_hex', encode(x.ciphertext, 'hex'), 'key_id', x.key_id)), '[]')\n"
    "          FROM device_secrets x WHERE x.device_id = d.id),\n"
    "      'events', (SELECT coalesce(json_object_agg(e.code, json_build_array(e.h, e.n)), '{}')\n"
    "          FROM (SELECT code, count(*) FILTER (WHERE received_at > now() - interval '1 hour')\n"
    "              AS h, count(*) AS n FROM events WHERE device_id = d.id\n"
    "              AND received_at > now() - interval '1 day' GROUP BY code) e)),\n"
    "  'params', (SELECT coalesce(json_agg(json_build_array(p.name, p.value, p.xsd_type,\n"
    "      p.writable, p.is_object, p.notification,\n"
    "      (extract(epoch FROM p.value_at) * 1000)::bigint,\n"
    "      (extract(epoch FROM p.names_at) * 1000)::bigint) ORDER BY p.name), '[]')\n"
    "    FROM parameters p WHERE p.device_id = d.id))::text\n"
    "FROM ids JOIN devices d USING (id)";
/* clang-format on */

int64_t acs_dryrun_clock_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- what the session would have written (session_internal.h) */

static json_t *report_list(acs__session *s, const char *key) {
  json_t *l = json_object_get(s->dry->report, key);
  if (!l) {
    l = json_array();
    if (l && json_object_set_new(s->dry->report, key, l)) return NULL;
  }
  return l;
}

/* "provisions/x:3: message" -> file "provisions/x.lua", line 3, the
 * message after it; otherwise the policy's own file and no line. */
static json_t *fault_place(const char *provision, const char *msg) {
  const char *c1 = strchr(msg, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (c1 && c2 && c2 > c1 + 1 && strspn(c1 + 1, "0123456789") == (size_t)(c2 - c1 - 1) &&
      memchr(msg, '/', (size_t)(c1 - msg)) && !memchr(msg, ' ', (size_t)(c1 - msg))) {
    return json_pack("{s:s%+,s:i,s:s}", "file", msg, (size_t)(c1 - msg), ".lua", "line",
                     atoi(c1 + 1), "message", c2[1] == ' ' ? c2 + 2 : c2 + 1);
  }
  char file[200];
  snprintf(file, sizeof file, "%s%s.lua", strchr(provision, '/') ? "" : "provisions/", provision);
  return json_pack("{s:s,s:n,s:s}", "file", file, "line", "message", msg);
}

void acs__dry_fault(acs__session *s, const char *channel, const char *code, const char *message,
                    const char *provision) {
  json_t *f = fault_place(provision ? provision : "?", message ? message : "");
  if (!f) return;
  json_object_set_new(f, "code", json_string(code ? code : "script.error"));
  json_object_set_new(f, "channel", json_string(channel ? channel : "default"));
  json_object_set_new(f, "provision", json_string(provision ? provision : ""));
  json_t *l = report_list(s, "faults");
  if (l) json_array_append(l, f);
  if (s->dry->errors) {
    json_t *e = json_deep_copy(f);
    if (e) {
      json_object_del(e, "provision");
      json_object_set_new(e, "device", json_string(s->device_id));
      json_array_append_new(s->dry->errors, e);
    }
  }
  json_decref(f);
}

void acs__dry_alarm(acs__session *s, const char *rule, const char *key, const char *severity,
                    const char *message) {
  json_t *l = report_list(s, "alarms");
  if (l)
    json_array_append_new(l, json_pack("{s:s,s:s,s:s?,s:s}", "rule", rule, "key", key ? key : "",
                                       "severity", severity, "message", message ? message : ""));
}

void acs__dry_log(acs__session *s, const char *level, const char *message) {
  json_t *l = report_list(s, "logs");
  if (l && json_array_size(l) < 200)
    json_array_append_new(l, json_pack("{s:s,s:s%}", "level", level, "message", message,
                                       strnlen(message, 400)));
}

bool acs__dry_all_presets(const acs__session *s) { return s->dry && s->dry->all_presets; }

bool acs__dry_match_only(const acs__session *s) { return s->dry && s->dry->match_only; }

void acs__dry_matched(acs__session *s, const char *file, long long k) {
  if (!s->dry || !s->dry->matched) return;
  char key[200];
  snprintf(key, sizeof key, "%s#%lld", file, k);
  json_array_append_new(s->dry->matched, json_string(key));
}

/* --- the CPE's side: answers from the stored model */

static void fault(acs_cwmp_msg *rsp, uint32_t code) {
  rsp->kind = ACS_CWMP_FAULT;
  rsp->u.fault.code = code;
  rsp->u.fault.faultcode = code == 9002 ? "Server" : "Client";
  rsp->u.fault.faultstring = "CWMP fault";
}

static bool has(const acs_dm *m, const char *name) {
  if (acs_dm_get(m, name)) return true;
  size_t len = strlen(name), first, end;
  if (len && name[len - 1] != '.') return false;
  acs_dm_range(m, name, &first, &end);
  return first < end;
}

#define RSP_ARRAY(arr, count, a)                                                    \
  do {                                                                              \
    (arr).v = acs_arena_calloc((a), (count) ? (count) : 1, sizeof *(arr).v);        \
    if (!(arr).v) return ACS_ENOMEM;                                                \
  } while (0)

static int answer_gpn(acs_dm *m, const acs_cwmp_gpn *rq, acs_arena *a, acs_cwmp_msg *rsp) {
  const char *path = rq->parameter_path ? rq->parameter_path : "";
  if (*path && !has(m, path)) {
    fault(rsp, 9005);
    return 0;
  }
  size_t first, end, plen = strlen(path);
  bool object = plen == 0 || path[plen - 1] == '.';
  if (object) {
    acs_dm_range(m, path, &first, &end);
  } else {
    const acs_dm_param *p = acs_dm_get(m, path);
    first = (size_t)(p - m->v);
    end = first + 1;
  }
  rsp->kind = ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE;
  acs_cwmp_gpn_response *r = &rsp->u.get_parameter_names_response;
  RSP_ARRAY(r->params, end - first, a);
  for (size_t i = first; i < end; i++) {
    const acs_dm_param *p = &m->v[i];
    if (p->absent) continue;
    if (rq->next_level && object) { /* the children only */
      const char *rest = p->name + plen;
      const char *dot = strchr(rest, '.');
      if (!*rest || (dot && dot[1])) continue;
    }
    r->params.v[r->params.n].name = p->name;
    r->params.v[r->params.n++].writable = p->writable > 0;
  }
  return 0;
}

static int answer_gpv(acs_dm *m, const acs_cwmp_names_req *rq, acs_arena *a, acs_cwmp_msg *rsp) {
  size_t count = 0;
  for (size_t k = 0; k < rq->names.n; k++) {
    const char *n = rq->names.v[k] ? rq->names.v[k] : "";
    if (*n && !has(m, n)) {
      fault(rsp, 9005);
      return 0;
    }
    size_t first, end;
    acs_dm_range(m, n, &first, &end);
    count += end - first;
  }
  rsp->kind = ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE;
  acs_cwmp_param_values *r = &rsp->u.get_parameter_values_response.params;
  RSP_ARRAY(*r, count, a);
  for (size_t k = 0; k < rq->names.n; k++) {
    const char *n = rq->names.v[k] ? rq->names.v[k] : "";
    size_t first, end, len = strlen(n);
    if (len && n[len - 1] != '.') {
      const acs_dm_param *p = acs_dm_get(m, n);
      first = (size_t)(p - m->v);
      end = first + 1;
    } else {
      acs_dm_range(m, n, &first, &end);
    }
    for (size_t i = first; i < end && r->n < count; i++) {
      const acs_dm_param *p = &m->v[i];
      if (p->object || p->absent) continue;
      r->v[r->n].name = p->name;
      r->v[r->n].value = p->value ? p->value : "";
      r->v[r->n++].type = p->type != ACS_XSD_ANY ? p->type : ACS_XSD_STRING;
    }
  }
  return 0;
}

static int answer_spv(acs_dm *m, const acs_cwmp_spv *rq, acs_arena *a, acs_cwmp_msg *rsp,
                      json_t *set) {
  acs_cwmp_fault *f = &rsp->u.fault;
  RSP_ARRAY(f->spv_faults, rq->params.n, a);
  for (size_t k = 0; k < rq->params.n; k++) {
    const acs_cwmp_param_value *v = &rq->params.v[k];
    const acs_dm_param *p = v->name ? acs_dm_get(m, v->name) : NULL;
    uint32_t code = !p || p->object ? 9005 : p->writable == 0 ? 9008 : 0;
    if (!code) continue;
    f->spv_faults.v[f->spv_faults.n].parameter_name = v->name;
    f->spv_faults.v[f->spv_faults.n].string = (char *)acs_cwmp_fault_string(code);
    f->spv_faults.v[f->spv_faults.n++].code = code;
  }
  if (f->spv_faults.n) {
    fault(rsp, 9003);
    return 0;
  }
  for (size_t k = 0; k < rq->params.n; k++) {
    acs_dm_param *p = acs_dm_get(m, rq->params.v[k].name);
    char *value = strdup(rq->params.v[k].value ? rq->params.v[k].value : "");
    if (!value) return ACS_ENOMEM;
    free(p->value);
    p->value = value;
    if (rq->params.v[k].type != ACS_XSD_ANY) p->type = rq->params.v[k].type;
    json_object_set_new(set, p->name, json_string(value));
  }
  memset(&rsp->u, 0, sizeof rsp->u);
  rsp->kind = ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE;
  return 0;
}

/* A new instance of table (ends with '.'): the next number, with the names
 * of the table's lowest instance (values empty), as a device makes them. */
static int answer_add(acs_dm *m, const acs_cwmp_object_req *rq, acs_cwmp_msg *rsp) {
  const char *t = rq->object_name ? rq->object_name : "";
  size_t tl = strlen(t), first, end;
  if (!tl || t[tl - 1] != '.' || !has(m, t)) {
    fault(rsp, 9005);
    return 0;
  }
  acs_dm_range(m, t, &first, &end);
  unsigned long top = 0, low = 0;
  for (size_t i = first; i < end; i++) {
    char *e;
    unsigned long n = strtoul(m->v[i].name + tl, &e, 10);
    if (e == m->v[i].name + tl || *e != '.') continue;
    if (n > top) top = n;
    if (!low || n < low) low = n;
  }
  char name[1024], from[1024];
  int w = snprintf(name, sizeof name, "%s%lu.", t, top + 1);
  snprintf(from, sizeof from, "%s%lu.", t, low);
  if (w < 0 || (size_t)w >= sizeof name) {
    fault(rsp, 9005);
    return 0;
  }
  /* the template's names first (put moves entries: copy them out) */
  size_t ff, fe, fl = strlen(from), n = 0;
  acs_dm_range(m, from, &ff, &fe);
  char **names = low ? calloc(fe - ff + 1, sizeof *names) : NULL;
  int8_t *wr = low ? calloc(fe - ff + 1, 1) : NULL;
  for (size_t i = ff; low && names && wr && i < fe; i++) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s%s", name, m->v[i].name + fl) >= (int)sizeof buf) continue;
    wr[n] = m->v[i].writable;
    names[n++] = strdup(buf);
  }
  int rc = acs_dm_put(m, name) ? 0 : ACS_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    acs_dm_param *p = names[i] ? acs_dm_put(m, names[i]) : NULL;
    if (p && !p->object) {
      p->writable = wr[i];
      if (!p->value) p->value = strdup("");
    }
    free(names[i]);
  }
  free(names);
  free(wr);
  if (rc) return rc;
  rsp->kind = ACS_CWMP_ADD_OBJECT_RESPONSE;
  rsp->u.add_object_response.instance_number = (uint32_t)(top + 1);
  return 0;
}

static int cpe_answer(acs_dm *m, const acs_cwmp_msg *rq, acs_arena *a, acs_cwmp_msg *rsp,
                      json_t *set) {
  memset(rsp, 0, sizeof *rsp);
  switch (rq->kind) {
    case ACS_CWMP_GET_PARAMETER_NAMES:
      return answer_gpn(m, &rq->u.get_parameter_names, a, rsp);
    case ACS_CWMP_GET_PARAMETER_VALUES:
      return answer_gpv(m, &rq->u.get_parameter_values, a, rsp);
    case ACS_CWMP_SET_PARAMETER_VALUES:
      return answer_spv(m, &rq->u.set_parameter_values, a, rsp, set);
    case ACS_CWMP_ADD_OBJECT:
      return answer_add(m, &rq->u.add_object, rsp);
    case ACS_CWMP_DELETE_OBJECT: {
      const char *n = rq->u.delete_object.object_name ? rq->u.delete_object.object_name : "";
      size_t nl = strlen(n);
      if (!nl || n[nl - 1] != '.' || !has(m, n)) {
        fault(rsp, 9005);
        return 0;
      }
      acs_dm_remove_subtree(m, n);
      rsp->kind = ACS_CWMP_DELETE_OBJECT_RESPONSE;
      return 0;
    }
    case ACS_CWMP_SET_PARAMETER_ATTRIBUTES: {
      const acs_cwmp_spa *r = &rq->u.set_parameter_attributes;
      for (size_t k = 0; k < r->params.n; k++)
        if (!r->params.v[k].name || !has(m, r->params.v[k].name)) {
          fault(rsp, 9005);
          return 0;
        }
      for (size_t k = 0; k < r->params.n; k++) {
        acs_dm_param *p = acs_dm_get(m, r->params.v[k].name);
        if (p && r->params.v[k].notification_change)
          p->notification = (int8_t)r->params.v[k].notification;
      }
      rsp->kind = ACS_CWMP_SET_PARAMETER_ATTRIBUTES_RESPONSE;
      return 0;
    }
    default:
      fault(rsp, 9000);
      return 0;
  }
}

/* --- the session */

static const char *jstr(const json_t *o, const char *k) {
  const char *v = json_string_value(json_object_get(o, k));
  return v ? v : "";
}

/* The stored model (rows [name, value, type, writable, object,
 * notification, value_at, names_at]) into dm; with refreshed (the
 * devices.refreshed marks) the times a session would see. */
static int load_model(acs_dm *dm, const json_t *rows, const json_t *refreshed) {
  size_t i;
  json_t *r;
  json_array_foreach(rows, i, r) {
    const char *name = json_string_value(json_array_get(r, 0));
    if (!name) return ACS_EINVAL;
    acs_dm_param *p = acs_dm_put(dm, name);
    if (!p) return ACS_ENOMEM;
    const char *v = json_string_value(json_array_get(r, 1));
    if (v && !(p->value = strdup(v))) return ACS_ENOMEM;
    const char *t = json_string_value(json_array_get(r, 2));
    if (t) {
      const char *colon = strchr(t, ':');
      p->type = acs_cwmp_type_from_name(colon ? colon + 1 : t);
    }
    json_t *w = json_array_get(r, 3);
    if (json_is_boolean(w)) p->writable = json_is_true(w);
    p->object = json_is_true(json_array_get(r, 4));
    json_t *n = json_array_get(r, 5);
    if (json_is_integer(n)) p->notification = (int8_t)json_integer_value(n);
    p->value_at = json_integer_value(json_array_get(r, 6));
    p->names_at = json_integer_value(json_array_get(r, 7));
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)refreshed, k, v) {
    if (!json_is_integer(v)) continue;
    int64_t at = json_integer_value(v);
    bool names = strncmp(k, "#names:", 7) == 0;
    const char *path = names ? k + 7 : k;
    size_t pl = strlen(path), first, end;
    if (names) {
      acs_dm_param *p = acs_dm_get(dm, path);
      if (!p && (pl == 0 || path[pl - 1] == '.')) p = acs_dm_put(dm, path);
      if (p && p->names_at < at) p->names_at = at;
    } else if (pl && path[pl - 1] == '.') {
      acs_dm_range(dm, path, &first, &end);
      for (size_t j = first; j < end; j++)
        if (!dm->v[j].object && dm->v[j].value_at < at) dm->v[j].value_at = at;
    } else {
      acs_dm_param *p = acs_dm_get(dm, path);
      if (p && p->value_at < at) p->value_at = at;
    }
  }
  return 0;
}

static json_t *rpc_entry(const acs_cwmp_msg *rq, const acs_cwmp_msg *rsp) {
  json_t *e = json_pack("{s:s,s:o}", "rpc", acs_cwmp_kind_name(rq->kind), "request",
                        acs_rpc_to_json(rq));
  if (e && rsp->kind == ACS_CWMP_FAULT)
    json_object_set_new(e, "fault", acs_rpc_to_json(rsp));
  else if (e)
    json_object_set_new(e, "response", acs_rpc_to_json(rsp));
  return e;
}

static void tag_diff(json_t *report, const json_t *before, char **tags, size_t ntags) {
  json_t *added = json_array(), *removed = json_array();
  for (size_t i = 0; i < ntags; i++) {
    bool was = false;
    for (size_t k = 0; k < json_array_size(before) && !was; k++) {
      const char *b = json_string_value(json_array_get(before, k));
      was = b && !strcmp(b, tags[i]);
    }
    if (!was) json_array_append_new(added, json_string(tags[i]));
  }
  for (size_t k = 0; k < json_array_size(before); k++) {
    const char *t = json_string_value(json_array_get(before, k));
    bool is = false;
    for (size_t i = 0; t && i < ntags && !is; i++) is = !strcmp(tags[i], t);
    if (t && !is) json_array_append_new(removed, json_string(t));
  }
  json_object_set_new(report, "tags", json_pack("{s:o,s:o}", "added", added, "removed", removed));
}

int acs_dryrun_device(acs_policy_vm *pv, const json_t *device, const acs_dryrun_opts *o,
                      json_t **report, json_t *errors) {
  static const char *const periodic[] = {"2 PERIODIC"};
  const char *id = json_string_value(json_object_get(device, "id"));
  *report = NULL;
  if (!id || !json_is_object(json_object_get(device, "ctx"))) return ACS_EINVAL;
  /* the session's own copy: alarm rules add to its open alarms */
  json_t *ctx = json_deep_copy(json_object_get(device, "ctx"));
  if (!ctx) return ACS_ENOMEM;
  const char *const *events = o->events ? o->events : periodic;
  size_t nevents = o->events ? o->nevents : 1;
  struct acs__dry dry = {json_object(), errors, o->all_presets, o->match_only,
                         o->match_only ? json_array() : NULL};
  acs_app_worker aw;
  acs_session_table t;
  acs__session s;
  acs_dm cpe;
  acs_arena a;
  memset(&aw, 0, sizeof aw);
  memset(&t, 0, sizeof t);
  memset(&s, 0, sizeof s);
  acs_dm_init(&cpe);
  acs_arena_init(&a, 8192);
  aw.app = (acs_app *)o->app;
  t.aw = &aw;
  s.magic = ACS__SESSION_MAGIC;
  s.t = &t;
  s.aw = &aw;
  s.dry = &dry;
  s.with_policies = true;
  s.device_id = (char *)id;
  acs_dm_init(&s.dm);
  acs_arena_init(&s.arena, 4096);
  int rc = ACS_ENOMEM;
  json_t *rpcs = json_array(), *set = json_object(), *evs = json_array();
  if (!dry.report || !rpcs || !set || !evs) goto cleanup;
  /* the Inform a session of the device would start with */
  acs_cwmp_inform *in = &s.inform.u.inform;
  s.inform.kind = ACS_CWMP_INFORM;
  in->device_id.oui = (char *)jstr(device, "oui");
  in->device_id.product_class = (char *)jstr(device, "product_class");
  in->device_id.serial_number = (char *)jstr(device, "serial_number");
  in->device_id.manufacturer = (char *)jstr(device, "manufacturer");
  acs_cwmp_event ev[16];
  for (size_t i = 0; i < nevents && i < 16; i++) {
    ev[i].code = (char *)events[i];
    ev[i].command_key = "";
    json_array_append_new(evs, json_string(events[i]));
  }
  in->events.v = ev;
  in->events.n = nevents < 16 ? nevents : 16;
  const json_t *rows = json_object_get(device, "params");
  if ((rc = load_model(&s.dm, rows, json_object_get(device, "refreshed"))) ||
      (rc = load_model(&cpe, rows, NULL)))
    goto cleanup;
  rc = ACS_ENOMEM;
  const char *root = acs_dm_get(&s.dm, "InternetGatewayDevice.") ||
                             (s.dm.n && !strncmp(s.dm.v[0].name, "InternetGatewayDevice.", 22))
                         ? "InternetGatewayDevice."
                         : "Device.";
  acs_cwmp_param_value ip[2];
  char swn[64], hwn[64];
  snprintf(swn, sizeof swn, "%sDeviceInfo.SoftwareVersion", root);
  snprintf(hwn, sizeof hwn, "%sDeviceInfo.HardwareVersion", root);
  ip[0] = (acs_cwmp_param_value){swn, (char *)jstr(device, "software_version"), ACS_XSD_STRING};
  ip[1] = (acs_cwmp_param_value){hwn, (char *)jstr(device, "hardware_version"), ACS_XSD_STRING};
  in->params.v = ip;
  in->params.n = 2;
  snprintf(s.peer, sizeof s.peer, "%s", jstr(device, "source_ip"));
  s.policy_ctx_json = ctx;
  const json_t *tags = json_object_get(ctx, "tags");
  if (json_array_size(tags) && !(s.tags = calloc(json_array_size(tags), sizeof *s.tags)))
    goto cleanup;
  for (size_t i = 0; i < json_array_size(tags); i++) {
    const char *tg = json_string_value(json_array_get(tags, i));
    if (tg && (s.tags[s.ntags] = strdup(tg))) s.ntags++;
  }
  if (o->match_only) { /* the presets files only: which presets match */
    rc = ACS_ENOMEM;
    if (!dry.matched || !(s.pol = calloc(1, sizeof *s.pol))) goto cleanup;
    acs_arena_init(&s.pol->plan_arena, 8192);
    s.pol->dm_epoch = 1;
    s.pol->started = true;
    s.pol->ctx = json_incref(ctx);
    s.pol->pv = pv;
    if (!(s.pol->run = acs_script_run_new(pv->vm, NULL, &s))) goto cleanup;
    acs__policy_start_presets(&s, pv);
    json_object_set_new(dry.report, "device", json_string(id));
    json_object_set(dry.report, "matched", dry.matched);
    *report = dry.report;
    dry.report = NULL;
    rc = 0;
    goto cleanup;
  }
  /* the policy phase, its RPCs answered from the stored model */
  const char *stopped = NULL;
  acs_cwmp_msg rq, rsp;
  rc = 0;
  while (acs__policy_next(&s, pv, &rq)) {
    if (o->deadline_ms && acs_dryrun_clock_ms() > o->deadline_ms) {
      stopped = "the dry run's time budget was spent";
      rc = ACS_ETIMEOUT;
      break;
    }
    acs_arena_reset(&a);
    if ((rc = cpe_answer(&cpe, &rq, &a, &rsp, set))) break;
    if (json_array_size(rpcs) < 1000) json_array_append_new(rpcs, rpc_entry(&rq, &rsp));
    acs__policy_answer(&s, &rq, &rsp);
  }
  if (rc == ACS_ENOMEM) goto cleanup;
  json_t *actions = s.pol && s.pol->actions ? json_deep_copy(s.pol->actions) : json_array();
  size_t i;
  json_t *act;
  json_array_foreach(actions, i, act) json_object_del(act, "by");
  json_object_set_new(dry.report, "device", json_string(id));
  json_object_set_new(dry.report, "events", json_incref(evs));
  json_object_set_new(dry.report, "rpcs", json_incref(rpcs));
  json_object_set_new(dry.report, "set", json_incref(set));
  json_object_set_new(dry.report, "actions", actions ? actions : json_array());
  tag_diff(dry.report, tags, s.tags, s.ntags);
  acs__policy_log_dropped(&s); /* the cap's summary line, into the report */
  static const char *const lists[] = {"faults", "alarms", "logs"};
  for (size_t k = 0; k < 3; k++) report_list(&s, lists[k]);
  json_object_set_new(dry.report, "stopped", stopped ? json_string(stopped) : json_null());
  *report = dry.report;
  dry.report = NULL;
cleanup:
  acs__policy_free(&s);
  acs_dm_free(&s.dm);
  acs_dm_free(&cpe);
  for (size_t k = 0; k < s.ntags; k++) free(s.tags[k]);
  free(s.tags);
  acs_arena_reset(&a);
  acs_arena_reset(&s.arena);
  json_decref(dry.report);
  json_decref(rpcs);
  json_decref(set);
  json_decref(evs);
  json_decref(ctx);
  json_decref(dry.matched);
  return rc;
}

/* --- a push's dry run */

unsigned acs_dryrun_pool(unsigned n) { return n > 200 ? n + 200 : n * 4 > 200 ? 200 : n * 4; }

/* Which of the pool's devices run (indexes into devices, in pool order,
 * at most want): first, for each preset that matches some device of the
 * pool, the first device it matches unless one picked already does; then
 * the rest in pool order. */
static int pick(acs_policy_vm *pv, const json_t *devices, size_t want, const acs_dryrun_opts *o,
                bool *chosen, size_t *covered) {
  size_t n = json_array_size(devices), have = 0;
  json_t **keys = calloc(n ? n : 1, sizeof *keys);
  json_t *seen = json_object();
  if (!keys || !seen) {
    free(keys);
    json_decref(seen);
    return ACS_ENOMEM;
  }
  acs_dryrun_opts mo = *o;
  mo.match_only = true;
  for (size_t i = 0; i < n; i++) {
    json_t *rep = NULL;
    if (acs_dryrun_device(pv, json_array_get(devices, i), &mo, &rep, NULL) == 0)
      keys[i] = json_incref(json_object_get(rep, "matched"));
    json_decref(rep);
  }
  /* in pool order, a preset not seen yet is first matched by this device */
  for (size_t i = 0; i < n; i++) {
    size_t k;
    json_t *key;
    json_array_foreach(keys[i], k, key) {
      const char *name = json_string_value(key);
      if (!name || json_object_get(seen, name)) continue;
      json_object_set_new(seen, name, json_true());
      if (!chosen[i] && have < want) {
        chosen[i] = true;
        have++;
      }
    }
  }
  *covered = json_object_size(seen);
  for (size_t i = 0; i < n && have < want; i++)
    if (!chosen[i]) {
      chosen[i] = true;
      have++;
    }
  for (size_t i = 0; i < n; i++) json_decref(keys[i]);
  free(keys);
  json_decref(seen);
  return 0;
}

int acs_dryrun_tree(const json_t *files, const json_t *devices, unsigned want, uint32_t budget_ms,
                    const struct acs_app *app, json_t **summary, char *err, size_t errlen) {
  *summary = NULL;
  json_t *errors = json_array();
  acs_policy_vm *pv = errors ? acs_policy_vm_new(NULL, err, errlen) : NULL;
  if (!pv) {
    json_decref(errors);
    return ACS_ENOMEM;
  }
  int rc = acs_policy_vm_load_json(pv, files, err, errlen);
  if (rc) goto out;
  acs_dryrun_opts o = {.app = app, .all_presets = true};
  int64_t start = acs_dryrun_clock_ms();
  o.deadline_ms = start + (budget_ms ? budget_ms : 10000);
  size_t checked = 0, n = json_array_size(devices), covered = 0, runs = 0;
  const char *stopped = NULL;
  bool *chosen = calloc(n ? n : 1, sizeof *chosen);
  if (!chosen || (rc = pick(pv, devices, want, &o, chosen, &covered))) {
    free(chosen);
    rc = ACS_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < n; i++) runs += chosen[i];
  for (size_t i = 0; i < n; i++) {
    if (!chosen[i]) continue;
    if (acs_dryrun_clock_ms() > o.deadline_ms) {
      stopped = "the dry run's time budget was spent";
      break;
    }
    json_t *report = NULL;
    rc = acs_dryrun_device(pv, json_array_get(devices, i), &o, &report, errors);
    json_decref(report);
    if (rc == ACS_ENOMEM) {
      free(chosen);
      goto out;
    }
    if (rc == ACS_ETIMEOUT) {
      stopped = "the dry run's time budget was spent";
      break;
    }
    checked++;
  }
  free(chosen);
  *summary = json_pack("{s:I,s:I,s:I,s:I,s:O,s:s?,s:I}", "devices", (json_int_t)runs, "checked",
                       (json_int_t)checked, "sampled", (json_int_t)n, "presets_matched",
                       (json_int_t)covered, "errors", errors, "stopped", stopped, "ms",
                       (json_int_t)(acs_dryrun_clock_ms() - start));
  rc = *summary ? 0 : ACS_ENOMEM;
out:
  acs_policy_vm_free(pv);
  json_decref(errors);
  return rc;
}

int acs_dryrun_apply(acs_policy_push_stmt *st, const json_t *summary) {
  json_t *audit = json_deep_copy(summary);
  if (!audit) return ACS_ENOMEM;
  json_t *errors = json_object_get(summary, "errors");
  /* the audit row keeps the counts, not every error */
  json_object_set_new(audit, "errors", json_integer((json_int_t)json_array_size(errors)));
  free(st->dry_text);
  st->dry_text = json_dumps(audit, JSON_COMPACT);
  json_decref(audit);
  if (!st->dry_text) return ACS_ENOMEM;
  st->params[10] = st->dry_text;
  if (!st->valid || json_array_size(errors) == 0) return 0;
  const json_t *e0 = json_array_get(errors, 0);
  const char *file = jstr(e0, "file");
  size_t fl = strlen(file);
  /* the store keeps the policy's name ("provisions/x"); the API adds .lua */
  json_t *ej = json_pack("{s:s%,s:O,s:s,s:s,s:O}", "file", file,
                         fl > 4 && !strcmp(file + fl - 4, ".lua") ? fl - 4 : fl, "line",
                         json_object_get(e0, "line"), "message", jstr(e0, "message"), "device",
                         jstr(e0, "device"), "dry_run", errors);
  char *text = ej ? json_dumps(ej, JSON_COMPACT) : NULL;
  json_decref(ej);
  if (!text) return ACS_ENOMEM;
  free(st->error_text);
  st->error_text = text;
  free(st->findings_text);
  st->findings_text = NULL;
  json_t *line = json_object_get(e0, "line");
  if (json_is_integer(line))
    snprintf(st->error, sizeof st->error, "%s:%lld: %s (device %s)", file,
             (long long)json_integer_value(line), jstr(e0, "message"), jstr(e0, "device"));
  else
    snprintf(st->error, sizeof st->error, "%s: %s (device %s)", file, jstr(e0, "message"),
             jstr(e0, "device"));
  st->valid = false;
  st->params[4] = "f";
  st->params[5] = st->error_text;
  st->params[8] = NULL;
  return 0;
}

void acs_dryrun_print(const json_t *errors, size_t max, FILE *f) {
  size_t i;
  json_t *e;
  json_array_foreach(errors, i, e) {
    if (i == max) {
      fprintf(f, "  ... and %zu more\n", json_array_size(errors) - max);
      break;
    }
    json_t *line = json_object_get(e, "line");
    if (json_is_integer(line))
      fprintf(f, "  %s:%lld: device %s: %s\n", jstr(e, "file"), (long long)json_integer_value(line),
              jstr(e, "device"), jstr(e, "message"));
    else
      fprintf(f, "  %s: device %s: %s\n", jstr(e, "file"), jstr(e, "device"), jstr(e, "message"));
  }
}

int acs_dryrun_push_blocking(void *pgconn, const json_t *files, unsigned devices, uint32_t budget_ms,
                             acs_policy_push_stmt *st, json_t **summary, char *err, size_t errlen) {
  PGconn *pg = pgconn;
  char n[16];
  snprintf(n, sizeof n, "%u", acs_dryrun_pool(devices));
  const char *params[2] = {n, NULL};
  if (summary) *summary = NULL;
  PGresult *res = PQexecParams(pg, acs_dryrun_sample_sql, 2, NULL, params, NULL, NULL, 0);
  if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
    snprintf(err, errlen, "dry run: %s", res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    PQclear(res);
    return ACS_EPG;
  }
  json_t *rows = json_array(), *sum = NULL;
  for (int i = 0; rows && i < PQntuples(res); i++) {
    json_t *d = json_loads(PQgetvalue(res, i, 0), 0, NULL);
    if (!d || json_array_append_new(rows, d)) {
      json_decref(rows);
      rows = NULL;
    }
  }
  PQclear(res);
  if (!rows) return ACS_ENOMEM;
  char cerr[512];
  int rc = acs_dryrun_tree(files, rows, devices, budget_ms, NULL, &sum, cerr, sizeof cerr);
  json_decref(rows);
  if (rc == ACS_EINVAL) return 0; /* does not compile: the push says so */
  if (rc == 0) rc = acs_dryrun_apply(st, sum);
  if (rc == 0 && summary)
    *summary = sum;
  else
    json_decref(sum);
  return rc;
}
