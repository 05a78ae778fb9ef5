/* migrations.c: the schema, one SQL text per version (see docs/storage.md
 * for the reasons behind each choice and the figures that decided them).
 *
 * Rules for a migration: it runs inside a transaction that acs_store_migrate
 * opens (so no BEGIN/COMMIT, no CREATE INDEX CONCURRENTLY), as a role that
 * owns the database but is not superuser (so no extensions that need one),
 * and it is never edited once released: a change is a new version. */
#include <stddef.h>

#include "store/acs_store.h"
#include "store/informs_sql.h"
#include "store/migrations_sql.h"

/* Version 1: devices, parameters, events, tasks, faults, API tokens,
 * secrets, audit log. */
static const char v1_sql[] =
    /* Identifiers and parameter paths sort and compare bytewise (COLLATE "C"):
     * faster than a linguistic collation, a stable cursor order, and btree
     * indexes that serve prefix searches (LIKE 'abc%', starts_with). */
    "CREATE TABLE devices (\n"
    "  id text COLLATE \"C\" PRIMARY KEY,         -- OUI-ProductClass-Serial (Contracts)\n"
    "  oui text NOT NULL,\n"
    "  product_class text NOT NULL DEFAULT '',\n"
    "  serial_number text NOT NULL,\n"
    "  manufacturer text NOT NULL DEFAULT '',\n"
    "  hardware_version text,\n"
    "  software_version text,\n"
    "  created_at timestamptz NOT NULL DEFAULT now(),\n"
    "  last_inform timestamptz,\n"
    "  last_boot timestamptz,                     -- last '1 BOOT'\n"
    "  last_bootstrap timestamptz,                -- last '0 BOOTSTRAP'\n"
    "  source_ip inet,\n"
    "  connection_request_url text,\n"
    "  cwmp_version text,\n"
    "  tags text[] NOT NULL DEFAULT '{}',\n"
    "  data_stale boolean NOT NULL DEFAULT false, -- set by 0 BOOTSTRAP\n"
    "  refreshed jsonb NOT NULL DEFAULT '{}',     -- path prefix -> when last read whole\n"
    "  session_fence bigint NOT NULL DEFAULT 0    -- highest lock fencing token seen\n"
    ") WITH (fillfactor = 80);\n"
    /* No index on last_inform: every Inform updates it, and an indexed column
     * would make each of those updates non-HOT (new entries in every index). */
    "CREATE INDEX devices_serial ON devices (serial_number);\n"
    "CREATE INDEX devices_model ON devices (oui, product_class);\n"
    "CREATE INDEX devices_tags ON devices USING gin (tags);\n"
    "\n"
    /* One row per parameter, hash-partitioned by device: a device's rows all
     * live in one partition; 16 partitions keep each table and index a
     * sixteenth of the size for vacuum, and let a later version spread them. */
    "CREATE TABLE parameters (\n"
    "  device_id text COLLATE \"C\" NOT NULL,\n"
    "  name text COLLATE \"C\" NOT NULL,          -- full path; objects end with '.'\n"
    "  value text,\n"
    "  xsd_type text,                             -- 'xsd:string', 'xsd:unsignedInt', ...\n"
    "  writable boolean,\n"
    "  is_object boolean NOT NULL DEFAULT false,\n"
    "  notification smallint,                     -- 0 off, 1 passive, 2 active, ...\n"
    "  access_list text[],\n"
    "  value_at timestamptz,                      -- value or type last changed\n"
    "  names_at timestamptz,                      -- writable/is_object last changed\n"
    "  attrs_at timestamptz,                      -- notification/access last changed\n"
    "  PRIMARY KEY (device_id, name)\n"
    ") PARTITION BY HASH (device_id);\n"
    "DO $$\n"
    "BEGIN\n"
    "  FOR i IN 0..15 LOOP\n"
    "    EXECUTE format('CREATE TABLE %I PARTITION OF parameters "
    "FOR VALUES WITH (MODULUS 16, REMAINDER %s)', 'parameters_p' || lpad(i::text, 2, '0'), i);\n"
    "  END LOOP;\n"
    "END $$;\n"
    "\n"
    /* Events: ~29M rows a day at 100K devices informing every 5 minutes.
     * Range-partitioned by day so that retention drops a partition (no
     * DELETE, no vacuum debt); the default partition catches rows outside
     * the partitions made ahead of time. No foreign key: history outlives
     * devices and per-row key checks are not worth it at that rate. */
    "CREATE TABLE events (\n"
    "  id bigserial NOT NULL,\n"
    "  device_id text COLLATE \"C\" NOT NULL,\n"
    "  code text NOT NULL,                        -- '0 BOOTSTRAP', 'M Reboot', ...\n"
    "  command_key text,\n"
    "  received_at timestamptz NOT NULL DEFAULT now(),\n"
    "  payload jsonb\n"
    ") PARTITION BY RANGE (received_at);\n"
    "CREATE TABLE events_default PARTITION OF events DEFAULT;\n"
    "CREATE INDEX events_device ON events (device_id, received_at, id);\n"
    "\n"
    /* Creates the daily partitions from today (UTC) to ahead_days, drops
     * those older than retention_days. Idempotent; safe to run from several
     * instances (a lost creation race is ignored). */
    "CREATE FUNCTION acs_events_maintain(retention_days int DEFAULT 30, ahead_days int "
    "DEFAULT 7)\n"
    "RETURNS void LANGUAGE plpgsql AS $$\n"
    "DECLARE\n"
    "  today date := (now() AT TIME ZONE 'UTC')::date;\n"
    "  d date;\n"
    "  part text;\n"
    "  r record;\n"
    "BEGIN\n"
    "  FOR i IN 0..ahead_days LOOP\n"
    "    d := today + i;\n"
    "    part := 'events_' || to_char(d, 'YYYYMMDD');\n"
    "    CONTINUE WHEN to_regclass(part) IS NOT NULL;\n"
    "    BEGIN\n"
    "      EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',\n"
    "                     part, d::timestamp AT TIME ZONE 'UTC',\n"
    "                     (d + 1)::timestamp AT TIME ZONE 'UTC');\n"
    "    EXCEPTION\n"
    "      WHEN duplicate_table THEN NULL;\n"
    "      WHEN check_violation THEN\n"
    "        RAISE WARNING 'events_default holds rows of %; partition not created', d;\n"
    "    END;\n"
    "  END LOOP;\n"
    "  FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid\n"
    "           WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{8}$'\n"
    "             AND to_date(substr(c.relname, 8), 'YYYYMMDD') < today - retention_days\n"
    "  LOOP\n"
    "    EXECUTE format('DROP TABLE %I', r.relname);\n"
    "  END LOOP;\n"
    "END $$;\n"
    "SELECT acs_events_maintain();\n"
    "\n"
    "CREATE TABLE tasks (\n"
    "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
    "  device_id text COLLATE \"C\" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,\n"
    "  rpc text NOT NULL,                         -- 'Reboot', 'SetParameterValues', ...\n"
    "  args jsonb NOT NULL DEFAULT '{}',\n"
    "  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'done',\n"
    "         'fault', 'expired', 'cancelled', 'unknown')),\n"
    "  command_key text,\n"
    "  created_by text,\n"
    "  created_at timestamptz NOT NULL DEFAULT now(),\n"
    "  sent_at timestamptz,\n"
    "  done_at timestamptz,\n"
    "  expires_at timestamptz,\n"
    "  result jsonb,\n"
    "  fault_code int,\n"
    "  fault_string text\n"
    ");\n"
    /* "Pending tasks of a device, in order": a partial index that holds only
     * open tasks, so it stays tiny however long the history grows. */
    "CREATE INDEX tasks_open ON tasks (device_id, id) WHERE status IN ('pending', 'sent');\n"
    "CREATE INDEX tasks_expiry ON tasks (expires_at) WHERE status = 'pending' AND\n"
    "  expires_at IS NOT NULL;\n"
    "\n"
    "CREATE TABLE faults (\n"
    "  device_id text COLLATE \"C\" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,\n"
    "  channel text NOT NULL DEFAULT 'default',\n"
    "  code text NOT NULL,                        -- CWMP '9002', or 'script.timeout'...\n"
    "  message text NOT NULL DEFAULT '',\n"
    "  detail jsonb,\n"
    "  retries int NOT NULL DEFAULT 0,\n"
    "  first_at timestamptz NOT NULL DEFAULT now(),\n"
    "  last_at timestamptz NOT NULL DEFAULT now(),\n"
    "  PRIMARY KEY (device_id, channel)\n"
    ");\n"
    "\n"
    "CREATE TABLE api_tokens (\n"
    "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
    "  name text NOT NULL,\n"
    "  role text NOT NULL CHECK (role IN ('readonly', 'operator', 'admin')),\n"
    "  token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32), -- sha256\n"
    "  created_at timestamptz NOT NULL DEFAULT now(),\n"
    "  last_used_at timestamptz,\n"
    "  revoked_at timestamptz\n"
    ");\n"
    "\n"
    /* Secrets the ACS sets on CPEs (they read back empty): encrypted by acsd,
     * never in parameters. */
    "CREATE TABLE device_secrets (\n"
    "  device_id text COLLATE \"C\" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,\n"
    "  name text COLLATE \"C\" NOT NULL,\n"
    "  ciphertext bytea NOT NULL,                 -- nonce || AEAD ciphertext\n"
    "  key_id text NOT NULL,\n"
    "  set_at timestamptz NOT NULL DEFAULT now(),\n"
    "  PRIMARY KEY (device_id, name)\n"
    ");\n"
    "\n"
    "CREATE TABLE audit_log (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  at timestamptz NOT NULL DEFAULT now(),\n"
    "  actor text NOT NULL,                       -- token name, or 'system'\n"
    "  action text NOT NULL,                      -- 'task.create', 'token.revoke', ...\n"
    "  target text,\n"
    "  detail jsonb\n"
    ");\n"
    "CREATE INDEX audit_log_at ON audit_log (at);\n";

