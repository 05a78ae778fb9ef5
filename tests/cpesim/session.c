/* session.c: one CWMP session of a simulated CPE.
 *
 *   POST Inform -> InformResponse; POST TransferComplete /
 *   DUStateChangeComplete (unless HoldRequests) -> their responses; empty
 *   POST; then each ACS request is answered in the next POST; 204 (or an
 *   empty 200) ends it.
 *
 * Cookies the ACS sets are sent back for the rest of the session. The
 * session fails on a connection error, a timeout, an HTTP status other
 * than 2xx (and 401 once, answered with Digest or Basic credentials from
 * ManagementServer.Username/Password), a body that is not a CWMP envelope,
 * or a SOAP fault (8005 on a CPE request other than Inform: sent again).
 *
 * Authentication: the challenge of a 401 is kept by the device and answered
 * on every later request, of this session and the next ones, with the
 * nonce count incremented (Digest) until the ACS challenges again; a
 * challenge with stale=true is answered again without counting as a
 * failure. An empty password with --factory-key is the factory credential
 * (acs_cpe_auth_factory_password of the serial number). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/acs_err.h"
#include "http/acs_digest.h"
#include "session/acs_cpe_auth.h"
#include "sim.h"

#define XML_HEADERS "Content-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: \"\"\r\n"
#define MAX_BODY (8u << 20)

typedef enum { P_INFORM, P_CPE_REQ, P_EMPTY, P_ACS } phase;

typedef struct cookie {
  char *name, *value;
} cookie;

struct sim_sess {
  sim_dev *d;
  sim_httpc *hc;
  acs_arena arena;
  acs_buf body;  /* the message being sent (kept for a 401 retry) */
  acs_buf extra; /* headers of the next request */
  acs_buf evs;   /* the Inform's events, for the ack log */
  SIM_VEC(cookie) jar;
  phase ph;
  bool informed, hold, sending_dusc;
  uint32_t ntc, ndusc; /* TransferCompletes and DUStateChangeCompletes the Inform announced */
  int auth_tries, stale_tries, retries_8005;
  uint64_t t0_us;
  uv_timer_t think;
  bool think_open;
  acs_cwmp_ns ns;
  char id[32];
  uint8_t carried[SIM_EV_COUNT]; /* the Inform's events, for a retry */
};

static uint64_t now_us(void) { return uv_hrtime() / 1000; }

static void sess_free(sim_sess *s) {
  acs_arena_reset(&s->arena);
  acs_buf_free(&s->body);
  acs_buf_free(&s->extra);
  acs_buf_free(&s->evs);
  for (uint32_t i = 0; i < s->jar.n; i++) {
    free(s->jar.v[i].name);
    free(s->jar.v[i].value);
  }
  SIM_VFREE(s->jar);
  free(s);
}

static void think_close_cb(uv_handle_t *h) { sess_free(h->data); }

/* Unmarks what the session carried and did not get acknowledged. */
static void unmark(sim_dev *d) {
  for (uint32_t i = 0; i < d->events.n; i++) d->events.v[i].in_flight = false;
  for (uint32_t i = 0; i < d->changed.n; i++) d->changed.v[i].in_flight = false;
  for (uint32_t i = 0; i < d->tcs.n; i++) d->tcs.v[i].in_flight = false;
  for (uint32_t i = 0; i < d->duscs.n; i++) d->duscs.v[i].in_flight = false;
}

/* stale-cookies: the session's cookies are kept for the next one. */
static void keep_stale(sim_sess *s) {
  if (!SIM_QUIRK(SIM_Q_STALE_COOKIES) || !s->jar.n) return;
  acs_buf b = ACS_BUF_INIT;
  for (uint32_t i = 0; i < s->jar.n; i++)
    acs_buf_printf(&b, "%s%s=%s", i ? "; " : "", s->jar.v[i].name, s->jar.v[i].value);
  sim_strset(&s->d->stale_cookie, b.data);
  acs_buf_free(&b);
}

