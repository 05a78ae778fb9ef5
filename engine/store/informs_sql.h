/* informs_sql.h: the body of acs_informs() as schema version 14 wrote it
 * (migrations_v14.c), in the pieces that version 21's acs_inform_batch()
 * (migrations_v21.c) keeps and that version 11's (migrations.c) shared
 * already: one copy of the text they use. */
#ifndef ACS_INFORMS_SQL_H
#define ACS_INFORMS_SQL_H

/* clang-format off */
/* The arguments and the result rows. */
#define INF_ARGS \
    "  d_id text[], d_oui text[], d_pc text[], d_sn text[], d_mf text[], d_hw text[], d_sw text[],\n" \
    "  d_boot boolean[], d_bootstrap boolean[], d_ip inet[], d_url text[], d_ver text[],\n" \
    "  d_expect bigint[], d_model boolean[], d_have boolean[], d_cexp bigint[], d_fence bigint[],\n" \
    "  e_dev text[], e_code text[], e_key text[],\n" \
    "  p_dev text[], p_name text[], p_value text[], p_type text[], p_known boolean[],\n" \
    "  m_dev text[], m_key text[])\n" \
    "RETURNS TABLE (r_ord int, r_kind \"char\", r1 text, r2 text, r3 text, r4 text, r5 text,\n" \
    "               r6 text, r7 text, r8 text)\n"

#define INF_DECLARE \
    "DECLARE\n" \
    "  ver bigint := pg_current_xact_id()::text::bigint;\n" \
    "  stale text[];\n" \
    "  want text[];\n" \
    "  n_up bigint;\n"

/* The devices as rows (u): the arrays, then the columns' names. */
#define INF_U_ARRAYS \
    "    SELECT * FROM unnest(d_id, d_oui, d_pc, d_sn, d_mf, d_hw, d_sw, d_boot, d_bootstrap, d_ip,\n" \
    "      d_url, d_ver, d_expect, d_model, d_have, d_fence)"

#define INF_U_COLS \
    "      AS u(id, oui, pc, sn, mf, hw, sw, boot, bootstrap, ip, url, cv, expect, model, have,\n" \
    "           fence"

/* The update of a device's row that an Inform makes (version 11's too). */
#define INF_UPSERT_SET \
    "    ON CONFLICT (id) DO UPDATE SET\n" \
    "      manufacturer = excluded.manufacturer,\n" \
    "      hardware_version = coalesce(excluded.hardware_version, d.hardware_version),\n" \
    "      software_version = coalesce(excluded.software_version, d.software_version),\n" \
    "      last_inform = excluded.last_inform,\n" \
    "      last_inform_hour = excluded.last_inform_hour,\n" \
    "      last_boot = coalesce(excluded.last_boot, d.last_boot),\n" \
    "      last_bootstrap = coalesce(excluded.last_bootstrap, d.last_bootstrap),\n" \
    "      source_ip = excluded.source_ip,\n" \
    "      connection_request_url = coalesce(excluded.connection_request_url,\n" \
    "                                        d.connection_request_url),\n" \
    "      cwmp_version = excluded.cwmp_version,\n" \
    "      data_stale = d.data_stale OR excluded.data_stale,\n" \
    "      refreshed = CASE WHEN excluded.data_stale THEN '{}'::jsonb ELSE d.refreshed END,\n"