/* Version 2: a device's task history in order (GET /api/v1/devices/{id}/tasks
 * and its count; the cascade from devices), which tasks_open does not cover
 * once tasks are done. */
static const char v2_sql[] = "CREATE INDEX tasks_device ON tasks (device_id, id);\n";

/* Version 3: device queries (GET /api/v1/devices?q=, docs/api.md; the
 * figures behind each choice are in docs/storage.md, "Device queries").
 * - Typed comparisons of parameter values: acs_num, acs_time and acs_bool
 *   read a stored value as its xsd type says, never raising (NULL when it
 *   does not parse), so that indexes on them cannot fail a session's write;
 *   acs_time is plain arithmetic (no timezone setting involved), hence
 *   truly IMMUTABLE.
 * - parameters (name, left(value, 256)) for strings, = and prefixes (the
 *   first 256 characters: a btree entry must stay under ~2.7 kB); partial
 *   expression indexes for numeric and dateTime values.
 * - Identity fields bytewise (COLLATE "C") with id, for filters and for
 *   keyset pages sorted by them; the version 1 indexes on serial_number and
 *   (oui, product_class), in the database's collation, are replaced.
 * - last_inform: every Inform writes it, and an index on it would make
 *   every one of those updates non-HOT (measured: 5x the WAL). Its hour,
 *   kept by a trigger, changes at most once an hour per device: indexed. */
