/* test_devcache: the per-worker device cache (session/acs_devcache.h):
 * what it knows as stored, versions, models taken and given back, the
 * byte budget and its LRU order. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs_test.h"
#include "core/acs_err.h"
#include "session/acs_devcache.h"

static acs_cwmp_param_values params(acs_cwmp_param_value *v, size_t n) {
  acs_cwmp_param_values pv = {.v = v, .n = n};
  return pv;
}

static void test_known(void) {
  acs_devcache *c = acs_devcache_new(1 << 20);
  acs_cwmp_param_value v[3] = {{"Device.A", "1", ACS_XSD_INT},
                               {"Device.B", NULL, ACS_XSD_ANY},
                               {"Device.A", "2", ACS_XSD_INT}}; /* the last one counts */
  acs_cwmp_param_values pv = params(v, 3);
  CHECK(acs_devcache_get(c, "dev-1") == NULL);
  CHECK_INT(acs_devcache_informed(c, "dev-1", 42, true, &pv), 0);
  acs_devcache_entry *e = acs_devcache_get(c, "dev-1");
  CHECK(e != NULL);
  CHECK_INT(acs_devcache_version(e), 42);
  CHECK(acs_devcache_known(e, "Device.A", "2", ACS_XSD_INT));
  CHECK(!acs_devcache_known(e, "Device.A", "1", ACS_XSD_INT));
  CHECK(!acs_devcache_known(e, "Device.A", "2", ACS_XSD_STRING)); /* another type */
  CHECK(acs_devcache_known(e, "Device.B", "", ACS_XSD_ANY));      /* NULL is stored as "" */
  CHECK(!acs_devcache_known(e, "Device.C", "", ACS_XSD_ANY));
  CHECK(!acs_devcache_known(NULL, "Device.A", "2", ACS_XSD_INT));
  /* the next Inform replaces what is known */
  acs_cwmp_param_value w[1] = {{"Device.C", "x", ACS_XSD_STRING}};
  pv = params(w, 1);
  CHECK_INT(acs_devcache_informed(c, "dev-1", 43, false, &pv), 0);
  e = acs_devcache_get(c, "dev-1");
  CHECK_INT(acs_devcache_version(e), 43);
  CHECK(acs_devcache_known(e, "Device.C", "x", ACS_XSD_STRING));
  CHECK(!acs_devcache_known(e, "Device.A", "2", ACS_XSD_INT));
  acs_devcache_forget(c, "dev-1");
  CHECK(acs_devcache_get(c, "dev-1") == NULL);
  acs_devcache_stats st;
  acs_devcache_get_stats(c, &st);
  CHECK_INT(st.stale, 0); /* the first Inform sent no version: nothing to confirm */
  CHECK_INT(st.entries, 0);
  CHECK_INT(st.bytes, 0);
  acs_devcache_free(c);
}

static void model_of(acs_dm *dm, const char *value) {
  acs_dm_init(dm);
  acs_dm_param *p = acs_dm_put(dm, "Device.DeviceInfo.UpTime");
  p->value = strdup(value);
  p->absent = true;
  acs_dm_put(dm, "Device.WiFi.");
}

