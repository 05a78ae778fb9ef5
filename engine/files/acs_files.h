/* acs_files.h: files served to CPEs (firmware images, configuration files):
 * the file server on its own listener, per-download credentials, and the
 * Download tasks that name a file.
 *
 * The bytes live in PostgreSQL (tables files, file_chunks, file_grants of
 * schema version 6), so that any instance behind a load balancer serves
 * any file. Each worker has one store connection of its own for files
 * (opened on first use), so that moving a firmware image's bytes never
 * queues behind, or in front of, the CWMP sessions' statements on the
 * worker's main connection.
 *
 * A task {"rpc": "Download", "args": {"file": "NAME", ...}} (however it was
 * queued: the API, or a task row inserted by the engine for a policy) is
 * resolved when its session sends it: acs_files_task_file() takes the name
 * out of the arguments, acs_files_download_prepare() makes the task's grant
 * (a fresh user name and password, stored as a Digest HA1) and reads the
 * file, and acs_files_download_apply() fills the RPC's URL, FileType,
 * FileSize, Username and Password. The password exists only in the RPC.
 *
 * Threading: everything here runs on the caller's worker. */
#ifndef ACS_FILES_H
#define ACS_FILES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/acs_app.h"
#include "core/acs_arena.h"
#include "cwmp/acs_cwmp.h"

/* Bytes per file_chunks row of new uploads (a file's own chunk_size is
 * stored with it), and the most the file server fetches per statement. */
#define ACS_FILES_CHUNK (256 * 1024)
#define ACS_FILES_SLICE (64 * 1024)
/* The realm of the file server's credentials (part of the stored HA1). */
#define ACS_FILES_REALM "acsd files"

typedef struct acs_files_worker acs_files_worker;

/* Per-worker state (aw->files), made by the worker's start hook; stop
 * closes its store connection and calls done(arg) once it is closed
 * (statements in flight are told ACS_ECANCELED first). */
int acs_files_worker_init(acs_app_worker *aw);
void acs_files_worker_stop(acs_files_worker *fw, void (*done)(void *arg), void *arg);
/* The worker's files connection, opened on first use; NULL without a
 * store (or when it cannot be opened). */
acs_pg *acs_files_pg(acs_app_worker *aw);

/* The file server listener's request handler; ctx is the acs_app.
 * GET and HEAD /files/{name} with Range, ETag and per-download
 * credentials (docs/api.md, "File server"). */
void acs_files_handle(acs_conn *c, const acs_http_request *req, void *ctx);

/* --- names and types (the API checks uploads with them) */

/* A file name: 1..128 bytes of [A-Za-z0-9._~+-], not starting with '.'. */
bool acs_files_name_ok(const char *name);
/* A Download FileType of TR-069: "1 Firmware Upgrade Image" .. "6 Stored
 * Firmware Image", or "X <OUI> <vendor-specific>". */
bool acs_files_type_ok(const char *type);

/* --- Download tasks naming a file */

/* When kind is a Download and args (an object) has "file": removes it from
 * args and returns the name (malloc'd; "" when it is not a string, which no
 * file has). NULL otherwise, args untouched. */
char *acs_files_task_file(acs_cwmp_kind kind, json_t *args);
/* The API's check of such a task's args: "file" a valid name, and none of
 * the arguments the engine fills (URL, FileType, FileSize, Username,
 * Password). Returns true, or false with a message in err. */
bool acs_files_task_args_ok(const json_t *args, const char *name, char *err, size_t errlen);
/* The statement (one parameter: the name) that fails with SQLSTATE P0002
 * when no complete file has that name: the API runs it in the task's
 * transaction. */
extern const char acs_files_sql_required[];
#define ACS_FILES_SQLSTATE_NO_FILE "P0002"

typedef struct acs_files_download {
  const char *url; /* the file server's URL of the file */
  const char *file_type;
  uint64_t size;
  const char *username, *password;
} acs_files_download;

/* status 0 with d (valid during the call), ACS_ENOTFOUND (no such file,
 * or the task is gone), ACS_EINVAL (no file server URL is known: no
 * file-server-url and no file server listener), or a store error. */
typedef void (*acs_files_download_cb)(int status, const acs_files_download *d, void *arg);

/* Makes the grant of task_id for file (valid file-grant-ttl seconds after
 * delay_s, the Download's DelaySeconds) and reads the file's type and size.
 * The URL's base is file-server-url, else the Host the CPE used on c (the
 * session's connection) with the file server's port. Returns 0 (cb will
 * run, from the loop) or an error (cb will not). */
int acs_files_download_prepare(acs_app_worker *aw, acs_conn *c, int64_t task_id, const char *file,
                               uint32_t delay_s, acs_files_download_cb cb, void *arg);
/* Fills msg (a Download) from d, copying into a. 0 or ACS_ENOMEM. */
int acs_files_download_apply(const acs_files_download *d, acs_cwmp_msg *msg, acs_arena *a);

#endif
