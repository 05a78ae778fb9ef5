/* acs_policy.h: the Lua policies of a worker and their part in sessions
 * (policy.c). A worker's acs_policy_vm holds its script VM with the policy
 * tree compiled into it (the lua/ folder, compiled into acsd, plus the
 * directory's provisions/ and presets/), and the names of the presets
 * files. docs/policies.md is the manual for policy writers. */
#ifndef ACS_POLICY_H
#define ACS_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "script/acs_script.h"

typedef struct acs_policy_vm {
  acs_script_vm *vm;
  char **presets; /* "presets/NAME" of the current generation, in name order */
  size_t npresets;
  char **alarms; /* "alarms/NAME": alarm rules, run in every session */
  size_t nalarms;
  size_t chunks;        /* chunks of the current generation (0: none loaded) */
  bool error;           /* no generation could be loaded: sessions run no policies */
  long long generation; /* the store's generation loaded (0: a directory's tree) */
  /* per presets file, what it returns when that depends on its text alone
   * (a registry reference), else why not (policy_preset.c); for the VM's
   * generation presets_gen */
  int *preset_refs;
  size_t npreset_refs;
  uint64_t presets_gen;
} acs_policy_vm;

/* A VM with the host functions and the tree of dir loaded (dir NULL: the
 * standard library only). A tree that does not load is reported in err and
 * logged, and the VM runs no policies (error set); NULL only when out of
 * memory. */
acs_policy_vm *acs_policy_vm_new(const char *dir, char *err, size_t errlen);
/* Loads dir as the next generation; on any error the current one stays
 * (ACS_EINVAL, "file:line: message" in err). */
int acs_policy_vm_reload(acs_policy_vm *pv, const char *dir, char *err, size_t errlen);
void acs_policy_vm_free(acs_policy_vm *pv);

/* A tree as one generation's files: {"provisions/NAME": "text", ...}. */
int acs_policy_read_tree(const char *dir, json_t **out, char *err, size_t errlen);
/* Compiles files (and the standard library) as the next generation; on any
 * error the current one stays. */
int acs_policy_vm_load_json(acs_policy_vm *pv, const json_t *files, char *err, size_t errlen);
/* The static checks of every file of files (policy_lint.c) against pv, in
 * which files were just compiled: each finding is appended to findings as
 * {"file": "provisions/NAME", "line", "message"}. 0, or an error (err). */
int acs_policy_lint_tree(acs_policy_vm *pv, const json_t *files, json_t *findings, char *err,
                         size_t errlen);
/* sha256 over the files in name order, hex. */
void acs_policy_checksum(const json_t *files, char out[65]);

/* The engine's clock, ms since the epoch: the real time plus
 * ACS_CLOCK_OFFSET_MS from the environment (tests move time with it). */
int64_t acs_policy_now_ms(void);

/* --- generations in the store (policy_gen.c) */

/* A generation as the API shows it, over one policy_generations row, in
 * this order: id, created_at, created_by, source, checksum, valid, files
 * (a JSON array of the files' paths in the tree, "provisions/NAME.lua", in
 * name order) and error (JSON {file, line, message} with file such a path,
 * or NULL). The store keeps the policies' names ("provisions/NAME"). */
/* clang-format off */
#define ACS_POLICY_GEN_COLS                                                        \
  "id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "  \
  "created_by, source, checksum, valid, (SELECT coalesce(json_agg(k || '.lua' "   \
  "ORDER BY k COLLATE \"C\"), '[]') FROM jsonb_object_keys(files) k)::text, "      \
  "(CASE WHEN error->>'file' ~ '^(provisions|presets|alarms|jobs|virtual)/' THEN "\
  "jsonb_set(error, '{file}', to_jsonb((error->>'file') || '.lua')) ELSE error "  \
  "END)::text"
/* clang-format on */
#define ACS_POLICY_GEN_NCOLS 8

/* SQL: the id of the generation every instance serves (schema version 15:
 * policy_reload.active, set by each valid push, activate and rollback; the
 * newest valid generation where nothing set it), or NULL: none. */
#define ACS_POLICY_CURRENT_ID                                                    \
  "coalesce((SELECT active FROM policy_reload), (SELECT max(id) FROM "          \
  "policy_generations WHERE valid))"

/* One push of a tree, ready for the store: the tree compiled in a scratch
 * VM, its checksum, and the parameters of acs_policy_push_sql. The command
 * line (acs_policy_push), start-up, the watcher and POST /api/v1/policies
 * all go through it and through acs_policy_push_sql. */
typedef struct acs_policy_push_stmt {
  char checksum[65];
  bool valid;
  char error[512];  /* "file:line: message" when not valid */
  char *files_text; /* the tree as JSON */
  char *error_text; /* {"file", "line", "message", "findings"} as JSON, or NULL */
  size_t findings;     /* the static checks' findings (policy_lint.c) */
  char *findings_text; /* a forced push's findings as JSON text, for its audit row */
  char token_id[24];
  char *dry_text; /* the dry run's summary for the audit row (session/acs_dryrun.h), or NULL */
  const char *params[11]; /* [9]: "t" (the default) a valid new generation becomes
                           * current; "f" it is only stored (for a canary roll-out);
                           * [10]: the dry run's summary (JSON), or NULL */
} acs_policy_push_stmt;

#define ACS_POLICY_PUSH_NPARAMS 11