static void test_model(void) {
  acs_devcache *c = acs_devcache_new(1 << 20);
  acs_cwmp_param_values none = {0};
  acs_dm dm, out;
  acs_dm_init(&out);
  /* no entry: not kept (freed) */
  model_of(&dm, "1");
  acs_devcache_keep_model(c, "dev-1", 7, &dm);
  CHECK_INT(dm.n, 0);
  CHECK(!acs_devcache_take_model(c, "dev-1", 7, &out));
  CHECK_INT(acs_devcache_informed(c, "dev-1", 7, true, &none), 0);
  model_of(&dm, "2");
  acs_devcache_keep_model(c, "dev-1", 8, &dm); /* another version: not kept */
  CHECK(!acs_devcache_take_model(c, "dev-1", 7, &out));
  model_of(&dm, "3");
  acs_devcache_keep_model(c, "dev-1", 7, &dm);
  CHECK(!acs_devcache_take_model(c, "dev-1", 8, &out));
  CHECK(acs_devcache_take_model(c, "dev-1", 7, &out));
  CHECK_INT(out.n, 2);
  CHECK_STR(acs_dm_get(&out, "Device.DeviceInfo.UpTime")->value, "3");
  CHECK(!acs_dm_get(&out, "Device.DeviceInfo.UpTime")->absent); /* asked again */
  CHECK(!acs_devcache_take_model(c, "dev-1", 7, &out));         /* taken: gone */
  /* given back, then a stale Inform drops it */
  acs_devcache_keep_model(c, "dev-1", 7, &out);
  CHECK_INT(acs_devcache_informed(c, "dev-1", 9, true, &none), 0);
  CHECK(!acs_devcache_take_model(c, "dev-1", 9, &out));
  /* a confirmed Inform keeps it, at the new version */
  model_of(&dm, "4");
  acs_devcache_keep_model(c, "dev-1", 9, &dm);
  CHECK_INT(acs_devcache_informed(c, "dev-1", 10, false, &none), 0);
  CHECK(acs_devcache_take_model(c, "dev-1", 10, &out));
  acs_dm_free(&out);
  acs_devcache_stats st;
  acs_devcache_get_stats(c, &st);
  CHECK_INT(st.model_hits, 2);
  CHECK_INT(st.stale, 1); /* version 7 sent, 9 found */
  acs_devcache_free(c);
}

/* A budget of a few entries: the least recently used go first, and the
 * byte count goes back to 0 when everything is forgotten. */
static void test_budget(void) {
  acs_cwmp_param_value v[1] = {{"Device.ManagementServer.ConnectionRequestURL",
                                "http://192.0.2.1:7547/cr", ACS_XSD_STRING}};
  acs_cwmp_param_values pv = params(v, 1);
  acs_devcache *probe = acs_devcache_new(1 << 20);
  CHECK_INT(acs_devcache_informed(probe, "dev-0000", 1, false, &pv), 0);
  acs_devcache_stats st;
  acs_devcache_get_stats(probe, &st);
  size_t one = st.bytes;
  acs_devcache_free(probe);
  CHECK(one > 0);
  acs_devcache *c = acs_devcache_new(one * 4 + one / 2);
  char id[32];
  for (int i = 0; i < 4; i++) {
    snprintf(id, sizeof id, "dev-%04d", i);
    CHECK_INT(acs_devcache_informed(c, id, 1, false, &pv), 0);
  }
  CHECK(acs_devcache_get(c, "dev-0000") != NULL); /* now the most recent */
  CHECK_INT(acs_devcache_informed(c, "dev-0004", 1, false, &pv), 0);
  CHECK(acs_devcache_get(c, "dev-0001") == NULL); /* the least recent went */
  CHECK(acs_devcache_get(c, "dev-0000") != NULL);
  CHECK(acs_devcache_get(c, "dev-0004") != NULL);
  acs_devcache_get_stats(c, &st);
  CHECK_INT(st.entries, 4);
  CHECK_INT(st.evictions, 1);
  CHECK(st.bytes <= st.budget);
  /* many devices: the table grows, the budget holds */
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof id, "many-%05d", i);
    CHECK_INT(acs_devcache_informed(c, id, i + 1, false, &pv), 0);
  }
  acs_devcache_get_stats(c, &st);
  CHECK_INT(st.entries, 4);
  CHECK(acs_devcache_get(c, "many-04999") != NULL);
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof id, "many-%05d", i);
    acs_devcache_forget(c, id);
  }
  acs_devcache_forget(c, "dev-0000");
  acs_devcache_forget(c, "dev-0004");
  acs_devcache_get_stats(c, &st);
  CHECK_INT(st.entries, 0);
  CHECK_INT(st.bytes, 0);
  acs_devcache_free(c);
  /* a budget of 0 keeps nothing */
  c = acs_devcache_new(0);
  CHECK_INT(acs_devcache_informed(c, "dev-1", 1, false, &pv), 0);
  CHECK(acs_devcache_get(c, "dev-1") == NULL);
  acs_devcache_free(c);
}

