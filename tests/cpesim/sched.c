/* sched.c: when devices call the ACS.
 *
 * A device is IDLE (waiting for its timer: periodic inform, scheduled
 * inform, a queued transfer, a local change), DUE (it has something to
 * tell: in the due queue, waiting for the pacer), in SESSION, in BACKOFF
 * after a failed session, or OFF (rebooting, or not powered on yet).
 *
 * The pacer starts due devices in order, at most --concurrency at a time
 * and --rate per second. In loop mode (on when --rate or --concurrency is
 * given) it keeps that load up: when no device is due it takes the idle
 * device that informed longest ago, as if its periodic interval had just
 * elapsed ("2 PERIODIC"). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* --- lists (due queue and idle list share the links) */

static void list_remove(sim_dev *d) {
  sim_list *l = d->list == 1 ? &S->due : d->list == 2 ? &S->idle : NULL;
  if (!l) return;
  if (d->qprev)
    d->qprev->qnext = d->qnext;
  else
    l->head = d->qnext;
  if (d->qnext)
    d->qnext->qprev = d->qprev;
  else
    l->tail = d->qprev;
  d->qprev = d->qnext = NULL;
  d->list = 0;
  l->n--;
}

static void list_add(sim_dev *d, int which, bool front) {
  list_remove(d);
  sim_list *l = which == 1 ? &S->due : &S->idle;
  if (front) {
    d->qnext = l->head;
    d->qprev = NULL;
    if (l->head) l->head->qprev = d;
    l->head = d;
    if (!l->tail) l->tail = d;
  } else {
    d->qprev = l->tail;
    d->qnext = NULL;
    if (l->tail) l->tail->qnext = d;
    l->tail = d;
    if (!l->head) l->head = d;
  }
  d->list = (uint8_t)which;
  l->n++;
}

/* --- timers */

static uint64_t periodic_interval_ms(const sim_dev *d) {
  uint32_t s = sim_dev_get_uint(d, S->model->pi_interval, 3600);
  return (uint64_t)(s ? s : 1) * 1000;
}

static bool periodic_enabled(const sim_dev *d) {
  if (SIM_QUIRK(SIM_Q_NO_PERIODIC)) return false;
  acs_buf b = ACS_BUF_INIT;
  const char *v = sim_dev_get_known(d, S->model->pi_enable, &b, "true");
  bool on = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
  acs_buf_free(&b);
  return on;
}

static uint64_t jittered(uint64_t ms) {
  return (uint64_t)((double)ms * (0.95 + 0.1 * sim_rand01()));
}

static void next_periodic(sim_dev *d, uint64_t from) {
  d->periodic_ms = from + jittered(periodic_interval_ms(d));
}

static void timer_cb(uv_timer_t *t);

void sim_dev_rearm(sim_dev *d) {
  if (!d->timer_open || S->stopping) return;
  uint64_t w = UINT64_MAX;
#define AT(x) \
  if ((x) && (x) < w) w = (x)
  if (d->state == SIM_D_OFF) AT(d->off_ms);
  if (d->state == SIM_D_BACKOFF) AT(d->retry_ms);
  if (periodic_enabled(d)) AT(d->periodic_ms);
  AT(d->change_ms);
  for (uint32_t i = 0; i < d->scheds.n; i++) AT(d->scheds.v[i].due_ms);
  if (!d->job && d->state != SIM_D_SESSION && d->state != SIM_D_OFF)
    for (uint32_t i = 0; i < d->xfers.n; i++)
      if (d->xfers.v[i].state == 1) AT(d->xfers.v[i].due_ms);
#undef AT
  if (w == UINT64_MAX) {
    uv_timer_stop(&d->timer);
    d->wake_ms = 0;
    return;
  }
  uint64_t now = sim_now_ms();
  d->wake_ms = w;
  uv_timer_start(&d->timer, timer_cb, w > now ? w - now : 1, 0); /* never 0: libuv would
                                                                   run it again at once */
}