static void sess_end(sim_sess *s, bool ok, sim_fail why, long retry_after) {
  sim_dev *d = s->d;
  unmark(d);
  keep_stale(s);
  if (!ok && s->informed) {
    /* delivered events are gone; the reasons to call keep for the retry */
    if (s->carried[SIM_EV_PERIODIC]) sim_dev_add_event(d, SIM_EV_PERIODIC, NULL);
    if (s->carried[SIM_EV_SCHEDULED]) sim_dev_add_event(d, SIM_EV_SCHEDULED, NULL);
    if (s->carried[SIM_EV_CONNECTION_REQUEST])
      sim_dev_add_event(d, SIM_EV_CONNECTION_REQUEST, NULL);
  }
  sim_stats_session(ok, now_us() - s->t0_us, why);
  d->sess = NULL;
  sim_httpc_close(s->hc);
  s->hc = NULL;
  if (s->think_open) {
    s->think_open = false;
    uv_close((uv_handle_t *)&s->think, think_close_cb);
  } else {
    sess_free(s);
  }
  sim_dev_session_done(d, ok, retry_after);
}

static void fail(sim_sess *s, sim_fail why, long retry_after, const char *what) {
  SIM_LOG("%s: session failed: %s", s->d->serial, what);
  sess_end(s, false, why, retry_after);
}

/* --- authenticating */

struct sim_auth {
  acs_auth_challenge ch;
  unsigned nc; /* the nonce count last sent */
};

/* The Authorization line answering the device's kept challenge (nc + 1). */
static int put_authorization(sim_sess *s, acs_buf *out) {
  sim_dev *d = s->d;
  if (!d->auth || S->o.auth_none) return 0;
  acs_buf b = ACS_BUF_INIT;
  char *user = sim_xstrdup(sim_dev_get_known(d, S->model->acs_user, &b, ""));
  acs_buf pass = ACS_BUF_INIT;
  acs_buf_puts(&pass, sim_dev_get_known(d, S->model->acs_pass, &b, ""));
  if (!pass.len && S->o.have_factory_key) {
    char fp[33];
    acs_cpe_auth_factory_password(S->o.factory_key, d->serial, fp);
    acs_buf_puts(&pass, fp);
  }
  if (S->o.auth_wrong) acs_buf_puts(&pass, "-wrong");
  char cnonce[17];
  snprintf(cnonce, sizeof cnonce, "%016llx", (unsigned long long)sim_rand());
  int rc = acs_auth_header(&d->auth->ch, user, pass.data ? pass.data : "", "POST", S->o.acs.path,
                           cnonce, ++d->auth->nc, out);
  free(user);
  acs_buf_free(&b);
  acs_buf_free(&pass);
  return rc;
}

/* A 401: true when the request goes again with new credentials. */
static bool answer_401(sim_sess *s, const sim_http_rsp *r) {
  sim_dev *d = s->d;
  if (S->o.auth_none || !r->www_all) return false;
  acs_auth_challenge ch;
  if (acs_auth_parse_pref(r->www_all, strlen(r->www_all), S->o.auth_scheme, &ch)) return false;
  if (ch.stale && ch.scheme == ACS_AUTH_DIGEST) {
    if (s->stale_tries++ >= 2) return false; /* the same credentials, a fresh nonce */
  } else if (s->auth_tries++ > 0) {
    return false;
  }
  if (!d->auth) d->auth = sim_xmalloc(sizeof *d->auth);
  d->auth->ch = ch;
  d->auth->nc = 0;
  return true;
}

/* --- sending */

static void http_cb(void *ctx, int err, const sim_http_rsp *rsp);

