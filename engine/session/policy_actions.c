/* policy_actions.c: what policies ask for beyond declarations.
 *
 * One-shot actions (Reboot, FactoryReset, Download, Upload,
 * ScheduleInform) happen once per key: the session's policy context lists
 * the actions policies asked for before (tasks created by 'policy:NAME',
 * their CommandKey the key), so asking again only reads the state of the
 * first; a new one is queued and, when the policy phase is over, created
 * as a task in the store before its RPC goes out in the same session
 * (acs__policy_flush_actions). A crash between the two leaves a pending
 * task that the next session sends; one already sent and never answered
 * becomes 'done' or 'unknown' as any task does, and is never sent twice.
 *
 * Tags change in the store at once (group commit) and in the session's
 * copy; clear() forgets what the engine knows of a subtree for the rest of
 * the session; virtual parameters run virtual/NAME.lua in the caller's
 * coroutine and keep their values in the parameters table as
 * VirtualParameters.NAME, readable through the API like any other. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "files/acs_files.h"
#include "script/acs_script.h"
#include "session/acs_rpc_json.h"
#include "session/policy_internal.h"
#include "store/acs_pg.h"

#define ACTION_KEY_MAX 32 /* a CommandKey is a string(32) */
#define TAG_MAX 128
#define VIRTUAL_PREFIX "VirtualParameters."

/* --- JSON <-> Lua */

void acs__policy_push_json(lua_State *L, const json_t *v, int depth) {
  luaL_checkstack(L, 4, "json");
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      if (depth <= 0) break;
      lua_createtable(L, 0, (int)json_object_size(v));
      const char *k;
      json_t *x;
      json_object_foreach((json_t *)v, k, x) {
        acs__policy_push_json(L, x, depth - 1);
        lua_setfield(L, -2, k);
      }
      return;
    }
    case JSON_ARRAY: {
      if (depth <= 0) break;
      lua_createtable(L, (int)json_array_size(v), 0);
      for (size_t i = 0; i < json_array_size(v); i++) {
        acs__policy_push_json(L, json_array_get(v, i), depth - 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      return;
    }
    case JSON_STRING:
      lua_pushlstring(L, json_string_value(v), json_string_length(v));
      return;
    case JSON_INTEGER:
      lua_pushinteger(L, (lua_Integer)json_integer_value(v));
      return;
    case JSON_REAL:
      lua_pushnumber(L, json_real_value(v));
      return;
    case JSON_TRUE:
    case JSON_FALSE:
      lua_pushboolean(L, json_is_true(v));
      return;
    default:
      break;
  }
  lua_pushnil(L);
}

/* A policy's table of plain values (strings, numbers, booleans) as a JSON
 * object; raises on anything else. */
static json_t *args_object(lua_State *L, int idx) {
  if (!lua_isnoneornil(L, idx)) {
    luaL_checktype(L, idx, LUA_TTABLE);
    /* the JSON to be made is the engine's memory: charged before it is
     * made (a charge may raise, and nothing must be left to free then) */
    size_t bytes = 64;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      bytes += 64 + lua_rawlen(L, -2) + (lua_type(L, -1) == LUA_TSTRING ? lua_rawlen(L, -1) : 0);
      lua_pop(L, 1);
    }
    acs_script_charge_host(L, bytes);
  }
  json_t *o = json_object();
  if (!o) luaL_error(L, "out of memory");
  if (lua_isnoneornil(L, idx)) return o;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      json_decref(o);
      luaL_error(L, "action arguments: keys must be names");
    }
    const char *k = lua_tostring(L, -2);
    json_t *v = NULL;
    switch (lua_type(L, -1)) {
      case LUA_TSTRING:
        v = json_string(lua_tostring(L, -1));
        break;
      case LUA_TBOOLEAN:
        v = json_boolean(lua_toboolean(L, -1));
        break;
      case LUA_TNUMBER:
        v = lua_isinteger(L, -1) ? json_integer((json_int_t)lua_tointeger(L, -1))
                                 : json_real(lua_tonumber(L, -1));
        break;
      default:
        json_decref(o);
        luaL_error(L, "action arguments: '%s' must be a string, number or boolean", k);
    }
    if (!v || json_object_set_new(o, k, v)) {
      json_decref(o);
      luaL_error(L, "action arguments: '%s' is not valid (UTF-8 text expected)", k);
    }
    lua_pop(L, 1);
  }
  return o;
}

