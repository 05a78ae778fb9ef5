/* migrations_sql.h: SQL text that several schema versions share
 * (migrations.c, migrations_v14.c): a function's body rewritten by a later
 * version keeps one copy of what did not change. */
#ifndef ACS_MIGRATIONS_SQL_H
#define ACS_MIGRATIONS_SQL_H

/* The policy context's first fields, as versions 11, 12 and 14 read them. */
#define CTX_HEAD \
    "    json_build_object('tags', to_json(d.tags),\n" \
    "      'last_boot', (extract(epoch FROM d.last_boot) * 1000)::bigint,\n" \
    "      'last_bootstrap', (extract(epoch FROM d.last_bootstrap) * 1000)::bigint,\n" \
    "      'actions', (SELECT coalesce(json_agg(json_build_object('key', t.command_key,\n" \
    "          'rpc', t.rpc, 'status', t.status, 'fault_code', t.fault_code,\n" \
    "          'fault_string', t.fault_string)), '[]') FROM (SELECT * FROM tasks\n" \
    "          WHERE device_id = d.id AND created_by LIKE 'policy:%' AND command_key IS NOT NULL\n" \
    "          ORDER BY id DESC LIMIT 200) t),\n" \
    "      'faults', (SELECT coalesce(json_agg(json_build_object('channel', f.channel,\n" \
    "          'retries', f.retries, 'last_at', (extract(epoch FROM f.last_at) * 1000)::bigint,\n" \
    "          'next_retry_at', (extract(epoch FROM f.next_retry_at) * 1000)::bigint)), '[]')\n" \
    "          FROM faults f WHERE f.device_id = d.id),\n"

/* The policy context's rows of acs_informs(), versions 12 and 14 (for every
 * device whose model the worker keeps: o.model), and of version 21's
 * acs_inform_batch() (for fewer): the context only when the worker's copy is
 * not current, ctx_gen and the store's now. */
#define CTX_QUERY CTX_ROWS("o.model")
#define CTX_ROWS(which) \
    "  RETURN QUERY SELECT o.ord::int, 'c'::\"char\",\n" \
    "    CASE WHEN o.cexp IS DISTINCT FROM d.ctx_gen OR o.id = ANY(stale) THEN\n" \
    CTX_HEAD \
    "      'event_minutes', (SELECT coalesce(json_object_agg(e.code, e.m), '{}')\n" \
    "          FROM (SELECT m.code, json_agg(json_build_array(m.minute, m.n) ORDER BY m.minute) AS m\n" \
    "            FROM (SELECT code, floor(extract(epoch FROM received_at) / 60)::bigint AS minute,\n" \
    "              count(*) AS n FROM events WHERE device_id = d.id\n" \
    "              AND received_at > now() - interval '1 day' GROUP BY 1, 2) m\n" \
    "            GROUP BY m.code) e),\n" \
    "      'alarms', (SELECT coalesce(json_agg(json_build_array(a.rule, a.instance_key)), '[]')\n" \
    "          FROM alarms a WHERE a.device_id = d.id AND a.cleared_at IS NULL),\n" \
    "      'secrets', (SELECT coalesce(json_agg(json_build_object('name', x.name,\n" \
    "          'sealed_hex', encode(x.ciphertext, 'hex'), 'key_id', x.key_id)), '[]')\n" \
    "          FROM device_secrets x WHERE x.device_id = d.id))::text END,\n" \
    "    CASE WHEN d.id = ANY(want) THEN d.refreshed::text END,\n" \
    "    d.ctx_gen::text, (extract(epoch FROM now()) * 1000)::bigint::text, NULL, NULL, NULL, NULL\n" \
    "  FROM unnest(d_id, d_model, d_cexp) WITH ORDINALITY AS o(id, model, cexp, ord)\n" \
    "  CROSS JOIN LATERAL (SELECT * FROM devices d WHERE d.id = o.id OFFSET 0) d WHERE " which ";\n"

#endif