/* A subscriber changes something on the device (--change-interval). */
static void local_change(sim_dev *d) {
  const sim_model *m = S->model;
  if (!m->nchanging) return;
  sim_ref r = m->changing[sim_rand() % m->nchanging];
  sim_ref chk;
  if (sim_dev_find(d, m->nodes[r].name, &chk)) return;
  const sim_node *n = &m->nodes[r];
  acs_buf b = ACS_BUF_INIT;
  char v[64];
  const char *cur = sim_dev_value(d, r, &b, true);
  const char *leaf = strrchr(n->name, '.') + 1;
  if (n->type == ACS_XSD_BOOLEAN) {
    snprintf(v, sizeof v, "%s",
             strcmp(cur, "true") == 0 || strcmp(cur, "1") == 0 ? "false" : "true");
  } else if (strcmp(leaf, "Channel") == 0) {
    static const unsigned lo[] = {1, 6, 11}, hi[] = {36, 40, 44, 48};
    bool five = strtoul(cur, NULL, 10) > 14;
    snprintf(v, sizeof v, "%u", five ? hi[sim_rand() % 4] : lo[sim_rand() % 3]);
  } else if (n->type == ACS_XSD_STRING) {
    size_t l = strlen(cur);
    if (l >= 3 && cur[l - 3] == '-' && isdigit((unsigned char)cur[l - 2])) l -= 3;
    snprintf(v, sizeof v, "%.*s-%02u", (int)(l < 40 ? l : 40), cur, (unsigned)(sim_rand() % 100));
    if (strcmp(leaf, "KeyPassphrase") == 0)
      snprintf(v, sizeof v, "%016llx", (unsigned long long)sim_rand());
  } else {
    snprintf(v, sizeof v, "%u", (unsigned)(sim_rand() % 100));
  }
  acs_buf_free(&b);
  if (sim_check_value(n, v, ACS_XSD_ANY)) return;
  if (sim_dev_set(d, r, v, false)) sim_dev_due(d, false);
}

static void timer_cb(uv_timer_t *t) {
  sim_dev *d = t->data;
  uint64_t now = sim_now_ms();
  if (S->stopping) return;
  if (d->state == SIM_D_OFF && now >= d->off_ms) {
    d->state = SIM_D_IDLE;
    d->off_ms = 0;
    d->boot_ms = now;
    d->boot_wall = sim_wall_s();
    next_periodic(d, now);
    list_add(d, 2, false);
    if (sim_dev_wants_session(d)) sim_dev_due(d, false);
  }
  if (d->state == SIM_D_BACKOFF && now >= d->retry_ms) {
    d->state = SIM_D_IDLE;
    d->retry_ms = 0;
    list_add(d, 2, false);
    if (sim_dev_wants_session(d)) sim_dev_due(d, false);
  }
  if (d->periodic_ms && now >= d->periodic_ms) {
    next_periodic(d, now);
    if (periodic_enabled(d) && d->state != SIM_D_OFF) {
      sim_dev_add_event(d, SIM_EV_PERIODIC, NULL);
      sim_dev_due(d, false);
    }
  }
  for (uint32_t i = 0; i < d->scheds.n;) {
    if (now >= d->scheds.v[i].due_ms) {
      sim_dev_add_event(d, SIM_EV_SCHEDULED, NULL);
      sim_dev_add_event(d, SIM_EV_M_SCHEDULE_INFORM, d->scheds.v[i].key);
      free(d->scheds.v[i].key);
      SIM_VDEL(d->scheds, i);
      sim_dev_due(d, false);
    } else {
      i++;
    }
  }
  if (d->change_ms && now >= d->change_ms) {
    local_change(d);
    d->change_ms = now + 1 + (uint64_t)(-log(1.0 - sim_rand01()) * S->o.change_interval * 1000);
  }
  sim_xfer_start(d);
  sim_dev_rearm(d);
}

/* --- the pacer */

static void start_session(sim_dev *d) {
  list_remove(d);
  d->state = SIM_D_SESSION;
  S->in_flight++;
  if (S->in_flight > S->max_in_flight) S->max_in_flight = S->in_flight;
  S->st.started++;
  if (!S->t_first_ms) S->t_first_ms = sim_now_ms();
  sim_session_start(d);
}

static bool loop_mode(void) {
  if (S->o.loop >= 0) return S->o.loop;
  return S->o.rate > 0 || S->o.concurrency > 0;
}

static void pump_now(void) {
  uint64_t now = sim_now_ms();
  if (S->o.rate > 0) {
    double dt = (double)(now - S->last_tick_ms) / 1000.0;
    S->last_tick_ms = now;
    S->tokens += dt * S->o.rate;
    double cap = S->o.rate / 50.0 > 1 ? S->o.rate / 50.0 : 1;
    if (S->tokens > cap) S->tokens = cap;
  }
  while (!S->stopping) {
    if (S->o.concurrency && S->in_flight >= S->o.concurrency) break;
    if (S->o.sessions && S->st.started >= S->o.sessions) {
      sim_stop("session count reached");
      break;
    }
    if (S->o.rate > 0 && S->tokens < 1) break;
    sim_dev *d = S->due.head;
    if (!d && loop_mode() && S->idle.head) {
      d = S->idle.head;
      sim_dev_add_event(d, SIM_EV_PERIODIC, NULL);
      next_periodic(d, now);
    }
    if (!d) break;
    if (S->o.rate > 0) S->tokens -= 1;
    start_session(d);
  }
}

static void pump_cb(uv_timer_t *t) {
  (void)t;
  S->pump_armed = false;
  pump_now();
}