static const char v3_sql[] =
    "CREATE FUNCTION acs_num(v text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS\n"
    "$$ SELECT CASE WHEN v ~ '^[[:space:]]*[-+]?[0-9]{1,40}([.][0-9]{1,40})?[[:space:]]*$'\n"
    "  THEN btrim(v)::numeric END $$;\n"
    "CREATE FUNCTION acs_bool(v text) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS\n"
    "$$ SELECT CASE lower(btrim(v)) WHEN 'true' THEN true WHEN '1' THEN true\n"
    "  WHEN 'false' THEN false WHEN '0' THEN false END $$;\n"
    /* xsd:dateTime: without an offset it is read as UTC; days past the end
     * of the month roll over (no error is possible) */
    "CREATE FUNCTION acs_time(v text) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE "
    "AS\n"
    "$$ SELECT CASE WHEN m IS NULL OR m[1] = '0000' THEN NULL ELSE\n"
    "  ((make_timestamp(m[1]::int, m[2]::int, 1, 0, 0, 0)\n"
    "    + make_interval(days => m[3]::int - 1, hours => m[4]::int, mins => m[5]::int,\n"
    "                    secs => m[6]::float8))\n"
    "   - CASE WHEN m[7] IS NULL OR m[7] IN ('Z', 'z') THEN interval '0'\n"
    "     ELSE (substr(m[7], 1, 1) || '1')::int * make_interval(hours => substr(m[7], 2, 2)::int,\n"
    "                                                  mins => substr(m[7], 5, 2)::int) END)\n"
    "  AT TIME ZONE 'UTC' END\n"
    "FROM regexp_match(v, '^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]"
    "([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9](?:[.][0-9]{1,9})?)"
    "([Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$') AS m $$;\n"
    "\n"
    "CREATE INDEX parameters_name_value ON parameters (name, (left(value, 256) COLLATE \"C\"));\n"
    "CREATE INDEX parameters_name_num ON parameters (name, acs_num(value))\n"
    "  WHERE xsd_type IN ('xsd:int', 'xsd:unsignedInt', 'xsd:long', 'xsd:unsignedLong');\n"
    "CREATE INDEX parameters_name_time ON parameters (name, acs_time(value))\n"
    "  WHERE xsd_type = 'xsd:dateTime';\n"
    "\n"
    "DROP INDEX devices_serial;\n"
    "DROP INDEX devices_model;\n"
    "CREATE INDEX devices_oui ON devices ((oui COLLATE \"C\"), id);\n"
    "CREATE INDEX devices_product_class ON devices ((product_class COLLATE \"C\"), id);\n"
    "CREATE INDEX devices_serial_number ON devices ((serial_number COLLATE \"C\"), id);\n"
    "CREATE INDEX devices_manufacturer ON devices ((manufacturer COLLATE \"C\"), id);\n"
    "CREATE INDEX devices_software_version ON devices "
    "((coalesce(software_version, '') COLLATE \"C\"), id);\n"
    "CREATE INDEX devices_hardware_version ON devices "
    "((coalesce(hardware_version, '') COLLATE \"C\"), id);\n"
    "\n"
    "ALTER TABLE devices ADD COLUMN last_inform_hour timestamptz;\n"
    "CREATE FUNCTION acs_devices_inform_hour() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  NEW.last_inform_hour := date_trunc('hour', NEW.last_inform, 'UTC');\n"
    "  RETURN NEW;\n"
    "END $$;\n"
    "CREATE TRIGGER devices_inform_hour BEFORE INSERT OR UPDATE OF last_inform ON devices\n"
    "  FOR EACH ROW EXECUTE FUNCTION acs_devices_inform_hour();\n"
    "UPDATE devices SET last_inform_hour = date_trunc('hour', last_inform, 'UTC')\n"
    "  WHERE last_inform IS NOT NULL;\n"
    "CREATE INDEX devices_last_inform_hour ON devices (last_inform_hour);\n"
    "\n"
    /* GET /api/v1/tasks?status=, GET /api/v1/audit?target=|actor=|action= */
    "CREATE INDEX tasks_status ON tasks (status, id);\n"
    "CREATE INDEX audit_log_target ON audit_log (target, id);\n"
    "CREATE INDEX audit_log_actor ON audit_log (actor, id);\n"
    "CREATE INDEX audit_log_action ON audit_log (action, id);\n";

/* Version 4: the policy tree as numbered generations. A push that does not
 * compile is kept too (valid false, with its error) so that the API can show
 * what was refused and why; instances run the newest valid one. */
static const char v4_sql[] =
    "CREATE TABLE policy_generations (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  created_at timestamptz NOT NULL DEFAULT now(),\n"
    "  created_by text NOT NULL,                  -- 'cli:USER', 'watcher', a token name\n"
    "  source text,                               -- the directory it came from\n"
    "  checksum text NOT NULL,                    -- sha256 of the files in name order\n"
    "  files jsonb NOT NULL,                      -- {\"provisions/NAME\": \"text\", ...}\n"
    "  valid boolean NOT NULL,\n"
    "  error jsonb                                -- {file, line, message} when not valid\n"
    ");\n"
    "CREATE INDEX policy_generations_valid ON policy_generations (id) WHERE valid;\n";

/* Version 5: alarms raised and cleared by the policies' alarm rules, one
 * row per (device, rule, instance key): a raise of an open alarm counts and
 * moves last_seen, a raise of a cleared one opens it again. The partial
 * index keeps "what is open now" small whatever the history. */
static const char v5_sql[] =
    "CREATE TABLE alarms (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  device_id text COLLATE \"C\" NOT NULL REFERENCES devices (id) ON DELETE CASCADE,\n"
    "  rule text NOT NULL,                        -- 'alarms/wan_down'\n"
    "  instance_key text NOT NULL DEFAULT '',     -- e.g. the interface, for one alarm each\n"
    "  severity text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning',\n"
    "           'info')),\n"
    "  message text NOT NULL DEFAULT '',\n"
    "  first_seen timestamptz NOT NULL DEFAULT now(),\n"
    "  last_seen timestamptz NOT NULL DEFAULT now(),\n"
    "  count int NOT NULL DEFAULT 1,\n"
    "  cleared_at timestamptz,\n"
    "  acknowledged_at timestamptz,\n"
    "  acknowledged_by text,\n"
    "  clear_on_inform boolean NOT NULL DEFAULT false, -- fleet jobs' \"silent\" alarms\n"
    "  UNIQUE (device_id, rule, instance_key)\n"
    ");\n"
    "CREATE INDEX alarms_open ON alarms (last_seen) WHERE cleared_at IS NULL;\n"
    "CREATE INDEX alarms_inform ON alarms (device_id) WHERE cleared_at IS NULL AND "
    "clear_on_inform;\n"
    /* fleet jobs: one instance at a time runs each, by lease */
    "CREATE TABLE job_leases (\n"
    "  job text PRIMARY KEY,\n"
    "  holder text NOT NULL,\n"
    "  expires_at timestamptz NOT NULL,\n"
    "  last_run_at timestamptz NOT NULL,\n"
    "  last_status text\n"
    ");\n";

/* Version 9: the policies and alarms routes of the API (docs/api.md).
 * - policy_reload: one row whose serial POST /api/v1/policies/reload
 *   bumps; every worker's poller reads it with the newest generation's
 *   number and, when it moved, loads the newest valid generation again if
 *   it does not serve it (a generation it once failed to load included).
 *   Pushes lock the row (FOR UPDATE) so that concurrent ones of one tree
 *   store it once.
 * - Alarm lists are newest last_seen first, with (last_seen, id) as the
 *   keyset: open alarms (the default), all of them, and open ones of one
 *   rule or severity each have an index in that order; alarms_open, on
 *   last_seen alone, gives way to the first.
 * - faults.next_retry_at: when the channel may run again. NULL: as the
 *   back-off of its retries says; POST /api/v1/faults/{device}/{channel}/
 *   retry sets it to now(), so the channel runs in the device's next
 *   session. */