/* Compiles files (one generation's, as acs_policy_read_tree makes them),
 * runs the static checks (acs_policy_lint_tree) and fills st. A finding
 * refuses the tree as a compile error does (the first finding is its
 * error, all of them under "findings") unless force is set: then the tree
 * is valid and its audit row keeps "force": true and the findings. who:
 * the actor ("cli:USER", a token's name); source: where the tree came
 * from (may be NULL); token_id: the API token's, or 0. A tree
 * that does not compile is not an error here (st->valid false). Returns 0
 * or ACS_ENOMEM; free st with acs_policy_push_stmt_free in either case. */
int acs_policy_push_prepare(const json_t *files, const char *who, const char *source, bool force,
                            long long token_id, acs_policy_push_stmt *st);
void acs_policy_push_stmt_free(acs_policy_push_stmt *st);
/* The push: run acs_policy_push_lock_sql, then acs_policy_push_sql with
 * st->params (ACS_POLICY_PUSH_NPARAMS), in one transaction. It stores the tree as a new
 * generation, with its audit row (policy.push), unless it is valid and its
 * checksum is the current generation's (and force is off); a tree
 * that does not compile is always stored, as refused. One row: created
 * ('t'/'f'), then ACS_POLICY_GEN_COLS of the new generation, or of the
 * current one when nothing was stored; a valid new one becomes the
 * current (policy_reload.active). The lock (the row of
 * policy_reload, FOR UPDATE: readers pass) makes concurrent pushes of one
 * tree store it once. */
extern const char acs_policy_push_lock_sql[];
extern const char acs_policy_push_sql[];

/* Compiles the tree of dir and stores it as a new generation (blocking; the
 * command line and start-up). *gen gets its number, or the newest's when
 * that already is this tree (unless force): *created tells. A tree that
 * does not compile is stored as refused: ACS_EINVAL, *created true, the
 * error in err. Other errors: nothing stored. */
int acs_policy_push(const char *dsn, const char *dir, const char *who, bool force, long long *gen,
                    bool *created, char *err, size_t errlen);
/* The same with the dry run (session/acs_dryrun.h) over dry_devices stored
 * devices within dry_ms (0 devices: none); *dry gets its summary (NULL
 * when none ran). */
int acs_policy_push_dry(const char *dsn, const char *dir, const char *who, bool force,
                        unsigned dry_devices, uint32_t dry_ms, long long *gen, bool *created,
                        json_t **dry, char *err, size_t errlen);
/* A directory's tree is stored with its real path as its source (dir as
 * given when it has none): every push path names one directory alike. */
void acs_policy_dir_source(const char *dir, char *out, size_t len);
/* At start (blocking, policy_start.c): with dir, imports it unless its
 * content is the generation last stored from it (the rule of
 * docs/policies.md, "Generations", logged with its reason); then reads the
 * store's current generation: *gen its number and *files its tree (0 and
 * NULL: none). The import runs the dry run as a push does (dry_devices
 * stored devices within dry_ms; 0 devices: none). Returns 0 or an error
 * (err); a dir that does not compile, or that the lint or the dry run
 * refuses, is stored as refused and is no error here. */
int acs_policy_start(const char *dsn, const char *dir, unsigned dry_devices, uint32_t dry_ms,
                     long long *gen, json_t **files, char *err, size_t errlen);
/* `acsd policies push DIR | list` (argv[0] is "policies"). */
int acs_policy_cli_main(int argc, char **argv);

/* A worker's poller: once a second, the current generation's number;
 * another one (newer, or older after a rollback) is fetched, compiled and
 * swapped in. With watch_dir (one
 * worker), the directory is also watched and a changed tree pushed (a
 * generation with its audit row, as any push) unless its content is the
 * one it last pushed or found there. */
struct acs_app_worker;
typedef struct acs_policy_poller acs_policy_poller;
int acs_policy_poller_start(struct acs_app_worker *aw, const char *watch_dir,
                            acs_policy_poller **out);
void acs_policy_poller_stop(acs_policy_poller *p);
/* Every poller of app's workers looks at the store now instead of at its
 * next tick (thread-safe: the API calls it after a push or a reload). */
struct acs_app;
void acs_policy_wake(const struct acs_app *app);
/* The generation each worker of app serves, by worker index, into gen[0..n)
 * (0: none of the store's, -1: no poller on that worker). Returns how many
 * slots it filled (the highest worker index with a poller, plus one).
 * Thread-safe. */
size_t acs_policy_served(const struct acs_app *app, long long *gen, size_t n);

/* --- canary roll-outs (docs/policies.md "Canary generations") */

/* A device's place in the fleet for roll-outs, in [0, 100): the first four
 * bytes of md5("rollout:" DEVICE_ID), big-endian, over 2^32, times 100. A
 * running roll-out's generation serves the devices whose point is below
 * its share; stable, so widening a roll-out keeps the devices it had. */
double acs_policy_canary_point(const char *device_id);
/* The same in SQL, for the device id expression id. */
#define ACS_POLICY_CANARY_POINT_SQL(id)                                          \
  "(('x' || substr(md5('rollout:' || " id "), 1, 8))::bit(32)::bigint "          \
  "/ 4294967296.0 * 100)"
/* The policies a session of device_id runs on worker aw: the canary
 * generation's VM when a roll-out runs, its generation is loaded on this
 * worker and the device is in its share; else the current generation's. */
struct acs_app_worker;
acs_policy_vm *acs_policy_pick(struct acs_app_worker *aw, const char *device_id);

/* Fleet jobs (jobs.c), on one worker per instance: jobs/schedule.lua says
 * which jobs/NAME.lua run how often; a lease in the store makes each run on
 * one instance at a time. */
typedef struct acs_policy_jobs acs_policy_jobs;
int acs_policy_jobs_start(struct acs_app_worker *aw, acs_policy_jobs **out);
void acs_policy_jobs_stop(acs_policy_jobs *j);

#endif