/* --- one-shot actions */

static const char *const action_rpcs[] = {"Reboot", "FactoryReset",   "Download",
                                          "Upload", "ScheduleInform", NULL};

/* Is this session's TransferComplete the answer to the transfer action
 * a (its key, a Download or Upload)? The session's policy context was read
 * before the TransferComplete arrived, so a says 'sent' still; the store
 * ends the task as the TransferComplete says (session_store.c,
 * sql_transfer_done), and so does action_status() in this very session, so
 * that a retry goes out now rather than one session late. */
static bool transfer_answers(const acs__session *s, const json_t *a, const char *key) {
  if (!s->had_tc || !s->tc.command_key || strcmp(s->tc.command_key, key) != 0) return false;
  const char *rpc = json_string_value(json_object_get(a, "rpc"));
  const char *st = json_string_value(json_object_get(a, "status"));
  return rpc && st && (!strcmp(rpc, "Download") || !strcmp(rpc, "Upload")) &&
         (!strcmp(st, "sent") || !strcmp(st, "unknown"));
}

/* The state of the action with key: from the store (asked in an earlier
 * session, as this session's TransferComplete ends it) or this session's
 * queue. Pushes state, fault code, fault string and returns 3, or
 * returns 0. */
static int push_action_state(lua_State *L, acs__session *s, const char *key) {
  acs__policy *p = s->pol;
  const json_t *list = json_object_get(p->ctx, "actions");
  acs_script_charge(L, 1 + json_array_size(list) + json_array_size(p->actions));
  for (size_t i = 0; i < json_array_size(list); i++) {
    const json_t *a = json_array_get(list, i);
    const char *k = json_string_value(json_object_get(a, "key"));
    if (!k || strcmp(k, key) != 0) continue;
    if (transfer_answers(s, a, key)) {
      bool failed = s->tc.fault.code > 0;
      lua_pushstring(L, failed ? "fault" : "done");
      if (failed) {
        lua_pushinteger(L, (lua_Integer)s->tc.fault.code);
        lua_pushstring(L, s->tc.fault.string ? s->tc.fault.string : "");
      } else {
        lua_pushnil(L);
        lua_pushnil(L);
      }
      return 3;
    }
    const char *st = json_string_value(json_object_get(a, "status"));
    lua_pushstring(L, st ? st : "unknown");
    const json_t *code = json_object_get(a, "fault_code");
    if (json_is_integer(code)) {
      lua_pushinteger(L, (lua_Integer)json_integer_value(code));
    } else {
      lua_pushnil(L);
    }
    const char *msg = json_string_value(json_object_get(a, "fault_string"));
    if (msg) {
      lua_pushstring(L, msg);
    } else {
      lua_pushnil(L);
    }
    return 3;
  }
  for (size_t i = 0; i < json_array_size(p->actions); i++) {
    const char *k = json_string_value(json_object_get(json_array_get(p->actions, i), "key"));
    if (k && strcmp(k, key) == 0) {
      lua_pushstring(L, "queued");
      lua_pushnil(L);
      lua_pushnil(L);
      return 3;
    }
  }
  return 0;
}

static const char *check_key(lua_State *L, int idx) {
  size_t n;
  const char *key = luaL_checklstring(L, idx, &n);
  if (n == 0 || n > ACTION_KEY_MAX)
    luaL_error(L, "an action's key is its CommandKey: 1 to %d bytes", ACTION_KEY_MAX);
  return key;
}

int l_acs_action_status(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
  int n = push_action_state(L, s, check_key(L, 1));
  if (n == 0) lua_pushnil(L);
  return n ? n : 1;
}

