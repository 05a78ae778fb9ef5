/* trace_mask.c: secrets out of traced CWMP messages (acs_trace_mask.h). */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "core/acs_secret_param.h"
#include "core/acs_trace_mask.h"

/* The next element start or end tag named local (any prefix) at or after
 * from: returns the offset of its '<' and sets *gt to the offset just after
 * its '>', or returns n. close: an end tag ("</x:local>"). */
static size_t find_tag(const char *s, size_t n, size_t from, const char *local, int close,
                       size_t *gt) {
  size_t ll = strlen(local);
  for (size_t i = from; i < n; i++) {
    if (s[i] != '<') continue;
    size_t j = i + 1;
    if (close) {
      if (j >= n || s[j] != '/') continue;
      j++;
    } else if (j < n && s[j] == '/') {
      continue;
    }
    size_t name = j;
    while (j < n && s[j] != '>' && s[j] != ' ' && s[j] != '\t' && s[j] != '\r' && s[j] != '\n' &&
           s[j] != '/')
      j++;
    const char *colon = memchr(s + name, ':', j - name);
    size_t ls = colon ? (size_t)(colon - s) + 1 : name;
    if (j - ls != ll || memcmp(s + ls, local, ll) != 0) continue;
    while (j < n && s[j] != '>') j++;
    if (j >= n) return n;
    if (!close && s[j - 1] == '/') continue; /* <Value/>: nothing to mask */
    *gt = j + 1;
    return i;
  }
  return n;
}

/* Masks the content of the element whose start tag ends at content and
 * whose end tag is the next </local>: appends s[*done..content) and the
 * mask, and moves *done to the end tag. */
static void mask_content(const char *s, size_t n, size_t content, const char *local, size_t *done,
                         acs_buf *out) {
  size_t gt, end = find_tag(s, n, content, local, 1, &gt);
  if (end >= n) return; /* unterminated: left as it is */
  acs_buf_append(out, s + *done, content - *done);
  acs_buf_puts(out, ACS_TRACE_MASK);
  *done = end;
}

void acs_trace_mask_body(const char *s, size_t n, acs_buf *out) {
  size_t done = 0, at = 0, gt;
  /* ParameterValueStruct: <Name>secret</Name> ... <Value>masked</Value> */
  acs_buf tmp = ACS_BUF_INIT;
  while ((at = find_tag(s, n, at, "Name", 0, &gt)) < n) {
    size_t name_start = gt, name_gt;
    size_t name_end = find_tag(s, n, name_start, "Name", 1, &name_gt);
    if (name_end >= n) break;
    at = name_gt;
    /* trimmed name */
    size_t a = name_start, b = name_end;
    while (a < b && (s[a] == ' ' || s[a] == '\n' || s[a] == '\r' || s[a] == '\t')) a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\n' || s[b - 1] == '\r' || s[b - 1] == '\t'))
      b--;
    if (!acs_param_is_secret(s + a, b - a)) continue;
    size_t vgt, v = find_tag(s, n, name_gt, "Value", 0, &vgt);
    size_t next_name = find_tag(s, n, name_gt, "Name", 0, &gt);
    if (v >= n || v > next_name) continue; /* no Value of its own */
    size_t before = done;
    mask_content(s, n, vgt, "Value", &done, &tmp);
    at = done > before ? done : vgt; /* an unterminated Value stays as it is */
  }
  acs_buf_append(&tmp, s + done, n - done);
  /* Password elements (Download, Upload, ScheduleDownload) */
  const char *t = tmp.data ? tmp.data : "";
  size_t tn = tmp.len;
  done = at = 0;
  while ((at = find_tag(t, tn, at, "Password", 0, &gt)) < tn) {
    mask_content(t, tn, gt, "Password", &done, out);
    at = gt > done ? gt : done;
  }
  acs_buf_append(out, t + done, tn - done);
  acs_buf_free(&tmp);
}

void acs_trace_mask_header(const char *name, const char *value, acs_buf *out) {
  bool secret = strcasecmp(name, "Authorization") == 0 || strcasecmp(name, "Proxy-Authorization") == 0;
  acs_buf_puts(out, name);
  acs_buf_puts(out, ": ");
  if (secret) {
    /* the scheme stays (Digest, Basic): what the CPE tried is useful */
    const char *sp = strchr(value, ' ');
    if (sp) acs_buf_append(out, value, (size_t)(sp - value) + 1);
    acs_buf_puts(out, ACS_TRACE_MASK);
  } else {
    acs_buf_puts(out, value);
  }
  acs_buf_puts(out, "\r\n");
}