/* The devices' upsert (up), up to its RETURNING. */
#define INF_UPSERT \
    "  up AS (\n" \
    "    INSERT INTO devices AS d (id, oui, product_class, serial_number, manufacturer,\n" \
    "      hardware_version, software_version, last_inform, last_inform_hour, last_boot,\n" \
    "      last_bootstrap, source_ip, connection_request_url, cwmp_version, data_stale, version,\n" \
    "      session_fence)\n" \
    "    SELECT u.id, u.oui, u.pc, u.sn, u.mf, u.hw, u.sw, now(), date_trunc('hour', now(), 'UTC'),\n" \
    "      CASE WHEN u.boot THEN now() END, CASE WHEN u.bootstrap THEN now() END, u.ip, u.url, u.cv,\n" \
    "      u.bootstrap, ver, coalesce(u.fence, 0)\n" \
    "    FROM u ORDER BY u.id\n" \
    INF_UPSERT_SET \
    "      prev_version = d.version, version = excluded.version,\n" \
    "      session_fence = greatest(d.session_fence, excluded.session_fence)\n" \
    "    WHERE excluded.session_fence = 0 OR d.session_fence <= excluded.session_fence\n"

/* Which devices are stale and whose model is wanted, up to the INTO. */
#define INF_STALE \
    "  SELECT array_agg(u.id) FILTER (WHERE u.expect IS NULL\n" \
    "                                 OR up.prev_version IS DISTINCT FROM u.expect),\n" \
    "         array_agg(u.id) FILTER (WHERE u.model AND (NOT u.have OR u.expect IS NULL\n" \
    "                                 OR up.prev_version IS DISTINCT FROM u.expect)),\n" \
    "         count(*)\n"

/* The fence's check, the events and the Inform's parameters. */
#define INF_WRITES \
    "  FROM up JOIN u ON u.id = up.id;\n" \
    "  IF n_up < cardinality(d_id) THEN\n" \
    "    RAISE EXCEPTION 'stale session fence: a newer session holds the device'\n" \
    "      USING ERRCODE = 'AF001', DETAIL = (SELECT string_agg(f.id || ' (' || f.fence || ' < '\n" \
    "        || d.session_fence || ')', ', ') FROM unnest(d_id, d_fence) AS f(id, fence)\n" \
    "        JOIN devices d ON d.id = f.id WHERE f.fence > 0 AND d.session_fence > f.fence);\n" \
    "  END IF;\n" \
    INF_EVENTS_PARAMS

/* The events and the Inform's parameters (version 11's too). */
#define INF_EVENTS_PARAMS \
    "\n" \
    "  IF cardinality(e_dev) > 0 THEN\n" \
    "    INSERT INTO events (device_id, code, command_key)\n" \
    "    SELECT e.dev, e.code, nullif(e.key, '') FROM unnest(e_dev, e_code, e_key) AS e(dev, code, key);\n" \
    "  END IF;\n" \
    "\n" \
    "  IF cardinality(p_dev) > 0 AND (stale IS NOT NULL OR false = ANY(p_known)) THEN\n" \
    "    WITH u AS (\n" \
    "      SELECT DISTINCT ON (u.dev, u.name) u.dev, u.name, u.value, u.typ\n" \
    "      FROM unnest(p_dev, p_name, p_value, p_type, p_known) WITH ORDINALITY\n" \
    "        AS u(dev, name, value, typ, known, o)\n" \
    "      WHERE NOT u.known OR u.dev = ANY(stale)\n" \
    "      ORDER BY u.dev, u.name, u.o DESC),\n" \
    "    c AS (\n" \
    "      SELECT u.* FROM u LEFT JOIN LATERAL (\n" \
    "        SELECT true AS found, p.value, p.xsd_type FROM parameters p\n" \
    "        WHERE p.device_id = u.dev AND p.name = u.name LIMIT 1) p ON true\n" \
    "      WHERE p.found IS NULL OR p.value IS DISTINCT FROM u.value\n" \
    "         OR p.xsd_type IS DISTINCT FROM u.typ)\n" \
    "    INSERT INTO parameters AS p (device_id, name, value, xsd_type, value_at)\n" \
    "    SELECT c.dev, c.name, c.value, c.typ, now() FROM c ORDER BY c.dev, c.name\n" \
    "    ON CONFLICT (device_id, name) DO UPDATE\n" \
    "    SET value = excluded.value, xsd_type = excluded.xsd_type, value_at = excluded.value_at\n" \
    "    WHERE p.value IS DISTINCT FROM excluded.value OR p.xsd_type IS DISTINCT FROM excluded.xsd_type;\n" \
    "  END IF;\n" \
    "\n"

