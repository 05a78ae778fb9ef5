/* test_log.c: the log records (core/acs_log.h), read back from stderr: a
 * JSON record is one object per line with every key (trace_id null or the
 * thread's trace, fields {} or the record's extras, escaped), a text record
 * carries its fields as key=value after the message, and clearing the
 * context clears the trace. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acs_test.h"
#include "core/acs_log.h"

static char out_path[64];

/* Runs fn with stderr in a file; the file's text into buf. */
static void capture(void (*fn)(void), char *buf, size_t n) {
  fflush(stderr);
  int saved = dup(2);
  FILE *f = fopen(out_path, "w+");
  dup2(fileno(f), 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(f);
  size_t got = fread(buf, 1, n - 1, f);
  buf[got] = '\0';
  fclose(f);
}

static void json_records(void) {
  acs_log_set_format(ACS_LOG_JSON);
  acs_log_set_context("DEV-1", "sess-1");
  acs_log(ACS_LOG_INFO, "test", "plain %d", 1);
  acs_log_set_trace("4bf92f3577b34da6a3ce929d0e0e4736");
  acs_log_field f[] = {{"task", "12"}, {"rpc", "Re\"boot\n"}, {"none", NULL}};
  acs_log_fields(ACS_LOG_WARN, "test", f, 3, "with fields");
  acs_log_set_context(NULL, NULL);
  acs_log(ACS_LOG_INFO, "test", "after");
}

static void text_records(void) {
  acs_log_set_format(ACS_LOG_TEXT);
  acs_log_field f[] = {{"task", "12"}, {"trace", NULL}};
  acs_log_fields(ACS_LOG_INFO, "test", f, 2, "sent");
}

int main(void) {
  snprintf(out_path, sizeof out_path, "/tmp/acs-test-log-%d", (int)getpid());
  char buf[8192];
  capture(json_records, buf, sizeof buf);
  char *save = NULL, *line = strtok_r(buf, "\n", &save);
  static const char *const keys[] = {"time",    "level",    "instance", "worker", "subsystem",
                                     "device",  "session",  "trace_id", "message", "fields"};
  json_t *rec[3] = {NULL, NULL, NULL};
  for (int i = 0; i < 3 && line; i++, line = strtok_r(NULL, "\n", &save)) {
    rec[i] = json_loads(line, 0, NULL);
    CHECK(rec[i] != NULL);
    CHECK_INT((int)json_object_size(rec[i]), 10);
    for (size_t k = 0; rec[i] && k < sizeof keys / sizeof keys[0]; k++)
      CHECK(json_object_get(rec[i], keys[k]) != NULL);
  }
  CHECK(line == NULL);
  CHECK(json_is_null(json_object_get(rec[0], "trace_id")));
  CHECK_INT((int)json_object_size(json_object_get(rec[0], "fields")), 0);
  CHECK_STR(json_string_value(json_object_get(rec[0], "device")), "DEV-1");
  CHECK_STR(json_string_value(json_object_get(rec[1], "trace_id")),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  json_t *f = json_object_get(rec[1], "fields");
  CHECK_STR(json_string_value(json_object_get(f, "task")), "12");
  CHECK_STR(json_string_value(json_object_get(f, "rpc")), "Re\"boot\n");
  CHECK(json_is_null(json_object_get(f, "none")));
  CHECK(json_is_null(json_object_get(rec[2], "trace_id")));
  CHECK(json_is_null(json_object_get(rec[2], "device")));
  for (int i = 0; i < 3; i++) json_decref(rec[i]);

  capture(text_records, buf, sizeof buf);
  CHECK(strstr(buf, " info test: sent task=12 trace=-\n") != NULL);
  unlink(out_path);
  return acs_test_result("test_log");
}