/* The policy context: events counted per minute from the store's text and
 * this worker's Informs, an hour and a day back from the store's clock;
 * the context travels in and out of the cache with the version. */
static void test_ctx(void) {
  const int64_t min = 60000, now = (int64_t)29000000 * min; /* a minute, in ms */
  char text[256];
  snprintf(text, sizeof text,
           "{\"tags\": [\"a\"], \"event_minutes\": {\"2 PERIODIC\": [[%lld, 2], [%lld, 1], "
           "[%lld, 4]], \"1 BOOT\": [[%lld, 1]]}}",
           (long long)(now / min - 1500), (long long)(now / min - 61),
           (long long)(now / min - 59), (long long)(now / min - 1));
  acs_devctx x = ACS_DEVCTX_INIT;
  CHECK_INT(acs_devctx_load(&x, text, 7), 0);
  CHECK(json_object_get(x.json, "event_minutes") == NULL); /* kept as minutes, not JSON */
  CHECK_INT(acs_devctx_add_event(&x, "2 PERIODIC", now), 0);
  CHECK_INT(acs_devctx_add_event(&x, "2 PERIODIC", now + 1000), 0); /* the same minute */
  CHECK_INT(acs_devctx_add_event(&x, "4 VALUE CHANGE", now), 0);
  acs_devctx_booted(&x, true, false, now);
  CHECK_INT(acs_devctx_count(&x, now), 0);
  char *ev = json_dumps(json_object_get(x.json, "events"), JSON_SORT_KEYS | JSON_COMPACT);
  /* 1500 minutes back is gone; 61 back counts for the day only */
  CHECK_STR(ev, "{\"1 BOOT\":[1,1],\"2 PERIODIC\":[6,7],\"4 VALUE CHANGE\":[1,1]}");
  free(ev);
  CHECK_INT(json_integer_value(json_object_get(x.json, "last_boot")), now);
  CHECK_INT(acs_devctx_count(&x, now + 1440 * min), 0); /* a day later: nothing */
  CHECK_INT(json_object_size(json_object_get(x.json, "events")), 0);
  CHECK_INT(acs_devctx_load(&x, "[1]", 1), ACS_EINVAL);
  CHECK(x.json == NULL);
  CHECK_INT(acs_devctx_load(&x, "{\"tags\": []}", 3), 0);

  acs_devcache *c = acs_devcache_new(1 << 20);
  acs_cwmp_param_values pv = params(NULL, 0);
  CHECK_INT(acs_devcache_informed(c, "dev-1", 5, true, &pv), 0);
  acs_devcache_keep_ctx(c, "dev-1", 4, &x); /* another version: freed */
  CHECK(x.json == NULL);
  CHECK_INT(acs_devctx_load(&x, "{\"tags\": []}", 3), 0);
  acs_devcache_keep_ctx(c, "dev-1", 5, &x);
  CHECK(x.json == NULL);
  acs_devctx y = ACS_DEVCTX_INIT;
  CHECK(!acs_devcache_take_ctx(c, "dev-1", 6, &y));
  CHECK(acs_devcache_take_ctx(c, "dev-1", 5, &y));
  CHECK_INT(y.gen, 3);
  CHECK(!acs_devcache_take_ctx(c, "dev-1", 5, &y)); /* taken: no longer there */
  acs_devcache_keep_ctx(c, "dev-1", 5, &y);
  CHECK_INT(acs_devcache_informed(c, "dev-1", 6, true, &pv), 0); /* stale: dropped */
  CHECK(!acs_devcache_take_ctx(c, "dev-1", 6, &y));
  acs_devcache_free(c);
}

int main(void) {
  test_known();
  test_model();
  test_budget();
  test_ctx();
  return acs_test_result("test_devcache");
}