static const char v9_sql[] =
    "CREATE TABLE policy_reload (\n"
    "  id boolean PRIMARY KEY DEFAULT true CHECK (id), -- one row\n"
    "  serial bigint NOT NULL DEFAULT 0,\n"
    "  requested_at timestamptz,\n"
    "  requested_by text\n"
    ");\n"
    "INSERT INTO policy_reload DEFAULT VALUES;\n"
    "\n"
    "DROP INDEX alarms_open;\n"
    "CREATE INDEX alarms_open_seen ON alarms (last_seen, id) WHERE cleared_at IS NULL;\n"
    "CREATE INDEX alarms_seen ON alarms (last_seen, id);\n"
    "CREATE INDEX alarms_open_rule ON alarms (rule, last_seen, id) WHERE cleared_at IS NULL;\n"
    "CREATE INDEX alarms_open_severity ON alarms (severity, last_seen, id)\n"
    "  WHERE cleared_at IS NULL;\n"
    "\n"
    "ALTER TABLE faults ADD COLUMN IF NOT EXISTS next_retry_at timestamptz;\n";

/* Version 10: the policy runtime's one-shot actions (a reboot, a firmware
 * download) are tasks created by 'policy:PROVISION' whose CommandKey names
 * the action, looked up by device and key so that each happens once. (The
 * back-off of faulted channels uses version 9's faults.next_retry_at.) */
static const char v10_sql[] =
    "CREATE INDEX tasks_policy_actions ON tasks (device_id, command_key)\n"
    "  WHERE created_by LIKE 'policy:%';\n";
/* Version 7: bulk actions (POST /api/v1/bulk): a device query and a task,
 * expanded into one task per matching device at a rate, by one runner in the
 * cluster (engine/api/bulk_run.c). The expansion is a keyset walk over
 * device ids: last_device is the last id examined, advanced in the same
 * transaction as the tasks it made, so a restart resumes after it and never
 * makes a second task for a device; the unique index makes that a
 * constraint as well. Progress is the bulk's tasks counted by status (the
 * partial index holds bulk tasks only, so ordinary tasks pay nothing) plus
 * devices_matched - tasks_created for the devices not reached yet. */
static const char v7_sql[] =
    "CREATE TABLE bulk_actions (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  query text NOT NULL,                       -- device query (docs/api.md grammar)\n"
    "  rpc text NOT NULL,\n"
    "  args jsonb NOT NULL DEFAULT '{}',\n"
    "  rate double precision NOT NULL CHECK (rate > 0), -- tasks per second\n"
    "  window_start smallint CHECK (window_start BETWEEN 0 AND 1439), -- minutes, UTC\n"
    "  window_end smallint CHECK (window_end BETWEEN 0 AND 1439),\n"
    "  connection_request boolean NOT NULL DEFAULT false,\n"
    "  expires_in int CHECK (expires_in > 0),     -- each task's lifetime, seconds\n"
    "  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'paused',\n"
    "         'cancelled', 'done')),\n"
    "  created_by text,\n"
    "  created_at timestamptz NOT NULL DEFAULT now(),\n"
    "  updated_at timestamptz NOT NULL DEFAULT now(),\n"
    "  finished_at timestamptz,                   -- done or cancelled\n"
    "  devices_matched int NOT NULL DEFAULT 0,    -- by the query at creation\n"
    "  tasks_created int NOT NULL DEFAULT 0,\n"
    "  last_device text COLLATE \"C\",              -- keyset: the last device examined\n"
    "  expanded_at timestamptz,                   -- every device reached\n"
    "  CHECK ((window_start IS NULL) = (window_end IS NULL))\n"
    ");\n"
    "CREATE INDEX bulk_actions_running ON bulk_actions (id) WHERE status = 'running';\n"
    "CREATE INDEX bulk_actions_status ON bulk_actions (status, id);\n"
    /* nullable without a default: no table rewrite */
    "ALTER TABLE tasks ADD COLUMN bulk_id bigint REFERENCES bulk_actions (id) ON DELETE SET NULL;\n"
    "CREATE UNIQUE INDEX tasks_bulk_device ON tasks (bulk_id, device_id) WHERE bulk_id IS NOT "
    "NULL;\n"
    "CREATE INDEX tasks_bulk_status ON tasks (bulk_id, status) WHERE bulk_id IS NOT NULL;\n";
/* Version 6: files served to CPEs (firmware images, configuration files)
 * and the per-download grants that open them (docs/storage.md, "Files").
 * - The bytes live in PostgreSQL, the store every instance shares, as
 *   chunk rows (256 KiB each today; chunk_size says), stored EXTERNAL
 *   (out of line, uncompressed: firmware does not compress, and substring()
 *   of such a value reads only the TOAST slices it needs), so a Range read
 *   fetches only its chunks and nothing holds a whole image in memory.
 * - An upload writes its chunks under a row that is not complete yet (not
 *   listed, not served); the last statement checks the size and marks it
 *   complete with its audit row. A row left incomplete (acsd died mid-
 *   upload) stops holding its name after 10 minutes without a chunk.
 * - A grant is made when a Download naming a file goes out: a fresh user
 *   name and password for that task, kept as the Digest HA1 (it checks
 *   Basic too). It ends with its task (done, fault, cancelled, expired) or
 *   at its expiry. */