/* Alarms cleared by an Inform (no terminator). */
#define INF_ALARMS \
    "  UPDATE alarms SET cleared_at = now()\n" \
    "  WHERE device_id = ANY(d_id) AND cleared_at IS NULL AND clear_on_inform"

/* Tasks settled by an Inform (no terminator). */
#define INF_SETTLE \
    "  UPDATE tasks t SET done_at = CASE WHEN x.st = 'pending' THEN NULL ELSE now() END,\n" \
    "    status = x.st, sent_at = CASE WHEN x.st = 'pending' THEN NULL ELSE t.sent_at END,\n" \
    "    unknown_count = t.unknown_count + CASE WHEN x.st IN ('pending', 'unknown') THEN 1 ELSE 0 END\n" \
    "  FROM tasks t0 CROSS JOIN LATERAL (SELECT CASE\n" \
    "      WHEN t0.status = 'pending' THEN 'expired'\n" \
    "      WHEN t0.command_key IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(m_dev, m_key) AS m(dev, key)\n" \
    "        WHERE m.dev = t0.device_id AND m.key = t0.command_key) THEN 'done'\n" \
    "      WHEN t0.rpc NOT IN ('Reboot', 'FactoryReset', 'Download', 'Upload', 'ScheduleInform',\n" \
    "        'ScheduleDownload', 'ChangeDUState') THEN 'pending'\n" \
    "      ELSE 'unknown' END AS st) x\n" \
    "  WHERE t.id = t0.id AND t0.device_id = ANY(d_id) AND t0.status IN ('pending', 'sent')\n" \
    "    AND ((t0.status = 'sent' AND (t0.result IS NULL\n" \
    "          OR t0.result - 'connection_request' = '{}'::jsonb))\n" \
    "      OR (t0.status = 'pending' AND t0.expires_at <= now()))"

/* Tasks whose "M ..." event came (no terminator). */
#define INF_MDONE \
    "    UPDATE tasks t SET done_at = now(), status = 'done'\n" \
    "    FROM unnest(m_dev, m_key) AS m(dev, key)\n" \
    "    WHERE t.device_id = m.dev AND t.command_key = m.key AND t.status = 'unknown'"

/* The 't' rows (pending tasks) and the 'p' rows (the model, when wanted). */
#define INF_TP_ROWS \
    "  RETURN QUERY SELECT o.ord::int, 't'::\"char\", t.id::text, t.rpc, t.args::text, t.command_key,\n" \
    "    NULL, NULL, NULL, NULL\n" \
    "  FROM unnest(d_id) WITH ORDINALITY AS o(id, ord)\n" \
    "  CROSS JOIN LATERAL (SELECT * FROM tasks t WHERE t.device_id = o.id\n" \
    "    AND t.status IN ('pending', 'sent') AND t.status = 'pending' OFFSET 0) t\n" \
    "  ORDER BY o.ord, t.id;\n" \
    "  IF want IS NOT NULL THEN\n" \
    "    RETURN QUERY SELECT o.ord::int, 'p'::\"char\", p.name, p.value, p.xsd_type, p.writable::text,\n" \
    "      p.is_object::text, p.notification::text,\n" \
    "      (extract(epoch FROM p.value_at) * 1000)::bigint::text,\n" \
    "      (extract(epoch FROM p.names_at) * 1000)::bigint::text\n" \
    "    FROM unnest(d_id) WITH ORDINALITY AS o(id, ord)\n" \
    "    CROSS JOIN LATERAL (SELECT * FROM parameters p WHERE p.device_id = o.id OFFSET 0) p\n" \
    "    WHERE o.id = ANY(want)\n" \
    "    ORDER BY o.ord, p.name;\n" \
    "  END IF;\n"

/* clang-format on */

#endif
