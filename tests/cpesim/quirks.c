/* quirks.c: --quirk NAME, deviations of deployed CPE stacks that the
 * simulator plays on purpose so that the ACS's tolerance of them is tested
 * end to end (docs/cpesim.md "Quirks", docs/interop.md). The quirks that
 * change a message rewrite its encoded text here; the others are checked
 * where the behaviour lives (crserver.c, rpc.c, session.c, sched.c,
 * transfer.c) with SIM_QUIRK(). */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static const struct {
  const char *name;
  uint32_t bit;
} quirks[] = {
    {"cr-unterminated", SIM_Q_CR_UNTERMINATED},
    {"object-only", SIM_Q_OBJECT_ONLY},
    {"crash-partial", SIM_Q_CRASH_PARTIAL},
    {"fault-in-faultstring", SIM_Q_FAULT_IN_FAULTSTRING},
    {"no-bootstrap", SIM_Q_NO_BOOTSTRAP},
    {"no-periodic", SIM_Q_NO_PERIODIC},
    {"boot-without-m-reboot", SIM_Q_BOOT_WITHOUT_M_REBOOT},
    {"stale-cookies", SIM_Q_STALE_COOKIES},
    {"digest-no-commas", SIM_Q_DIGEST_NO_COMMAS},
    {"xsd-1999", SIM_Q_XSD_1999},
    {"download-no-credentials", SIM_Q_DOWNLOAD_NO_CREDENTIALS},
    {"xmpp-silent", SIM_Q_XMPP_SILENT},
    {"gpn-objects-only", SIM_Q_GPN_OBJECTS_ONLY},
};

int sim_quirks_parse(const char *list, uint32_t *out, char *bad, size_t badlen) {
  const char *p = list;
  for (;;) {
    size_t n = strcspn(p, ",");
    uint32_t bit = 0;
    for (size_t i = 0; i < sizeof quirks / sizeof *quirks; i++)
      if (strlen(quirks[i].name) == n && memcmp(quirks[i].name, p, n) == 0) bit = quirks[i].bit;
    if (!bit) {
      size_t k = n < badlen - 1 ? n : badlen - 1;
      memcpy(bad, p, k);
      bad[k] = '\0';
      return -1;
    }
    *out |= bit;
    if (!p[n]) return 0;
    p += n + 1;
  }
}

/* Replaces every occurrence of from by to (same length) in place. */
static void replace_same_len(acs_buf *b, const char *from, const char *to) {
  size_t n = strlen(from);
  char *p = b->data, *end = b->data + b->len;
  while (p && (p = memmem(p, (size_t)(end - p), from, n))) {
    memcpy(p, to, n);
    p += n;
  }
}

/* "<faultstring>S</faultstring><detail>D</detail>" becomes
 * "<faultstring>S<detail>D</detail></faultstring>": the detail inside the
 * faultstring, as some stacks write it (against SOAP 1.1 section 4.4). */
static void detail_inside_faultstring(acs_buf *b) {
  static const char fs_end[] = "</faultstring>", det_end[] = "</detail>";
  char *fe = memmem(b->data, b->len, fs_end, sizeof fs_end - 1);
  if (!fe) return;
  size_t at = (size_t)(fe - b->data);
  char *de = memmem(fe, b->len - at, det_end, sizeof det_end - 1);
  if (!de) return;
  size_t det_stop = (size_t)(de - b->data) + sizeof det_end - 1;
  acs_buf r = ACS_BUF_INIT;
  acs_buf_append(&r, b->data, at);
  acs_buf_append(&r, b->data + at + sizeof fs_end - 1, det_stop - at - (sizeof fs_end - 1));
  acs_buf_append(&r, fs_end, sizeof fs_end - 1);
  acs_buf_append(&r, b->data + det_stop, b->len - det_stop);
  acs_buf_reset(b);
  acs_buf_append(b, r.data, r.len);
  acs_buf_free(&r);
}

void sim_quirks_rewrite(acs_buf *body, acs_cwmp_kind kind) {
  if (!body->len) return;
  if (SIM_QUIRK(SIM_Q_XSD_1999))
    replace_same_len(body, "http://www.w3.org/2001/XMLSchema", "http://www.w3.org/1999/XMLSchema");
  if (SIM_QUIRK(SIM_Q_FAULT_IN_FAULTSTRING) && kind == ACS_CWMP_FAULT)
    detail_inside_faultstring(body);
}

bool sim_quirk_crashes(sim_dev *d, const acs_cwmp_msg *req) {
  if (!SIM_QUIRK(SIM_Q_CRASH_PARTIAL) || req->kind != ACS_CWMP_GET_PARAMETER_VALUES) return false;
  const acs_cwmp_strings *names = &req->u.get_parameter_values.names;
  for (size_t i = 0; i < names->n; i++) {
    const char *p = names->v[i] ? names->v[i] : "";
    size_t n = strlen(p);
    sim_ref r;
    if (n == 0 || p[n - 1] == '.' || sim_dev_find(d, p, &r)) return true;
  }
  return false;
}