static const char v6_sql[] =
    "CREATE TABLE files (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  name text COLLATE \"C\" NOT NULL UNIQUE,\n"
    "  type text NOT NULL,                        -- TR-069 FileType: '1 Firmware Upgrade Image'\n"
    "  oui text,\n"
    "  product_class text,\n"
    "  version text,\n"
    "  size bigint NOT NULL DEFAULT 0,\n"
    "  sha256 text,                               -- hex, once complete\n"
    "  chunk_size int NOT NULL CHECK (chunk_size > 0),\n"
    "  complete boolean NOT NULL DEFAULT false,   -- false while being uploaded\n"
    "  created_at timestamptz NOT NULL DEFAULT now(),\n"
    "  created_by text NOT NULL,\n"
    "  updated_at timestamptz NOT NULL DEFAULT now() -- last chunk stored\n"
    ");\n"
    "CREATE INDEX files_uploading ON files (updated_at) WHERE NOT complete;\n"
    "CREATE TABLE file_chunks (\n"
    "  file_id bigint NOT NULL REFERENCES files (id) ON DELETE CASCADE,\n"
    "  seq int NOT NULL,                          -- 0, 1, ...: bytes seq * chunk_size on\n"
    "  data bytea NOT NULL,\n"
    "  PRIMARY KEY (file_id, seq)\n"
    ");\n"
    "ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;\n"
    "CREATE TABLE file_grants (\n"
    "  task_id bigint PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,\n"
    "  file_id bigint NOT NULL REFERENCES files (id) ON DELETE CASCADE,\n"
    "  username text COLLATE \"C\" NOT NULL UNIQUE,\n"
    "  ha1 text NOT NULL,                         -- md5(username:realm:password), hex\n"
    "  created_at timestamptz NOT NULL DEFAULT now(),\n"
    "  expires_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE INDEX file_grants_file ON file_grants (file_id);\n"
    "CREATE INDEX file_grants_expiry ON file_grants (expires_at);\n"
    /* a Download settled for good no longer opens its file; 'unknown' keeps
     * it (the CPE may have the RPC and be downloading) */
    "CREATE FUNCTION acs_file_grants_end() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  DELETE FROM file_grants WHERE task_id = NEW.id;\n"
    "  RETURN NULL;\n"
    "END $$;\n"
    "CREATE TRIGGER tasks_file_grants_end AFTER UPDATE OF status ON tasks FOR EACH ROW\n"
    "  WHEN (NEW.rpc = 'Download' AND NEW.status IN ('done', 'fault', 'cancelled', 'expired')\n"
    "        AND OLD.status IS DISTINCT FROM NEW.status)\n"
    "  EXECUTE FUNCTION acs_file_grants_end();\n"
    /* the API's check that a Download task names a file (SQLSTATE P0002) */
    "CREATE FUNCTION acs_file_required(n text) RETURNS void LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  PERFORM 1 FROM files WHERE name = n AND complete;\n"
    "  IF NOT FOUND THEN\n"
    "    RAISE EXCEPTION 'no file %', n USING ERRCODE = 'no_data_found';\n"
    "  END IF;\n"
    "END $$;\n";

/* The body of acs_informs() that versions 11 and 12 share: its result
 * type, the writes and the reads of 'v', 't' and 'p' rows. */
#define INFORMS_BODY \
    "RETURNS TABLE (r_ord int, r_kind \"char\", r1 text, r2 text, r3 text, r4 text, r5 text,\n" \
    "               r6 text, r7 text, r8 text)\n" \
    "LANGUAGE plpgsql AS $$\n" \
    "DECLARE\n" \
    "  ver bigint := pg_current_xact_id()::text::bigint;\n" \
    "  stale text[];\n" \
    "  want text[];\n" \
    "BEGIN\n" \
    "  WITH u AS (\n" \
    "    SELECT * FROM unnest(d_id, d_oui, d_pc, d_sn, d_mf, d_hw, d_sw, d_boot, d_bootstrap, d_ip,\n" \
    "      d_url, d_ver, d_expect, d_model, d_have)\n" \
    "      AS u(id, oui, pc, sn, mf, hw, sw, boot, bootstrap, ip, url, cv, expect, model, have)),\n" \
    "  up AS (\n" \
    "    INSERT INTO devices AS d (id, oui, product_class, serial_number, manufacturer,\n" \
    "      hardware_version, software_version, last_inform, last_inform_hour, last_boot,\n" \
    "      last_bootstrap, source_ip, connection_request_url, cwmp_version, data_stale, version)\n" \
    "    SELECT u.id, u.oui, u.pc, u.sn, u.mf, u.hw, u.sw, now(), date_trunc('hour', now(), 'UTC'),\n" \
    "      CASE WHEN u.boot THEN now() END, CASE WHEN u.bootstrap THEN now() END, u.ip, u.url, u.cv,\n" \
    "      u.bootstrap, ver\n" \
    "    FROM u ORDER BY u.id\n" \
    INF_UPSERT_SET \
    "      prev_version = d.version, version = excluded.version\n" \
    "    RETURNING d.id, d.prev_version)\n" \
    "  SELECT array_agg(u.id) FILTER (WHERE u.expect IS NULL\n" \
    "                                 OR up.prev_version IS DISTINCT FROM u.expect),\n" \
    "         array_agg(u.id) FILTER (WHERE u.model AND (NOT u.have OR u.expect IS NULL\n" \
    "                                 OR up.prev_version IS DISTINCT FROM u.expect))\n" \
    "    INTO stale, want\n" \
    "  FROM up JOIN u ON u.id = up.id;\n" \
    INF_EVENTS_PARAMS \
    INF_ALARMS ";\n" \
    "\n" \
    INF_SETTLE ";\n" \
    "  IF cardinality(m_dev) > 0 THEN\n" \
    INF_MDONE ";\n" \
    "  END IF;\n" \
    "\n" \
    "  RETURN QUERY SELECT o.ord::int, 'v'::\"char\",\n" \
    "    CASE WHEN o.id = ANY(stale) THEN 't' ELSE 'f' END,\n" \
    "    ver::text, NULL, NULL, NULL, NULL, NULL, NULL\n" \
    "  FROM unnest(d_id) WITH ORDINALITY AS o(id, ord);\n" \
    INF_TP_ROWS