static void send_now(sim_sess *s) {
  acs_buf_reset(&s->extra);
  if (s->body.len) acs_buf_puts(&s->extra, XML_HEADERS);
  /* stale-cookies: the last session's cookies first, alone in the Inform's
   * POST (instead of none), then alongside the current ones */
  const char *stale = SIM_QUIRK(SIM_Q_STALE_COOKIES) ? s->d->stale_cookie : NULL;
  if (s->jar.n || stale) {
    acs_buf_puts(&s->extra, "Cookie: ");
    if (stale) acs_buf_puts(&s->extra, stale);
    for (uint32_t i = 0; i < s->jar.n; i++)
      acs_buf_printf(&s->extra, "%s%s=%s", i || stale ? "; " : "", s->jar.v[i].name,
                     s->jar.v[i].value);
    acs_buf_puts(&s->extra, "\r\n");
  }
  if (put_authorization(s, &s->extra)) {
    fail(s, SIM_FAIL_401, -1, "cannot answer the ACS's challenge");
    return;
  }
  int rc = sim_httpc_request(s->hc, "POST", S->acs_host_hdr, S->o.acs.path, s->extra.data,
                             s->body.data, s->body.len, S->o.timeout_ms, http_cb, s);
  if (rc) fail(s, SIM_FAIL_CONNECT, -1, acs_strerror(rc));
}

static void think_cb(uv_timer_t *t) { send_now(t->data); }

static void send_msg(sim_sess *s, const acs_cwmp_msg *m) {
  acs_buf_reset(&s->body);
  if (m && acs_cwmp_encode(m, &s->body)) {
    fail(s, SIM_FAIL_PROTOCOL, -1, "cannot encode");
    return;
  }
  if (m) sim_quirks_rewrite(&s->body, m->kind);
  if (S->o.think_ms && s->ph != P_INFORM) {
    uv_timer_start(&s->think, think_cb, S->o.think_ms, 0);
    return;
  }
  send_now(s);
}

/* --- the Inform */

static const char *known(sim_dev *d, uint32_t id, acs_arena *a, const char *fb) {
  acs_buf b = ACS_BUF_INIT;
  const char *v = acs_arena_strdup(a, sim_dev_get_known(d, id, &b, fb));
  acs_buf_free(&b);
  return v;
}

static bool listed(const acs_cwmp_param_values *pv, const char *name) {
  for (size_t i = 0; i < pv->n; i++)
    if (strcmp(pv->v[i].name, name) == 0) return true;
  return false;
}

static void add_param(sim_dev *d, sim_ref r, acs_arena *a, acs_cwmp_param_values *pv,
                      acs_buf *scratch) {
  const char *name = sim_dev_name(d, r);
  if (listed(pv, name)) return;
  acs_cwmp_param_value *v = &pv->v[pv->n++];
  v->name = (char *)name;
  v->value = acs_arena_strdup(a, sim_dev_value(d, r, scratch, false));
  v->type = (acs_cwmp_type)sim_dev_node(d, r)->type;
}