int l_acs_action(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
  acs__policy *p = s->pol;
  const char *rpc = luaL_checkstring(L, 1);
  const char *key = check_key(L, 3);
  size_t i = 0;
  while (action_rpcs[i] && strcmp(action_rpcs[i], rpc) != 0) i++;
  if (!action_rpcs[i])
    return luaL_error(L,
                      "'%s' is not a one-shot action (Reboot, FactoryReset, Download, "
                      "Upload, ScheduleInform)",
                      rpc);
  int n = push_action_state(L, s, key);
  if (n) return n;
  if (json_array_size(p->actions) >= 16) return luaL_error(L, "too many actions in one session");
  json_t *args = args_object(L, 2);
  json_object_set_new(args, "CommandKey", json_string(key));
  /* the arguments must make the RPC; a Download may name a file of the
   * file server instead of a URL (the session fills in the rest when it
   * sends it: engine/files), checked as the API checks it */
  char err[256] = "";
  int rc = 0;
  json_t *check = json_copy(args);
  char *file = check ? acs_files_task_file(acs_cwmp_kind_from_name(rpc), check) : NULL;
  if (!check) {
    rc = ACS_ENOMEM;
  } else if (file) {
    if (!acs_files_task_args_ok(check, file, err, sizeof err)) rc = ACS_EINVAL;
  } else {
    acs_arena a;
    acs_cwmp_msg m;
    acs_arena_init(&a, 0);
    rc = acs_rpc_from_json(acs_cwmp_kind_from_name(rpc), check, &a, &m, err, sizeof err);
    acs_arena_free(&a);
  }
  free(file);
  json_decref(check);
  if (rc) {
    json_decref(args);
    return luaL_error(L, "%s: %s", rpc, err[0] ? err : acs_strerror(rc));
  }
  char by[200];
  snprintf(by, sizeof by, "policy:%s", acs_script_chan_policy(acs_script_chan_of(L)));
  if (!p->actions) p->actions = json_array();
  json_t *a = json_pack("{s:s, s:o, s:s, s:s}", "rpc", rpc, "args", args, "key", key, "by", by);
  if (!a || json_array_append_new(p->actions, a)) return luaL_error(L, "out of memory");
  lua_pushstring(L, "queued");
  lua_pushnil(L);
  lua_pushnil(L);
  return 3;
}

/* The actions' tasks, created in order; one that exists already (same
 * device and key, asked by a policy) is not created again. */
static const char sql_actions[] =
    "INSERT INTO tasks (device_id, rpc, args, created_by, command_key)\n"
    "SELECT $1, a.rpc, a.args::jsonb, a.by, a.key\n"
    "FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY\n"
    "  AS a(rpc, args, by, key, n)\n"
    "WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.device_id = $1 AND t.command_key = a.key\n"
    "  AND t.created_by LIKE 'policy:%')\n"
    "ORDER BY a.n\n"
    "RETURNING id, rpc, args::text, command_key";

static void free_new_tasks(acs__policy *p) {
  for (size_t i = 0; i < p->nnew_tasks; i++) {
    free(p->new_tasks[i].rpc);
    free(p->new_tasks[i].args);
    free(p->new_tasks[i].command_key);
  }
  free(p->new_tasks);
  p->new_tasks = NULL;
  p->nnew_tasks = 0;
}

static void actions_rows(acs__session *s, const acs_pg_result *r, void *arg) {
  (void)arg;
  acs__policy *p = s->pol;
  free_new_tasks(p);
  if (r->ntuples <= 0 || !(p->new_tasks = calloc((size_t)r->ntuples, sizeof *p->new_tasks))) return;
  for (int i = 0; i < r->ntuples; i++) {
    acs__task *t = &p->new_tasks[p->nnew_tasks++];
    t->id = strtoll(acs_pg_getvalue(r, i, 0), NULL, 10);
    t->rpc = strdup(acs_pg_getvalue(r, i, 1));
    t->args = strdup(acs_pg_getvalue(r, i, 2));
    t->command_key = strdup(acs_pg_getvalue(r, i, 3));
  }
}

static void actions_done(acs__session *s, int status) {
  acs__policy *p = s->pol;
  acs__sess_done_fn done = p->flush_done;
  if (status == 0 && p->nnew_tasks) {
    acs__task *v = realloc(s->tasks, (s->ntasks + p->nnew_tasks) * sizeof *v);
    if (v) {
      memcpy(v + s->ntasks, p->new_tasks, p->nnew_tasks * sizeof *v);
      s->tasks = v;
      s->ntasks += p->nnew_tasks;
      free(p->new_tasks);
      p->new_tasks = NULL;
      p->nnew_tasks = 0;
    }
  }
  free_new_tasks(p);
  done(s, status);
}