/* Version 11: the store path of a session at batch speed (docs/storage.md,
 * "One statement per batch").
 * - devices.version: the transaction id of the last Inform that wrote the
 *   row (pg_current_xact_id, never reused, so a device deleted and seen
 *   again cannot match an old one); prev_version keeps the one before, so
 *   that the upsert's RETURNING tells a worker whether anything else wrote
 *   the device since its cached copy (another instance, another worker).
 * - acs_informs(): every Inform of a group-commit batch in one call, its
 *   plans kept by the backend (a plpgsql function's statements are planned
 *   once per connection, which PgBouncer's transaction pooling does not
 *   disturb, unlike named prepared statements): the device rows, their
 *   events, the Inform's parameters (those the worker's cache does not know
 *   to be unchanged, all of them for a device that is stale), the alarms an
 *   Inform clears, the tasks an Inform settles, then the rows the sessions
 *   need back: 'v' (stale?, new version), 't' (pending tasks), 'p' (the
 *   stored data model, for a session with policies whose worker holds no
 *   model it can trust), 'c' (the policy context, in one set-based query:
 *   tags, boots, recent events, policy actions, faults, open alarms, sealed
 *   secrets; with the model, devices.refreshed). Each per-device read is
 *   a LATERAL subquery behind OFFSET 0, so that its plan is an index probe
 *   per device whatever the tables' sizes were when the backend planned the
 *   function (a plan made while parameters was small joined it by hash: a
 *   scan of every stored parameter per batch, 12 ms per device at 20M rows).
 * - last_inform_hour is set by that upsert; the row trigger that kept it
 *   cost a plpgsql call per Inform: it now fires only WHEN the hour is not
 *   already right (a plain expression, no call), for the other writers of
 *   last_inform (imports, tests, tools).
 * - tasks.unknown_count: how often the task was sent and its outcome never
 *   came (the session ended, was superseded by a new Inform, acsd died).
 *   Every task is now marked 'sent' (with sent_at) right before its RPC goes
 *   out; a session that loses the answer of an RPC that is not one-shot
 *   puts it back to 'pending' with the count raised, and the session that
 *   would send it again faults it instead once the count reaches
 *   task-unknown-limit (session_store.c, sql_mark_sent).
 * - the tasks an Inform settles (acs_informs()): a 'sent' task without an
 *   answer (no result, or only the outcome of its connection request,
 *   written before it went out) that is not one-shot (its RPC may run
 *   again) goes back to 'pending' with unknown_count + 1
 *   instead of becoming 'unknown'; a one-shot one becomes 'unknown' (count
 *   + 1) or 'done' as before.
 * - tasks_transfers: the open transfers by their sent_at, for the sweep that
 *   expires those whose TransferComplete never came (transfer-timeout). */
static const char v11_sql[] =
    "ALTER TABLE devices ADD COLUMN version bigint NOT NULL DEFAULT 0,\n"
    "  ADD COLUMN prev_version bigint;\n"
    "DROP TRIGGER devices_inform_hour ON devices;\n"
    "CREATE TRIGGER devices_inform_hour BEFORE INSERT OR UPDATE OF last_inform ON devices\n"
    "  FOR EACH ROW WHEN (NEW.last_inform_hour IS DISTINCT FROM\n"
    "                     date_trunc('hour', NEW.last_inform, 'UTC'))\n"
    "  EXECUTE FUNCTION acs_devices_inform_hour();\n"
    "ALTER TABLE tasks ADD COLUMN unknown_count int NOT NULL DEFAULT 0;\n"
    "CREATE INDEX tasks_transfers ON tasks (sent_at) WHERE status = 'sent' AND result IS NOT NULL;\n"
    "CREATE FUNCTION acs_informs(\n"
    "  d_id text[], d_oui text[], d_pc text[], d_sn text[], d_mf text[], d_hw text[], d_sw text[],\n"
    "  d_boot boolean[], d_bootstrap boolean[], d_ip inet[], d_url text[], d_ver text[],\n"
    "  d_expect bigint[], d_model boolean[], d_have boolean[],\n"
    "  e_dev text[], e_code text[], e_key text[],\n"
    "  p_dev text[], p_name text[], p_value text[], p_type text[], p_known boolean[],\n"
    "  m_dev text[], m_key text[])\n"
    INFORMS_BODY
    "  RETURN QUERY SELECT o.ord::int, 'c'::\"char\",\n"
    CTX_HEAD
    "      'events', (SELECT coalesce(json_object_agg(e.code, json_build_array(e.h, e.n)), '{}')\n"
    "          FROM (SELECT code, count(*) FILTER (WHERE received_at > now() - interval '1 hour')\n"
    "            AS h, count(*) AS n FROM events WHERE device_id = d.id\n"
    "            AND received_at > now() - interval '1 day' GROUP BY code) e),\n"
    "      'alarms', (SELECT coalesce(json_agg(json_build_array(a.rule, a.instance_key)), '[]')\n"
    "          FROM alarms a WHERE a.device_id = d.id AND a.cleared_at IS NULL),\n"
    "      'secrets', (SELECT coalesce(json_agg(json_build_object('name', x.name,\n"
    "          'sealed_hex', encode(x.ciphertext, 'hex'), 'key_id', x.key_id)), '[]')\n"
    "          FROM device_secrets x WHERE x.device_id = d.id))::text,\n"
    "    CASE WHEN d.id = ANY(want) THEN d.refreshed::text END,\n"
    "    NULL, NULL, NULL, NULL, NULL, NULL\n"
    "  FROM unnest(d_id, d_model) WITH ORDINALITY AS o(id, model, ord)\n"
    "  CROSS JOIN LATERAL (SELECT * FROM devices d WHERE d.id = o.id OFFSET 0) d WHERE o.model;\n"
    "END $$;\n";

/* Version 12: the policy context from the worker's cache (docs/storage.md,
 * "The device cache").
 * - devices.ctx_gen: raised by every write that changes what the policy
 *   context holds besides the Inform's own events and boots: the tags (a
 *   BEFORE trigger on the row), policy actions (tasks created by policies
 *   with a CommandKey: their creation, status, fault, deletion), faults,
 *   open alarms (raised, cleared, deleted), sealed secrets, and events that
 *   carry a payload (TransferComplete: the Inform's own carry none). Row
 *   triggers with WHEN conditions: no function call unless one applies,
 *   and none on the writes a periodic Inform makes.
 * - acs_informs() takes d_cexp, the ctx_gen of the context the worker holds
 *   (NULL: none), and sends the context back ('c', r1) only when the device
 *   is stale or its ctx_gen moved; every 'c' row carries ctx_gen (r3) and
 *   the transaction's now() in ms (r4), so that the worker counts the
 *   Inform's events into its copy on the store's clock. The context's
 *   events come as minutes ("event_minutes": code -> [[minute, count]...]
 *   over the last day), which the worker keeps and counts from, cold or
 *   warm alike. */