static void build_inform(sim_sess *s, acs_cwmp_msg *m) {
  sim_dev *d = s->d;
  const sim_model *mo = S->model;
  acs_arena *a = &s->arena;
  memset(m, 0, sizeof *m);
  m->ns = s->ns;
  m->kind = ACS_CWMP_INFORM;
  snprintf(s->id, sizeof s->id, "cpesim-%u", ++S->sess_seq);
  m->id = s->id;
  if (S->o.cwmp_version && strcmp(S->o.cwmp_version, "1.4") == 0)
    m->supported_cwmp_versions = "1.0,1.1,1.2,1.3,1.4";
  acs_cwmp_inform *in = &m->u.inform;
  in->device_id.manufacturer = (char *)known(d, mo->manufacturer, a, "");
  in->device_id.oui = (char *)known(d, mo->oui, a, "000000");
  in->device_id.product_class = (char *)known(d, mo->product_class, a, "");
  in->device_id.serial_number = d->serial;
  in->max_envelopes = 1;
  char t[21];
  sim_time_iso(sim_wall_s(), t);
  in->current_time = acs_arena_strdup(a, t);
  in->retry_count = d->retries;
  /* events */
  size_t ne = d->events.n + 3;
  in->events.v = acs_arena_calloc(a, ne, sizeof *in->events.v);
  memset(s->carried, 0, sizeof s->carried);
  for (uint32_t i = 0; i < d->events.n; i++) {
    sim_event *e = &d->events.v[i];
    e->in_flight = true;
    acs_cwmp_event *ev = &in->events.v[in->events.n++];
    ev->code = (char *)sim_ev_name((sim_ev)e->code);
    ev->command_key = e->key ? e->key : "";
    s->carried[e->code] = 1;
  }
  bool vc = false;
  for (uint32_t i = 0; i < d->changed.n; i++) {
    sim_ref r = d->changed.v[i].ref;
    const char *nm = sim_dev_name(d, r);
    sim_ref chk;
    if (sim_dev_find(d, nm, &chk) || sim_dev_notif(d, r) == 0) continue;
    d->changed.v[i].in_flight = true;
    vc = true;
  }
  if (vc) {
    acs_cwmp_event *ev = &in->events.v[in->events.n++];
    ev->code = (char *)sim_ev_name(SIM_EV_VALUE_CHANGE);
    ev->command_key = "";
  }
  s->ntc = d->tcs.n;
  s->ndusc = d->duscs.n;
  if (d->tcs.n) {
    acs_cwmp_event *ev = &in->events.v[in->events.n++];
    ev->code = (char *)sim_ev_name(SIM_EV_TRANSFER_COMPLETE);
    ev->command_key = "";
  }
  if (d->duscs.n) {
    acs_cwmp_event *ev = &in->events.v[in->events.n++];
    ev->code = (char *)sim_ev_name(SIM_EV_DU_STATE_CHANGE_COMPLETE);
    ev->command_key = "";
  }
  /* parameters: the forced ones, then changed ones with notification */
  size_t np = mo->nforced + d->changed.n;
  in->params.v = acs_arena_calloc(a, np ? np : 1, sizeof *in->params.v);
  acs_buf scratch = ACS_BUF_INIT;
  for (uint32_t i = 0; i < mo->nforced; i++) {
    sim_ref r;
    if (sim_dev_find(d, mo->nodes[mo->forced[i]].name, &r) == 0)
      add_param(d, r, a, &in->params, &scratch);
  }
  for (uint32_t i = 0; i < d->changed.n; i++)
    if (d->changed.v[i].in_flight) add_param(d, d->changed.v[i].ref, a, &in->params, &scratch);
  acs_buf_free(&scratch);
}

static void ack_log(sim_sess *s) {
  if (S->ack_fd < 0) return;
  acs_buf line = ACS_BUF_INIT, id = ACS_BUF_INIT;
  sim_dev_id(s->d, &id);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  acs_buf_printf(&line, "%lld\t%s\t%s\t", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                 s->d->serial, id.data ? id.data : "");
  if (s->evs.len) acs_buf_append(&line, s->evs.data, s->evs.len);
  acs_buf_putc(&line, '\n');
  if (write(S->ack_fd, line.data, line.len) != (ssize_t)line.len)
    sim_log("ack log: %s", strerror(errno));
  acs_buf_free(&line);
  acs_buf_free(&id);
}

/* The InformResponse arrived: what the Inform carried is delivered. */
static void informed(sim_sess *s) {
  sim_dev *d = s->d;
  s->informed = true;
  sim_stats_inform(now_us() - s->t0_us);
  for (uint32_t i = 0; i < d->events.n;) {
    if (d->events.v[i].in_flight) {
      free(d->events.v[i].key);
      SIM_VDEL(d->events, i);
    } else {
      i++;
    }
  }
  for (uint32_t i = 0; i < d->changed.n;) {
    if (d->changed.v[i].in_flight)
      SIM_VDEL(d->changed, i);
    else
      i++;
  }
  d->bootstrapped = true;
}

/* --- the CPE's own requests */