void sim_pump(void) {
  if (S->pump_armed || S->stopping) return;
  S->pump_armed = true;
  uv_timer_start(&S->pump_timer, pump_cb, 0, 0);
}

static void pace_cb(uv_timer_t *t) {
  (void)t;
  pump_now();
}

void sim_dev_due(sim_dev *d, bool urgent) {
  if (S->stopping) return;
  switch (d->state) {
    case SIM_D_SESSION:
    case SIM_D_OFF:
      return; /* served when the session ends / the device is up */
    case SIM_D_BACKOFF:
      if (!urgent) return;
      d->retry_ms = 0;
      break;
    case SIM_D_DUE:
      if (urgent) list_add(d, 1, true);
      return;
    default:
      break;
  }
  d->state = SIM_D_DUE;
  list_add(d, 1, urgent);
  sim_pump();
}

/* --- boot, reboot, end of session */

void sim_dev_boot_init(sim_dev *d, bool from_state) {
  uint64_t now = sim_now_ms();
  d->boot_ms = now;
  d->boot_wall = sim_wall_s();
  uv_timer_init(S->loop, &d->timer);
  d->timer.data = d;
  d->timer_open = true;
  if (S->o.periodic) {
    d->bootstrapped = true;
    sim_dev_add_event(d, SIM_EV_PERIODIC, NULL);
  } else if (from_state && d->bootstrapped) {
    sim_dev_add_event(d, SIM_EV_BOOT, NULL);
  } else if (SIM_QUIRK(SIM_Q_NO_BOOTSTRAP)) {
    sim_dev_add_event(d, SIM_EV_PERIODIC, NULL); /* first contact without "0 BOOTSTRAP" */
  } else {
    sim_dev_add_event(d, SIM_EV_BOOTSTRAP, NULL);
    sim_dev_add_event(d, SIM_EV_BOOT, NULL);
  }
  if (S->o.change_interval > 0)
    d->change_ms = now + 1 + (uint64_t)(-log(1.0 - sim_rand01()) * S->o.change_interval * 1000);
  uint64_t delay = S->o.spread > 0 ? (uint64_t)(sim_rand01() * S->o.spread * 1000) : 0;
  next_periodic(d, now + delay);
  if (delay) {
    d->state = SIM_D_OFF;
    d->off_ms = now + delay;
    sim_dev_rearm(d);
  } else {
    d->state = SIM_D_IDLE;
    list_add(d, 2, false);
    sim_dev_due(d, false);
  }
}

void sim_dev_reboot(sim_dev *d, bool factory) {
  list_remove(d);
  if (factory) {
    sim_dev_reset_data(d);
    if (!SIM_QUIRK(SIM_Q_NO_BOOTSTRAP)) sim_dev_add_event(d, SIM_EV_BOOTSTRAP, NULL);
  } else {
    sim_dev_drop_event(d, SIM_EV_PERIODIC);
    sim_dev_drop_event(d, SIM_EV_CONNECTION_REQUEST);
  }
  sim_dev_add_event(d, SIM_EV_BOOT, NULL);
  d->retries = 0;
  d->state = SIM_D_OFF;
  d->off_ms = sim_now_ms() + (S->o.reboot_ms ? S->o.reboot_ms : 1);
  sim_dev_rearm(d);
}

/* The CWMP back-off (TR-069 3.2.1.1): the n-th retry waits a random time in
 * [m * k^(n-1), m * k^n] seconds, n capped at 10. */
static uint64_t backoff_ms(const sim_dev *d) {
  double m = sim_dev_get_uint(d, S->model->retry_min, 5);
  double k = sim_dev_get_uint(d, S->model->retry_mult, 2000) / 1000.0;
  if (m < 1) m = 1;
  if (k < 1) k = 1;
  unsigned n = d->retries < 1 ? 1 : d->retries > 10 ? 10 : d->retries;
  double lo = m * pow(k, n - 1), hi = m * pow(k, n);
  return (uint64_t)((lo + (hi - lo) * sim_rand01()) * 1000);
}

static void maybe_finish(void);

