#!/usr/bin/env python3
"""bench_parameters: what hash partitioning (and a foreign key) costs the
parameter upsert. Not a test (prints figures for docs/storage.md).

    python3 tests/store/bench_parameters.py [--devices N] [--seconds S] [--durable]

Loads N devices x 300 parameters into three layouts (plain table; 16 hash
partitions; 16 hash partitions plus a foreign key to devices) and runs pgbench
(2 clients) on each with the statement acsd uses (engine/store/params.c: a
primary-key probe per name, then INSERT ... ON CONFLICT DO UPDATE of what differs):
  unchanged  a periodic Inform: 300 parameters, none changed
  changed3   300 parameters, 3 changed
  new        a device seen for the first time: 300 inserts
By default the cluster runs with fsync off, to measure the statements rather
than this machine's disk; --durable keeps fsync on.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pgtest  # noqa: E402

NPARAM = 300

LAYOUTS = {
    "plain": """
        CREATE TABLE p_{n} (device_id text COLLATE "C" NOT NULL, name text COLLATE "C" NOT NULL,
          value text, xsd_type text, value_at timestamptz, PRIMARY KEY (device_id, name));""",
    "hash16": """
        CREATE TABLE p_{n} (device_id text COLLATE "C" NOT NULL, name text COLLATE "C" NOT NULL,
          value text, xsd_type text, value_at timestamptz, PRIMARY KEY (device_id, name))
          PARTITION BY HASH (device_id);
        DO $$ BEGIN FOR i IN 0..15 LOOP EXECUTE format('CREATE TABLE p_{n}_%s PARTITION OF p_{n}
          FOR VALUES WITH (MODULUS 16, REMAINDER %s)', i, i); END LOOP; END $$;""",
    "hash16_fk": """
        CREATE TABLE p_{n} (device_id text COLLATE "C" NOT NULL REFERENCES devs (id),
          name text COLLATE "C" NOT NULL,
          value text, xsd_type text, value_at timestamptz, PRIMARY KEY (device_id, name))
          PARTITION BY HASH (device_id);
        DO $$ BEGIN FOR i IN 0..15 LOOP EXECUTE format('CREATE TABLE p_{n}_%s PARTITION OF p_{n}
          FOR VALUES WITH (MODULUS 16, REMAINDER %s)', i, i); END LOOP; END $$;""",
}

# :d picks the device; arrays are built server-side, then fed through the
# statement acsd uses (engine/store/params.c).
UPSERT = """\\set d random(1, {ndev})
{pre}WITH u AS (
  SELECT DISTINCT ON (u.name) u.name, u.value, u.xsd_type
  FROM unnest((SELECT array_agg('Device.Some.Object.' || g || '.Parameter' ORDER BY g)
                 FROM generate_series(1, {np}) g),
              (SELECT array_agg({val} ORDER BY g) FROM generate_series(1, {np}) g),
              (SELECT array_agg('xsd:string'::text) FROM generate_series(1, {np}) g))
       WITH ORDINALITY AS u(name, value, xsd_type, ord)
  ORDER BY u.name, u.ord DESC),
c AS (
  SELECT u.* FROM u LEFT JOIN LATERAL (
    SELECT true AS found, p.value, p.xsd_type FROM p_{n} p
    WHERE p.device_id = {dev} AND p.name = u.name LIMIT 1) p ON true
  WHERE p.found IS NULL OR p.value IS DISTINCT FROM u.value
     OR p.xsd_type IS DISTINCT FROM u.xsd_type)
INSERT INTO p_{n} AS p (device_id, name, value, xsd_type, value_at)
SELECT {dev}, c.name, c.value, c.xsd_type, now() FROM c ORDER BY c.name
ON CONFLICT (device_id, name) DO UPDATE
SET value = excluded.value, xsd_type = excluded.xsd_type, value_at = excluded.value_at
WHERE p.value IS DISTINCT FROM excluded.value OR p.xsd_type IS DISTINCT FROM excluded.xsd_type;
"""


def script(kind, n, ndev):
    if kind == "unchanged":
        return UPSERT.format(ndev=ndev, n=n, np=NPARAM, dev="'dev' || :d", pre="",
                             val="'value ' || g")
    if kind == "changed3":
        return UPSERT.format(ndev=ndev, n=n, np=NPARAM, dev="'dev' || :d", pre="",
                             val="CASE WHEN g <= 3 THEN md5(random()::text) ELSE 'value ' || g END")
    if kind == "new":
        # a fresh device id each time (random over a huge range), its row in devs first
        return UPSERT.replace("\\set d random(1, {ndev})",
                              "\\set d random(1000000, 2000000000)").format(
            ndev=ndev, n=n, np=NPARAM, dev="'new' || :d",
            pre="INSERT INTO devs VALUES ('new' || :d) ON CONFLICT DO NOTHING;\n",
            val="'value ' || g")
    raise ValueError(kind)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--durable", action="store_true")
    a = ap.parse_args()
    pgtest.skip_unless_available()
    with pgtest.PgCluster(fast=not a.durable) as pg:
        pg.psql("CREATE TABLE devs (id text COLLATE \"C\" PRIMARY KEY)")
        pg.psql("INSERT INTO devs SELECT 'dev' || d FROM generate_series(1, %d) d" % a.devices)
        for n, ddl in LAYOUTS.items():
            pg.psql(ddl.format(n=n))
            pg.psql("""INSERT INTO p_{n} SELECT 'dev' || d, 'Device.Some.Object.' || g ||
                       '.Parameter', 'value ' || g, 'xsd:string', now()
                       FROM generate_series(1, {ndev}) d, generate_series(1, {np}) g""".format(
                n=n, ndev=a.devices, np=NPARAM))
        pg.psql("VACUUM ANALYZE")
        print("%d devices x %d parameters per layout, pgbench 2 clients, %ds each, fsync %s"
              % (a.devices, NPARAM, a.seconds, "on" if a.durable else "off"))
        print("%-10s %-10s %10s %12s" % ("layout", "workload", "tps", "latency ms"))
        tmp = pg.tmp
        for kind in ("unchanged", "changed3", "new"):
            for n in LAYOUTS:
                path = os.path.join(tmp, "bench_%s_%s.sql" % (n, kind))
                with open(path, "w") as f:
                    f.write(script(kind, n, a.devices))
                out = subprocess.run(
                    [os.path.join(pg.bindir, "pgbench"), "-n", "-c", "2", "-j", "2", "-T",
                     str(a.seconds), "-f", path, "-h", "127.0.0.1", "-p", str(pg.port),
                     "-U", "acsd", "acsd"],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()
                tps = re.search(r"tps = ([0-9.]+)", out)
                lat = re.search(r"latency average = ([0-9.]+) ms", out)
                if not tps:
                    print(out)
                    return 1
                print("%-10s %-10s %10.0f %12.2f" % (n, kind, float(tps.group(1)),
                                                     float(lat.group(1))))
                sys.stdout.flush()
        upd = pg.psql("SELECT relname, n_tup_upd FROM pg_stat_user_tables "
                      "WHERE relname IN ('p_plain') ORDER BY 1")
        print("n_tup_upd of p_plain after all runs:", upd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