static void next_cpe_request(sim_sess *s) {
  sim_dev *d = s->d;
  acs_cwmp_msg m;
  memset(&m, 0, sizeof m);
  m.ns = s->ns;
  snprintf(s->id, sizeof s->id, "cpesim-%u", ++S->sess_seq);
  m.id = s->id;
  acs_arena_reset(&s->arena);
  char t1[21], t2[21];
  if (!s->hold) {
    for (uint32_t i = 0; i < s->ntc && i < d->tcs.n; i++) {
      sim_tc *tc = &d->tcs.v[i];
      if (tc->in_flight) continue;
      tc->in_flight = true;
      m.kind = ACS_CWMP_TRANSFER_COMPLETE;
      m.u.transfer_complete.command_key = tc->key ? tc->key : "";
      m.u.transfer_complete.fault.code = tc->fault;
      m.u.transfer_complete.fault.string = tc->fault ? tc->fault_string : "";
      sim_time_iso(tc->start, t1);
      sim_time_iso(tc->complete, t2);
      m.u.transfer_complete.start_time = t1;
      m.u.transfer_complete.complete_time = t2;
      s->ph = P_CPE_REQ;
      s->sending_dusc = false;
      send_msg(s, &m);
      return;
    }
    for (uint32_t i = 0; i < s->ndusc && i < d->duscs.n; i++) {
      sim_dusc *u = &d->duscs.v[i];
      if (u->in_flight) continue;
      u->in_flight = true;
      m.kind = ACS_CWMP_DU_STATE_CHANGE_COMPLETE;
      m.u.du_state_change_complete.command_key = u->key ? u->key : "";
      m.u.du_state_change_complete.results.v = u->results;
      m.u.du_state_change_complete.results.n = u->n;
      s->ph = P_CPE_REQ;
      s->sending_dusc = true;
      send_msg(s, &m);
      return;
    }
  }
  s->ph = P_EMPTY;
  send_msg(s, NULL);
}

/* The CPE request in flight was answered: drop it. */
static void cpe_request_done(sim_sess *s) {
  sim_dev *d = s->d;
  if (s->sending_dusc) {
    for (uint32_t i = 0; i < d->duscs.n; i++) {
      sim_dusc *u = &d->duscs.v[i];
      if (!u->in_flight) continue;
      for (uint32_t j = 0; j < u->n; j++) {
        acs_cwmp_du_result *x = &u->results[j];
        free(x->uuid);
        free(x->deployment_unit_ref);
        free(x->version);
        free(x->current_state);
        free(x->execution_unit_ref_list);
        free(x->start_time);
        free(x->complete_time);
        free(x->fault.string);
      }
      free(u->results);
      free(u->key);
      SIM_VDEL(d->duscs, i);
      s->ndusc--;
      break;
    }
  } else {
    for (uint32_t i = 0; i < d->tcs.n; i++) {
      if (!d->tcs.v[i].in_flight) continue;
      free(d->tcs.v[i].key);
      free(d->tcs.v[i].fault_string);
      SIM_VDEL(d->tcs, i);
      s->ntc--;
      break;
    }
  }
}

/* 8005 on a CPE request: send the same one again. */
static void resend_cpe_request(sim_sess *s) {
  sim_dev *d = s->d;
  for (uint32_t i = 0; i < d->tcs.n; i++) d->tcs.v[i].in_flight = false;
  for (uint32_t i = 0; i < d->duscs.n; i++) d->duscs.v[i].in_flight = false;
  next_cpe_request(s);
}

/* --- responses */