void sim_dev_session_done(sim_dev *d, bool ok, long retry_after_s) {
  S->in_flight--;
  S->t_last_ms = sim_now_ms();
  d->state = SIM_D_IDLE;
  if (ok) d->retries = 0;
  if (d->reset_after || d->reboot_after) { /* even when stopping: the state file keeps it */
    bool factory = d->reset_after;
    d->reset_after = d->reboot_after = false;
    char *key = d->reboot_key;
    d->reboot_key = NULL;
    sim_dev_reboot(d, factory);
    if (!factory && key && !SIM_QUIRK(SIM_Q_BOOT_WITHOUT_M_REBOOT))
      sim_dev_add_event(d, SIM_EV_M_REBOOT, key); /* a Reboot RPC's */
    free(key);
  } else if (S->stopping) {
    /* nothing more */
  } else if (!ok) {
    d->retries++;
    uint64_t wait =
        retry_after_s >= 0 ? (uint64_t)retry_after_s * 1000 + sim_rand() % 1000 : backoff_ms(d);
    d->state = SIM_D_BACKOFF;
    d->retry_ms = sim_now_ms() + (wait ? wait : 1);
  } else {
    list_add(d, 2, false);
    sim_stun_update(d);
    sim_xmpp_update(d);
    if (sim_dev_wants_session(d))
      sim_dev_due(d, false);
    else
      sim_xfer_start(d);
  }
  if (S->stopping) {
    maybe_finish();
    return;
  }
  sim_dev_rearm(d);
  sim_pump();
}

void sim_dev_job_done(sim_dev *d, bool reboot) {
  d->job = NULL;
  if (S->stopping) return;
  if (reboot && d->state != SIM_D_SESSION) {
    sim_dev_reboot(d, false);
    return;
  }
  if (reboot) d->reboot_after = true;
  if (sim_dev_wants_session(d)) sim_dev_due(d, false);
  if (!d->job && d->state != SIM_D_SESSION) sim_xfer_start(d);
  sim_dev_rearm(d);
}

/* --- start and stop */

static void handle_closed(uv_handle_t *h) { (void)h; }

static void close_all(void) {
  for (uint32_t i = 0; i < S->ndev; i++) {
    sim_dev *d = &S->devs[i];
    if (d->job) sim_xfer_abort(d);
    if (d->timer_open) {
      d->timer_open = false;
      uv_close((uv_handle_t *)&d->timer, handle_closed);
    }
  }
  uv_handle_t *hs[] = {(uv_handle_t *)&S->pace_timer,   (uv_handle_t *)&S->stop_timer,
                       (uv_handle_t *)&S->sample_timer, (uv_handle_t *)&S->pump_timer,
                       (uv_handle_t *)&S->grace_timer,  (uv_handle_t *)&S->sigint,
                       (uv_handle_t *)&S->sigterm};
  for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
    if (!uv_is_closing(hs[i])) uv_close(hs[i], handle_closed);
  sim_cr_stop();
  sim_stun_stop_all();
  sim_xmpp_stop_all();
}

static void maybe_finish(void) {
  if (S->stopped || S->in_flight) return;
  S->stopped = true;
  sim_stats_sample();
  close_all();
}

static void grace_cb(uv_timer_t *t) {
  (void)t;
  sim_log("sessions still open at the end of the grace period: aborted");
  for (uint32_t i = 0; i < S->ndev; i++)
    if (S->devs[i].state == SIM_D_SESSION) sim_session_abort(&S->devs[i]);
  maybe_finish();
}

void sim_stop(const char *why) {
  if (S->stopping) return;
  S->stopping = true;
  if (!S->o.quiet) sim_log("stopping: %s (%u sessions in flight)", why, S->in_flight);
  uv_timer_stop(&S->pace_timer);
  uv_timer_stop(&S->pump_timer);
  for (uint32_t i = 0; i < S->ndev; i++)
    if (S->devs[i].timer_open) uv_timer_stop(&S->devs[i].timer);
  if (S->in_flight == 0) {
    maybe_finish();
    return;
  }
  uv_timer_start(&S->grace_timer, grace_cb, S->o.timeout_ms + 2000, 0);
}

static void stop_cb(uv_timer_t *t) {
  (void)t;
  sim_stop("duration reached");
}

static void sample_cb(uv_timer_t *t) {
  (void)t;
  sim_stats_sample();
}

static void signal_cb(uv_signal_t *h, int sig) {
  (void)h;
  sim_stop(sig == SIGINT ? "SIGINT" : "SIGTERM");
}

void sim_sched_init(void) {
  uv_timer_init(S->loop, &S->pace_timer);
  uv_timer_init(S->loop, &S->stop_timer);
  uv_timer_init(S->loop, &S->sample_timer);
  uv_timer_init(S->loop, &S->pump_timer);
  uv_timer_init(S->loop, &S->grace_timer);
  uv_signal_init(S->loop, &S->sigint);
  uv_signal_init(S->loop, &S->sigterm);
  uv_signal_start(&S->sigint, signal_cb, SIGINT);
  uv_signal_start(&S->sigterm, signal_cb, SIGTERM);
  S->last_tick_ms = sim_now_ms();
  if (S->o.rate > 0) uv_timer_start(&S->pace_timer, pace_cb, 5, 5);
  if (S->o.duration > 0)
    uv_timer_start(&S->stop_timer, stop_cb, (uint64_t)(S->o.duration * 1000), 0);
  uv_timer_start(&S->sample_timer, sample_cb, 1000, 1000);
}