static const char v12_sql[] =
    "ALTER TABLE devices ADD COLUMN ctx_gen bigint NOT NULL DEFAULT 0;\n"
    "CREATE FUNCTION acs_ctx_touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE devices SET ctx_gen = ctx_gen + 1\n"
    "  WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.device_id ELSE NEW.device_id END;\n"
    "  RETURN NULL;\n"
    "END $$;\n"
    "CREATE FUNCTION acs_ctx_tags() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  NEW.ctx_gen := OLD.ctx_gen + 1;\n"
    "  RETURN NEW;\n"
    "END $$;\n"
    "CREATE TRIGGER devices_ctx_tags BEFORE UPDATE OF tags ON devices\n"
    "  FOR EACH ROW WHEN (OLD.tags IS DISTINCT FROM NEW.tags) EXECUTE FUNCTION acs_ctx_tags();\n"
    "CREATE TRIGGER tasks_ctx_insert AFTER INSERT ON tasks FOR EACH ROW\n"
    "  WHEN (NEW.created_by LIKE 'policy:%' AND NEW.command_key IS NOT NULL)\n"
    "  EXECUTE FUNCTION acs_ctx_touch();\n"
    "CREATE TRIGGER tasks_ctx_update AFTER UPDATE ON tasks FOR EACH ROW\n"
    "  WHEN ((NEW.created_by LIKE 'policy:%' AND NEW.command_key IS NOT NULL\n"
    "         OR OLD.created_by LIKE 'policy:%' AND OLD.command_key IS NOT NULL)\n"
    "    AND (OLD.status, OLD.fault_code, OLD.fault_string, OLD.command_key, OLD.rpc,\n"
    "         OLD.created_by) IS DISTINCT FROM\n"
    "        (NEW.status, NEW.fault_code, NEW.fault_string, NEW.command_key, NEW.rpc,\n"
    "         NEW.created_by))\n"
    "  EXECUTE FUNCTION acs_ctx_touch();\n"
    "CREATE TRIGGER tasks_ctx_delete AFTER DELETE ON tasks FOR EACH ROW\n"
    "  WHEN (OLD.created_by LIKE 'policy:%' AND OLD.command_key IS NOT NULL)\n"
    "  EXECUTE FUNCTION acs_ctx_touch();\n"
    "CREATE TRIGGER faults_ctx AFTER INSERT OR UPDATE OR DELETE ON faults\n"
    "  FOR EACH ROW EXECUTE FUNCTION acs_ctx_touch();\n"
    "CREATE TRIGGER device_secrets_ctx AFTER INSERT OR UPDATE OR DELETE ON device_secrets\n"
    "  FOR EACH ROW EXECUTE FUNCTION acs_ctx_touch();\n"
    "CREATE TRIGGER alarms_ctx_insert AFTER INSERT ON alarms FOR EACH ROW\n"
    "  WHEN (NEW.cleared_at IS NULL) EXECUTE FUNCTION acs_ctx_touch();\n"
    "CREATE TRIGGER alarms_ctx_update AFTER UPDATE ON alarms FOR EACH ROW\n"
    "  WHEN ((OLD.cleared_at IS NULL OR NEW.cleared_at IS NULL)\n"
    "    AND (OLD.cleared_at IS NULL, OLD.rule, OLD.instance_key) IS DISTINCT FROM\n"
    "        (NEW.cleared_at IS NULL, NEW.rule, NEW.instance_key))\n"
    "  EXECUTE FUNCTION acs_ctx_touch();\n"
    "CREATE TRIGGER alarms_ctx_delete AFTER DELETE ON alarms FOR EACH ROW\n"
    "  WHEN (OLD.cleared_at IS NULL) EXECUTE FUNCTION acs_ctx_touch();\n"
    "CREATE TRIGGER events_ctx AFTER INSERT ON events FOR EACH ROW\n"
    "  WHEN (NEW.payload IS NOT NULL) EXECUTE FUNCTION acs_ctx_touch();\n"
    "DROP FUNCTION acs_informs(text[], text[], text[], text[], text[], text[], text[],\n"
    "  boolean[], boolean[], inet[], text[], text[], bigint[], boolean[], boolean[],\n"
    "  text[], text[], text[], text[], text[], text[], text[], boolean[], text[], text[]);\n"
    "CREATE FUNCTION acs_informs(\n"
    "  d_id text[], d_oui text[], d_pc text[], d_sn text[], d_mf text[], d_hw text[], d_sw text[],\n"
    "  d_boot boolean[], d_bootstrap boolean[], d_ip inet[], d_url text[], d_ver text[],\n"
    "  d_expect bigint[], d_model boolean[], d_have boolean[], d_cexp bigint[],\n"
    "  e_dev text[], e_code text[], e_key text[],\n"
    "  p_dev text[], p_name text[], p_value text[], p_type text[], p_known boolean[],\n"
    "  m_dev text[], m_key text[])\n"
    INFORMS_BODY
    CTX_QUERY
    "END $$;\n";
/* Version 15: the generation served is a pointer, so that an older one can
 * be served again (POST /api/v1/policies/activate and /rollback,
 * docs/policies.md "Generations"): policy_reload.active, set by every
 * valid push, by activate and by rollback (with when and by whom; the
 * audit log has why). NULL only in a store where nothing set it yet: then
 * the newest valid generation serves, as before.
 * policy_rollouts: canary roll-outs (docs/policies.md "Canary
 * generations"), at most one running: its generation serves the devices
 * whose stable hash falls below share, the current one the rest; seen and
 * faulted are the last check's counts, which rolls it back past
 * max_fault_rate. */
static const char v15_sql[] =
    "ALTER TABLE policy_reload ADD COLUMN active bigint REFERENCES policy_generations (id),\n"
    "  ADD COLUMN active_at timestamptz,\n"
    "  ADD COLUMN active_by text;\n"
    "UPDATE policy_reload SET active = (SELECT max(id) FROM policy_generations WHERE valid);\n"
    "\n"
    "CREATE TABLE policy_rollouts (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  generation bigint NOT NULL REFERENCES policy_generations (id),\n"
    "  share double precision NOT NULL CHECK (share > 0 AND share <= 100), -- percent\n"
    "  max_fault_rate double precision NOT NULL CHECK (max_fault_rate >= 0 AND\n"
    "    max_fault_rate <= 1),\n"
    "  min_devices int NOT NULL CHECK (min_devices >= 1),\n"
    "  state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'completed',\n"
    "    'rolled_back')),\n"
    "  started_at timestamptz NOT NULL DEFAULT now(),\n"
    "  started_by text NOT NULL,\n"
    "  ended_at timestamptz,\n"
    "  checked_at timestamptz,\n"
    "  seen int NOT NULL DEFAULT 0,                -- canary devices informed since the start\n"
    "  faulted int NOT NULL DEFAULT 0              -- of them, with a policy fault since\n"
    ");\n"
    "CREATE UNIQUE INDEX policy_rollouts_running ON policy_rollouts ((true))\n"
    "  WHERE state = 'running';\n";