bool acs__policy_flush_actions(acs__session *s, acs__sess_done_fn done) {
  acs__policy *p = s->pol;
  size_t n = p ? json_array_size(p->actions) : 0;
  if (n == 0) return false;
  json_t *actions = p->actions;
  p->actions = NULL; /* asked for once, whatever happens */
  const char **col[4];
  acs_buf arr[4] = {ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT};
  char **dumps = calloc(n, sizeof *dumps);
  for (int c = 0; c < 4; c++) col[c] = calloc(n, sizeof *col[c]);
  bool ok = dumps && col[0] && col[1] && col[2] && col[3];
  for (size_t i = 0; ok && i < n; i++) {
    const json_t *a = json_array_get(actions, i);
    col[0][i] = json_string_value(json_object_get(a, "rpc"));
    ok = (dumps[i] = json_dumps(json_object_get(a, "args"), JSON_COMPACT)) != NULL;
    col[1][i] = dumps[i];
    col[2][i] = json_string_value(json_object_get(a, "by"));
    col[3][i] = json_string_value(json_object_get(a, "key"));
  }
  for (int c = 0; ok && c < 4; c++) {
    acs_pg_array_append(&arr[c], col[c], n);
    ok = !acs_buf_err(&arr[c]);
  }
  int rc = ACS_ENOMEM;
  if (ok) {
    const char *params[5] = {s->device_id, arr[0].data, arr[1].data, arr[2].data, arr[3].data};
    p->flush_done = done;
    rc = acs__sess_store_sql(s, sql_actions, 5, params, actions_rows, NULL, actions_done);
  }
  for (size_t i = 0; dumps && i < n; i++) free(dumps[i]);
  free(dumps);
  for (int c = 0; c < 4; c++) {
    free(col[c]);
    acs_buf_free(&arr[c]);
  }
  json_decref(actions);
  if (rc) {
    acs_log(ACS_LOG_WARN, "policy", "%s: the policies' actions are not recorded: %s", s->device_id,
            acs_strerror(rc));
    return false;
  }
  return true;
}

/* --- tags */

static const char sql_tag[] =
    "UPDATE devices SET tags = CASE WHEN $3::boolean\n"
    "  THEN (CASE WHEN $2 = ANY(tags) THEN tags ELSE array_append(tags, $2) END)\n"
    "  ELSE array_remove(tags, $2) END\n"
    "WHERE id = $1 AND ($2 = ANY(tags)) IS DISTINCT FROM $3::boolean";

int l_acs_tag(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
  size_t n;
  const char *tag = luaL_checklstring(L, 1, &n);
  bool on = lua_toboolean(L, 2);
  bool ok = n >= 1 && n <= TAG_MAX && strlen(tag) == n;
  for (size_t i = 0; ok && i < n; i++) ok = (unsigned char)tag[i] >= 0x20 && tag[i] != 0x7f;
  if (!ok) return luaL_error(L, "a tag is 1 to %d printable bytes", TAG_MAX);
  size_t at = 0;
  while (at < s->ntags && strcmp(s->tags[at], tag) != 0) at++;
  acs_script_charge(L, 1 + s->ntags);
  if ((at < s->ntags) == on) return 0; /* already so */
  acs_script_charge_host(L, 128 + n);  /* the copy and the queued write */
  if (on) {
    char **v = realloc(s->tags, (s->ntags + 1) * sizeof *v);
    char *t = strdup(tag);
    if (!v || !t) {
      free(t);
      if (v) s->tags = v;
      return luaL_error(L, "out of memory");
    }
    s->tags = v;
    s->tags[s->ntags++] = t;
  } else {
    free(s->tags[at]);
    memmove(&s->tags[at], &s->tags[at + 1], (s->ntags - at - 1) * sizeof *s->tags);
    s->ntags--;
  }
  const char *params[3] = {s->device_id, tag, on ? "t" : "f"};
  if (s->t->aw->pg && acs__sess_store_sql(s, sql_tag, 3, params, NULL, NULL, NULL))
    acs_log(ACS_LOG_WARN, "policy", "%s: tag '%s' not stored", s->device_id, tag);
  return 0;
}