static void keep_cookies(sim_sess *s, const sim_http_rsp *r) {
  for (size_t i = 0; i < r->nset_cookie; i++) {
    const char *c = r->set_cookie[i];
    while (*c == ' ') c++;
    const char *eq = strchr(c, '=');
    if (!eq || eq == c) continue;
    size_t nl = (size_t)(eq - c), vl = strcspn(eq + 1, ";");
    while (nl && c[nl - 1] == ' ') nl--;
    cookie *k = NULL;
    for (uint32_t j = 0; j < s->jar.n; j++)
      if (strlen(s->jar.v[j].name) == nl && memcmp(s->jar.v[j].name, c, nl) == 0) k = &s->jar.v[j];
    if (!k) {
      k = SIM_VPUSH(s->jar);
      k->name = sim_xstrndup(c, nl);
      k->value = NULL;
    }
    free(k->value);
    k->value = sim_xstrndup(eq + 1, vl);
  }
}

static bool blank(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') return false;
  return true;
}

static const char *nz_path(const acs_cwmp_msg *in) {
  const char *p = in->u.get_parameter_names.parameter_path;
  return p ? p : "";
}

/* --verbose: "SERIAL: rpc KIND [names]" per ACS request (tests count them). */
static void log_rpc(sim_dev *d, const acs_cwmp_msg *in) {
  acs_buf b = ACS_BUF_INIT;
  acs_buf_printf(&b, "%s: rpc %s", d->serial, acs_cwmp_kind_name(in->kind));
  const acs_cwmp_strings *names = in->kind == ACS_CWMP_GET_PARAMETER_VALUES
                                      ? &in->u.get_parameter_values.names
                                      : NULL;
  for (size_t i = 0; names && i < names->n; i++)
    acs_buf_printf(&b, "%s%s", i ? "," : " ", names->v[i] ? names->v[i] : "");
  if (in->kind == ACS_CWMP_GET_PARAMETER_NAMES)
    acs_buf_printf(&b, " %s", nz_path(in));
  sim_log("%s", b.data ? b.data : "");
  acs_buf_free(&b);
}

static void on_message(sim_sess *s, acs_cwmp_msg *in) {
  sim_dev *d = s->d;
  if (in->has_hold_requests) s->hold = in->hold_requests;
  switch (s->ph) {
    case P_INFORM:
      if (in->kind == ACS_CWMP_INFORM_RESPONSE) {
        informed(s);
        ack_log(s);
        next_cpe_request(s);
        return;
      }
      if (in->kind == ACS_CWMP_FAULT) {
        S->st.acs_faults++;
        fail(s, SIM_FAIL_FAULT, -1, "fault in answer to Inform");
        return;
      }
      fail(s, SIM_FAIL_PROTOCOL, -1, "no InformResponse");
      return;
    case P_CPE_REQ:
      if (in->kind == ACS_CWMP_TRANSFER_COMPLETE_RESPONSE ||
          in->kind == ACS_CWMP_DU_STATE_CHANGE_COMPLETE_RESPONSE) {
        cpe_request_done(s);
        next_cpe_request(s);
        return;
      }
      if (in->kind == ACS_CWMP_FAULT) {
        S->st.acs_faults++;
        if (in->u.fault.code == 8005 && s->retries_8005++ < 3) {
          resend_cpe_request(s);
          return;
        }
        fail(s, SIM_FAIL_FAULT, -1, "fault in answer to a CPE request");
        return;
      }
      fail(s, SIM_FAIL_PROTOCOL, -1, "unexpected answer to a CPE request");
      return;
    case P_EMPTY:
    case P_ACS: {
      if (in->kind == ACS_CWMP_FAULT) {
        S->st.acs_faults++;
        fail(s, SIM_FAIL_FAULT, -1, "SOAP fault from the ACS");
        return;
      }
      if (S->o.verbose) log_rpc(d, in);
      if (sim_quirk_crashes(d, in)) {
        /* crash-partial: the device goes down without an answer and
         * informs "1 BOOT" after --reboot-ms */
        d->reboot_after = true;
        fail(s, SIM_FAIL_PROTOCOL, -1, "crashed (--quirk crash-partial)");
        return;
      }
      acs_cwmp_msg rsp;
      sim_rpc_answer(d, in, &s->arena, &rsp);
      s->ph = P_ACS;
      send_msg(s, &rsp);
      return;
    }
  }
}