/* 17: connection requests that any instance can send (engine/connreq):
 * - connreq_claims: one row per device while a connection request to it is
 *   in flight or was just accepted; an instance sends only after it has
 *   inserted (or taken over an expired) row, so concurrent asks from API
 *   calls and bulk actions on any instance make one request. Plain rows, no
 *   advisory locks: it works through PgBouncer in transaction pooling.
 * - connreq_udp: the public UDP address of each device as its STUN binding
 *   requests show it (Annex G), so any instance can send a UDP connection
 *   request from its STUN port. */
static const char v17_sql[] =
    "CREATE TABLE connreq_claims (\n"
    "  device_id text PRIMARY KEY,\n"
    "  instance text NOT NULL,\n"
    "  expires_at timestamptz NOT NULL\n"
    ");\n"
    "CREATE TABLE connreq_udp (\n"
    "  device_id text PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,\n"
    "  address text NOT NULL,\n"
    "  stun_username text NOT NULL,\n"
    "  authenticated boolean NOT NULL,\n"
    "  changed_at timestamptz NOT NULL DEFAULT now(),\n"
    "  seen_at timestamptz NOT NULL DEFAULT now()\n"
    ");\n";
/* Version 16: operations (docs/operations.md, "Tracing").
 * - A W3C traceparent sent to the API is kept on the tasks it creates and
 *   on a bulk action (whose tasks inherit it): the session that sends the
 *   task and the connection request that woke the device log its trace-id.
 *   Nullable without a default: no table rewrite.
 * - Wire traces: one row per traced device (until when, whether it survives
 *   a restart, its byte budget), and its records (each HTTP request and
 *   answer of its sessions, secrets masked), the oldest dropped past the
 *   budget; the records go with the trace or the device. */
static const char v16_sql[] =
    "ALTER TABLE tasks ADD COLUMN traceparent text;\n"
    "ALTER TABLE bulk_actions ADD COLUMN traceparent text;\n"
    "CREATE TABLE device_traces (\n"
    "  device_id text COLLATE \"C\" PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,\n"
    "  until timestamptz NOT NULL,\n"
    "  persist boolean NOT NULL DEFAULT false,   -- survives a restart of acsd\n"
    "  max_bytes int NOT NULL CHECK (max_bytes > 0),\n"
    "  query text,                               -- the device query that chose it, if any\n"
    "  created_by text,\n"
    "  created_at timestamptz NOT NULL DEFAULT now()\n"
    ");\n"
    "CREATE INDEX device_traces_until ON device_traces (until);\n"
    "CREATE TABLE trace_records (\n"
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "  device_id text COLLATE \"C\" NOT NULL REFERENCES device_traces (device_id) ON DELETE CASCADE,\n"
    "  at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
    "  session text,\n"
    "  direction text NOT NULL CHECK (direction IN ('in', 'out')), -- from the CPE, to it\n"
    "  head text NOT NULL,\n"
    "  body text NOT NULL,\n"
    "  truncated boolean NOT NULL DEFAULT false\n"
    ");\n"
    "CREATE INDEX trace_records_device ON trace_records (device_id, id);\n";

/* Version 19: canary roll-outs targeted by a device query (docs/policies.md
 * "Canary generations"). A roll-out with a query serves its generation to
 * the devices in policy_rollout_members (and, with a share, below it):
 * filled set-based from the query when the roll-out starts or widens, and
 * for devices first seen later by the lead poller's catch-up (devices
 * created since the last one, hence the index on created_at). query is the
 * query as given (a widening with another query ORs it in), query_sql and
 * query_params its SQL over "devices d" for the catch-up, query_serial
 * moves with it; batch numbers the additions, which workers fetch
 * incrementally; stepped_at is the time of the last start or widening,
 * caught_at of the last catch-up. The members go when the roll-out ends. */
static const char v19_sql[] =
    "ALTER TABLE policy_rollouts ADD COLUMN query text,\n"
    "  ADD COLUMN query_sql text,\n"
    "  ADD COLUMN query_params jsonb,\n"
    "  ADD COLUMN query_serial int NOT NULL DEFAULT 0,\n"
    "  ADD COLUMN batch int NOT NULL DEFAULT 0,\n"
    "  ADD COLUMN members int NOT NULL DEFAULT 0,\n"
    "  ADD COLUMN stepped_at timestamptz,\n"
    "  ADD COLUMN caught_at timestamptz;\n"
    "CREATE TABLE policy_rollout_members (\n"
    "  rollout bigint NOT NULL REFERENCES policy_rollouts (id) ON DELETE CASCADE,\n"
    "  device_id text COLLATE \"C\" NOT NULL,\n"
    "  batch int NOT NULL,\n"
    "  PRIMARY KEY (rollout, device_id)\n"
    ");\n"
    "CREATE INDEX policy_rollout_members_batch ON policy_rollout_members (rollout, batch);\n"
    "CREATE INDEX devices_created_at ON devices (created_at);\n";

extern const char acs__store_v14_sql[]; /* migrations_v14.c */
extern const char acs__store_v20_sql[]; /* migrations_v20.c */
extern const char acs__store_v21_sql[]; /* migrations_v21.c */

const acs_store_migration acs_store_migrations[] = {
    {1, "initial schema", v1_sql},
    {2, "tasks by device", v2_sql},
    {3, "device queries", v3_sql},
    {4, "policy generations", v4_sql},
    {5, "alarms and fleet jobs", v5_sql},
    {6, "files and downloads", v6_sql},
    {7, "bulk actions", v7_sql},
    {9, "policies and alarms API", v9_sql},
    {10, "policy actions and fault back-off", v10_sql},
    {11, "one statement per batch of Informs; tasks that fail in unknown ways stop", v11_sql},
    {12, "the policy context from the worker's cache", v12_sql},
    {14, "session fencing between instances", acs__store_v14_sql},
    {15, "the generation served as a pointer: activate, rollback, canary roll-outs", v15_sql},
    {16, "traceparent on tasks and bulk actions; wire traces", v16_sql},
    {17, "connection requests: claims across instances, UDP bindings", v17_sql},
    {19, "canary roll-outs targeted by a device query", v19_sql},
    {20, "a session's writes of its data model as functions, planned once", acs__store_v20_sql},
    {21, "the Informs' function without a second read of each device", acs__store_v21_sql},
};

const size_t acs_store_migrations_count =
    sizeof acs_store_migrations / sizeof acs_store_migrations[0];