/* --- clear(path) */

int l_acs_clear(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
  const char *path = luaL_checkstring(L, 1);
  size_t pl = strlen(path);
  if (pl == 0) return luaL_error(L, "acs.clear: a path is needed");
  bool pattern = strchr(path, '*') || strchr(path, '[');
  size_t n = 0;
  /* every name is compared with the path: paid for before, by its length */
  acs_script_charge(L, (uint64_t)s->dm.n * (1 + pl / 16));
  for (size_t i = 0; i < s->dm.n; i++) {
    acs_dm_param *pm = &s->dm.v[i];
    bool hit = pattern ? acs_plan_match(&s->dm, path, pm->name)
                       : (strncmp(pm->name, path, pl) == 0 &&
                          (path[pl - 1] == '.' || pm->name[pl] == '\0' || pm->name[pl] == '.'));
    if (!hit) continue;
    pm->value_at = 0;
    pm->names_at = 0;
    pm->absent = false;
    n++;
  }
  if (n) acs__policy_dm_changed(s->pol);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* --- virtual parameters */

static bool virtual_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= 'a' && name[i] <= 'z') ||
          (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
      return false;
  return true;
}

int l_acs_virtual(lua_State *L) {
  acs__policy_sess(L);
  const char *name = luaL_checkstring(L, 1);
  if (!virtual_name_ok(name))
    return luaL_error(L, "a virtual parameter's name is 1 to 64 of [A-Za-z0-9_]");
  char full[80];
  snprintf(full, sizeof full, "virtual/%s", name);
  if (acs_script_push_policy(L, full)) lua_pushnil(L);
  return 1;
}

/* Only what changed is written, as for real parameters. */
static const char sql_virtual[] =
    "INSERT INTO parameters AS p (device_id, name, value, xsd_type, writable, value_at,\n"
    "  names_at)\n"
    "VALUES ($1, $2, $3, $4, $5::boolean, now(), now())\n"
    "ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value,\n"
    "  xsd_type = excluded.xsd_type, writable = excluded.writable, value_at = now()\n"
    "WHERE p.value IS DISTINCT FROM excluded.value OR p.xsd_type IS DISTINCT FROM\n"
    "  excluded.xsd_type OR p.writable IS DISTINCT FROM excluded.writable";

int l_acs_virtual_store(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
  const char *name = luaL_checkstring(L, 1);
  if (!virtual_name_ok(name)) return luaL_error(L, "bad virtual parameter name");
  const char *value = luaL_checkstring(L, 2);
  const char *type = luaL_optstring(L, 3, "xsd:string");
  bool writable = lua_toboolean(L, 4);
  const char *colon = strchr(type, ':');
  acs_cwmp_type t = acs_cwmp_type_from_name(colon ? colon + 1 : type);
  acs_script_charge_host(L, 256 + 2 * lua_rawlen(L, 2)); /* the model's copy and the write */
  char full[96];
  snprintf(full, sizeof full, VIRTUAL_PREFIX "%s", name);
  acs_dm_param *pm = acs_dm_put(&s->dm, full);
  if (!pm) return luaL_error(L, "out of memory");
  acs__policy_dm_changed(s->pol);
  bool same = pm->value && strcmp(pm->value, value) == 0 && pm->type == t &&
              pm->writable == (int8_t)writable;
  if (!same) {
    char *v = strdup(value);
    if (!v) return luaL_error(L, "out of memory");
    free(pm->value);
    pm->value = v;
    pm->type = t;
    pm->writable = (int8_t)writable;
    char tb[40];
    snprintf(tb, sizeof tb, "xsd:%s", acs_cwmp_type_name(t));
    const char *params[5] = {s->device_id, full, value, t == ACS_XSD_ANY ? NULL : tb,
                             writable ? "t" : "f"};
    if (s->t->aw->pg && acs__sess_store_sql(s, sql_virtual, 5, params, NULL, NULL, NULL))
      acs_log(ACS_LOG_WARN, "policy", "%s: %s not stored", s->device_id, full);
  }
  pm->value_at = acs_policy_now_ms();
  pm->names_at = pm->value_at;
  return 0;
}