static void http_cb(void *ctx, int err, const sim_http_rsp *r) {
  sim_sess *s = ctx;
  if (err) {
    fail(s, err == ACS_ETIMEOUT ? SIM_FAIL_TIMEOUT : SIM_FAIL_CONNECT, -1, acs_strerror(err));
    return;
  }
  keep_cookies(s, r);
  if (r->status == 401) {
    S->st.http_401++;
    if (!answer_401(s, r)) {
      fail(s, SIM_FAIL_401, -1, "401 Unauthorized");
      return;
    }
    send_now(s); /* the same body again, with credentials */
    return;
  }
  if (r->status == 503) {
    S->st.http_503++;
    fail(s, SIM_FAIL_503, r->retry_after, "503 Service Unavailable");
    return;
  }
  bool empty = r->body_len == 0 || blank(r->body, r->body_len);
  if ((r->status == 204 || (r->status == 200 && empty))) {
    if (s->ph == P_INFORM) {
      fail(s, SIM_FAIL_PROTOCOL, -1, "session ended before the InformResponse");
      return;
    }
    sess_end(s, true, SIM_FAIL_COUNT, -1);
    return;
  }
  if (!((r->status >= 200 && r->status < 300) || r->status == 500) || empty) {
    char why[64];
    snprintf(why, sizeof why, "HTTP %d", r->status);
    fail(s, SIM_FAIL_HTTP, -1, why);
    return;
  }
  if (r->body_total > r->body_len) {
    fail(s, SIM_FAIL_PROTOCOL, -1, "ACS message too large");
    return;
  }
  acs_arena_reset(&s->arena);
  acs_cwmp_msg in;
  acs_cwmp_error perr;
  int rc = acs_cwmp_parse(r->body, r->body_len, &s->arena, NULL, &in, &perr);
  if (rc) {
    SIM_LOG("%s: bad message from the ACS: %s", s->d->serial, perr.msg);
    fail(s, SIM_FAIL_XML, -1, "invalid XML");
    return;
  }
  if (r->status == 500 && in.kind != ACS_CWMP_FAULT) {
    fail(s, SIM_FAIL_HTTP, -1, "HTTP 500");
    return;
  }
  on_message(s, &in);
}

void sim_session_start(sim_dev *d) {
  sim_sess *s = sim_xcalloc(1, sizeof *s);
  s->d = d;
  d->sess = s;
  s->ns = S->o.ns;
  s->t0_us = now_us();
  acs_arena_init(&s->arena, 8192);
  s->hc = sim_httpc_new(&S->o.acs_addr, MAX_BODY);
  if (S->o.sources.n) sim_httpc_set_source(s->hc, &S->o.sources.v[d->idx % S->o.sources.n]);
  if (S->o.acs.https) sim_httpc_set_tls(s->hc, S->o.acs.host, d->serial, &d->tls_session);
  if (S->o.think_ms) {
    uv_timer_init(S->loop, &s->think);
    s->think.data = s;
    s->think_open = true;
  }
  acs_cwmp_msg m;
  build_inform(s, &m);
  s->ph = P_INFORM;
  acs_buf_reset(&s->body);
  if (acs_cwmp_encode(&m, &s->body)) {
    fail(s, SIM_FAIL_PROTOCOL, -1, "cannot encode the Inform");
    return;
  }
  sim_quirks_rewrite(&s->body, m.kind);
  acs_buf_reset(&s->evs);
  for (size_t i = 0; i < m.u.inform.events.n; i++) {
    const acs_cwmp_event *e = &m.u.inform.events.v[i];
    acs_buf_printf(&s->evs, "%s%s", i ? "," : "", e->code);
    if (e->command_key && *e->command_key) acs_buf_printf(&s->evs, "/%s", e->command_key);
  }
  send_now(s);
}

void sim_session_abort(sim_dev *d) {
  if (d->sess) fail(d->sess, SIM_FAIL_TIMEOUT, -1, "stopped");
}
