/* store/catalog.c: the lorascope catalog, one SQLite file (see catalog.h).
 *
 * Opening protocol (nothing is written to a file we refuse):
 *   1. stat the path; a missing file is created only with LSC_CATALOG_CREATE (folder included).
 *   2. read the 100-byte SQLite header straight from the file: a wrong magic is "not an SQLite database";
 *      application_id (offset 68) and user_version (offset 60) settle most refusals without SQLite at all.
 *   3. a probe connection, read-only (and `immutable` when the file is in WAL mode with no -wal beside it,
 *      so SQLite creates no -shm), reads the pragmas and counts the schema: an id-0 database with tables
 *      belongs to another program, an id-0 database without tables is a blank file we may initialise.
 *   4. only then the real connection: WAL, synchronous=FULL, foreign keys, busy timeout, and the migration
 *      steps under BEGIN IMMEDIATE, where the pragmas are read once more (another process may have raced).
 *      A catalog this process cannot write (read-only mount, no permission on the file or its folder) is
 *      refused as "read-only: WHY" before step 4, or opened read-only with LSC_CATALOG_FALLBACK_RO; a
 *      read-only connection never creates -wal/-shm files it should not own (read_only_query).
 * When the busy timeout runs out, the message names the process holding the write lock (busy_err).
 * synchronous=FULL: in WAL mode NORMAL can lose the last committed transactions on power loss (the WAL is
 * synced only at checkpoints). An edit the user saw succeed, and its history entry, must survive, and the
 * extra cost is one fsync per command, which is nothing next to the tensor bytes an import writes.
 *
 * Schema changes are an ordered list of steps, migrations[k] taking version k to k+1. A blank file gets
 * every step in ONE transaction (it is either a whole catalog or untouched); an existing older catalog
 * runs each step in its own transaction. To extend: append a step, bump LSC_CATALOG_VERSION.
 *
 * Every statement is prepared once per connection (SQLITE_PREPARE_PERSISTENT) and reused; bulk writes
 * (an import of hundreds of tensors) cost one bind/step/reset per row.
 * Doubles that must round-trip bit-exactly (the statistics cache) are stored as their IEEE-754 bits in
 * INTEGER columns: SQLite turns NaN into NULL and stores integral REALs as integers (losing -0).
 * This module owns every SQLite call of the program; it never includes curses and never prints.
 */
#include "catalog.h"

#include "lycoris_layer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "pack.h"

#define BUSY_TIMEOUT_MS 10000
#define QPATH_MAX 512

/* ---- schema ---------------------------------------------------------------------------------------- */

/* Step 0 -> 1: the first schema. Tables are WITHOUT ROWID where a natural key exists. */
static const char schema_v1[] =
    /* One row per imported or derived adapter. Removing hides (undo can unhide); names are unique among
     * the visible ones only, so a removed name can be reused and the old row kept for history. */
    "CREATE TABLE adapters (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL CHECK (name <> ''),\n"
    "  format TEXT,\n"
    "  kind TEXT,\n"
    "  base_model TEXT,\n"
    "  config_json TEXT,      -- source config kept verbatim\n"
    "  header_json TEXT,      -- source safetensors header kept verbatim\n"
    "  metadata_json TEXT,\n"
    "  source TEXT,\n"
    "  warnings TEXT,\n"
    "  created INTEGER NOT NULL,   -- unix seconds\n"
    "  content_hash TEXT NOT NULL, -- lsc_hash_adapter\n"
    "  hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1))\n"
    ");\n"
    "CREATE UNIQUE INDEX adapters_visible_name ON adapters(name) WHERE hidden = 0;\n"
    "CREATE INDEX adapters_content ON adapters(content_hash);\n"
    /* Derivation: parents in the order given (merge inputs keep their order). */
    "CREATE TABLE adapter_parents (\n"
    "  child_id INTEGER NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,\n"
    "  ord INTEGER NOT NULL,\n"
    "  parent_id INTEGER NOT NULL REFERENCES adapters(id),\n"
    "  PRIMARY KEY (child_id, ord)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX adapter_parents_parent ON adapter_parents(parent_id);\n"
    /* Content-addressed tensor bytes, shared by every adapter holding identical bytes. */
    "CREATE TABLE blobs (\n"
    "  hash TEXT PRIMARY KEY CHECK (length(hash) = 32),\n"
    "  size INTEGER NOT NULL,\n"
    "  data BLOB NOT NULL\n"
    ");\n"
    /* LoRA layers in adapter order; t_a..t_m are tensor ords of the same adapter, NULL if absent. */
    "CREATE TABLE layers (\n"
    "  adapter_id INTEGER NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,\n"
    "  ord INTEGER NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  module_type TEXT NOT NULL,\n"
    "  layer_index INTEGER NOT NULL,\n"
    "  rows INTEGER NOT NULL,\n"
    "  cols INTEGER NOT NULL,\n"
    "  rank INTEGER NOT NULL,\n"
    "  init_r INTEGER NOT NULL,\n"
    "  alpha REAL,            -- NULL stands for NaN\n"
    "  rule TEXT NOT NULL,    -- lsc_scale_rule_name\n"
    "  scale REAL,            -- NULL stands for NaN\n"
    "  flags INTEGER NOT NULL,\n"
    "  t_a INTEGER, t_b INTEGER, t_e INTEGER, t_m INTEGER,\n"
    "  PRIMARY KEY (adapter_id, ord)\n"
    ") WITHOUT ROWID;\n"
    /* Tensors in adapter (file) order with their original key spelling. */
    "CREATE TABLE tensors (\n"
    "  adapter_id INTEGER NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,\n"
    "  ord INTEGER NOT NULL,\n"
    "  key TEXT NOT NULL,\n"
    "  role TEXT NOT NULL,    -- lsc_role_name\n"
    "  layer_ord INTEGER,     -- NULL for tensors outside a LoRA layer\n"
    "  dtype TEXT NOT NULL,   -- safetensors spelling\n"
    "  shape TEXT NOT NULL,   -- JSON array of dimensions, [] for a scalar\n"
    "  numel INTEGER NOT NULL,\n"
    "  nbytes INTEGER NOT NULL,\n"
    "  hash TEXT NOT NULL REFERENCES blobs(hash),\n"
    "  PRIMARY KEY (adapter_id, ord),\n"
    "  FOREIGN KEY (adapter_id, layer_ord) REFERENCES layers(adapter_id, ord)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX tensors_hash ON tensors(hash);\n"
    /* Per-layer statistics keyed by content (lsc_catalog_stats_key). Doubles as IEEE-754 bits. */
    "CREATE TABLE layer_stats (\n"
    "  key TEXT PRIMARY KEY,\n"
    "  n_sv INTEGER NOT NULL,\n"
    "  sv BLOB NOT NULL,      -- n_sv little-endian doubles, descending\n"
    "  fro_bits INTEGER NOT NULL, spectral_bits INTEGER NOT NULL, nuclear_bits INTEGER NOT NULL,\n"
    "  stable_rank_bits INTEGER NOT NULL, effective_rank_bits INTEGER NOT NULL,\n"
    "  energy_rank_90 INTEGER NOT NULL, energy_rank_99 INTEGER NOT NULL, numerical_rank INTEGER NOT NULL,\n"
    "  norm_a_bits INTEGER NOT NULL, norm_b_bits INTEGER NOT NULL, balance_bits INTEGER NOT NULL,\n"
    "  zeros_a_bits INTEGER NOT NULL, zeros_b_bits INTEGER NOT NULL,\n"
    "  near_zeros_a_bits INTEGER NOT NULL, near_zeros_b_bits INTEGER NOT NULL,\n"
    "  nonfinite_a INTEGER NOT NULL, nonfinite_b INTEGER NOT NULL,\n"
    "  flags INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    /* Every change, with the adapters it read ('in') and wrote ('out'). */
    "CREATE TABLE history (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  time INTEGER NOT NULL,\n"
    "  command TEXT NOT NULL,\n"
    "  args_json TEXT NOT NULL,\n"
    "  undone INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1))\n"
    ");\n"
    "CREATE TABLE history_io (\n"
    "  history_id INTEGER NOT NULL REFERENCES history(id) ON DELETE CASCADE,\n"
    "  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),\n"
    "  ord INTEGER NOT NULL,\n"
    "  adapter_id INTEGER NOT NULL REFERENCES adapters(id),\n"
    "  PRIMARY KEY (history_id, direction, ord)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX history_io_adapter ON history_io(adapter_id);\n";

/* v2: multi-task adapters. A multi-task adapter is an adapter row (kind "multi-task", no layers of its
 * own) whose tasks are ordinary adapters; tensors the tasks share (a common A) are stored once anyway,
 * being content-addressed. */
static const char schema_v2[] =
    "CREATE TABLE adapter_tasks (\n"
    "  group_id INTEGER NOT NULL REFERENCES adapters(id),\n"
    "  ord INTEGER NOT NULL,\n"
    "  task TEXT NOT NULL,\n"
    "  member_id INTEGER NOT NULL REFERENCES adapters(id),\n"
    "  PRIMARY KEY (group_id, ord)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX adapter_tasks_member ON adapter_tasks(member_id);\n";

/* v3: series. A series is an adapter row (kind "series", no layers of its own) whose members are the
 * checkpoints of one training run, ordinary adapters, in step order with their step numbers. */
static const char schema_v3[] =
    "CREATE TABLE adapter_series (\n"
    "  series_id INTEGER NOT NULL REFERENCES adapters(id),\n"
    "  ord INTEGER NOT NULL,\n"
    "  step INTEGER NOT NULL,\n"
    "  label TEXT NOT NULL,\n"
    "  member_id INTEGER NOT NULL REFERENCES adapters(id),\n"
    "  PRIMARY KEY (series_id, ord)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX adapter_series_member ON adapter_series(member_id);\n";

/* v4: script runs. The entries a `run` records (one per line, or per glob match) share `run` = the id of
 * the run's first entry, so undo and redo take back and re-apply the whole run as one change while `log`
 * still shows each line. NULL for an entry outside any run. */
static const char schema_v4[] = "ALTER TABLE history ADD COLUMN run INTEGER;\n";

/* v5: the base weights an adapter modifies (issue #19, `base NAME PATH`): where they are and, per layer,
 * the base tensor's name, dtype, shape ("4096,4096") and content hash, so a base changed on disk is
 * recognised. Never the weights themselves. */
static const char schema_v5[] =
    "CREATE TABLE adapter_base (\n"
    "  adapter_id INTEGER PRIMARY KEY REFERENCES adapters(id),\n"
    "  path TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE base_tensors (\n"
    "  adapter_id INTEGER NOT NULL REFERENCES adapters(id),\n"
    "  layer TEXT NOT NULL,\n"
    "  tensor TEXT NOT NULL,\n"
    "  dtype TEXT NOT NULL,\n"
    "  shape TEXT NOT NULL,\n"
    "  hash TEXT NOT NULL,\n"
    "  PRIMARY KEY (adapter_id, layer)\n"
    ") WITHOUT ROWID;\n";

/* v6: large tensor blobs live in the append-only pack beside the catalog (CATALOG-pack, store/pack.h), so
 * their bytes are written once instead of to the WAL and again at the checkpoint. A packed blob keeps its
 * `blobs` row (so tensors.hash still references stored bytes, and sharing works as before) with an empty
 * `data` and the bytes at `pack_off` in the pack; `pack.end_off` is the committed end of the pack, where
 * the next append goes (never the file's size: what a crashed or rolled-back writer left past it is
 * garbage no row refers to). Inline blobs keep pack_off NULL. */
static const char schema_v6[] =
    "ALTER TABLE blobs ADD COLUMN pack_off INTEGER;\n"
    "CREATE TABLE pack (\n"
    "  id INTEGER PRIMARY KEY CHECK (id = 1),\n"
    "  end_off INTEGER NOT NULL CHECK (end_off >= 0)\n"
    ");\n"
    "INSERT INTO pack(id, end_off) VALUES (1, 0);\n";
/* v7: undo and redo of `base` (issue #19). A `base` entry keeps the adapter's recorded base as it was
 * before the change (side 0) and after it (side 1): the path (NULL: none recorded) and the tensor rows, so
 * undo puts back exactly what was there and redo exactly what the command recorded. Rows are written with
 * history_id NULL while the command runs and given their entry's id when lsc_catalog_log records it (in
 * the same transaction); discarding the redo stack deletes them with their entry. */
static const char schema_v7[] =
    "CREATE TABLE base_change (\n"
    "  history_id INTEGER REFERENCES history(id) ON DELETE CASCADE,\n"
    "  adapter_id INTEGER NOT NULL REFERENCES adapters(id),\n"
    "  side INTEGER NOT NULL CHECK (side IN (0, 1)),\n"
    "  path TEXT\n"
    ");\n"
    "CREATE INDEX base_change_history ON base_change(history_id);\n"
    "CREATE TABLE base_change_tensors (\n"
    "  history_id INTEGER REFERENCES history(id) ON DELETE CASCADE,\n"
    "  adapter_id INTEGER NOT NULL REFERENCES adapters(id),\n"
    "  side INTEGER NOT NULL CHECK (side IN (0, 1)),\n"
    "  layer TEXT NOT NULL,\n"
    "  tensor TEXT NOT NULL,\n"
    "  dtype TEXT NOT NULL,\n"
    "  shape TEXT NOT NULL,\n"
    "  hash TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX base_change_tensors_history ON base_change_tensors(history_id);\n";

/* v8: a cache of base sketches (issue #19's figures against W): per base tensor content and the
 * settings of the range finder, ||W||_F, the range finder's Q [rows, l] and W^T Q [cols, l] as
 * little-endian IEEE-754 doubles, so the figures of a second adapter on the same base skip the passes
 * that depend on W alone. A cache only: a row may be missing or dropped at any time without changing a
 * result (the key, lsc_basework's, covers everything the sketch depends on). A rowid table: the blobs
 * are megabytes, which WITHOUT ROWID tables store badly. IF NOT EXISTS: tests take a catalog back to an
 * older version by hand (dropping only that version's tables), and the step must still run after that. */
static const char schema_v8[] =
    "CREATE TABLE IF NOT EXISTS base_sketch (\n"
    "  key TEXT PRIMARY KEY,\n"
    "  rows INTEGER NOT NULL,\n"
    "  cols INTEGER NOT NULL,\n"
    "  l INTEGER NOT NULL,\n"
    "  norm_bits INTEGER NOT NULL,\n"
    "  q BLOB NOT NULL,\n"
    "  wtq BLOB NOT NULL,\n"
    "  base_hash TEXT\n" /* the base tensor's recorded content hash: rows no record names any more go */
    ");\n"
    "CREATE INDEX IF NOT EXISTS base_sketch_base ON base_sketch(base_hash);\n";

/* migrations[k] takes a catalog from user_version k to k + 1. */
static const char *const migrations[] = {
    schema_v1,
    schema_v2,
    schema_v3,
    schema_v4,
    schema_v5,
    schema_v6,
    schema_v7,
    schema_v8,
};
_Static_assert(sizeof migrations / sizeof migrations[0] == LSC_CATALOG_VERSION,
               "one migration step per schema version");

/* ---- prepared statements --------------------------------------------------------------------------- */

/* The role names of LoRA factors in is_factor_role must match LSC_ROLE_LIST ("A", "B", "E", "magnitude"). */
#define STMT_LIST(X)                                                                                          \
    X(ST_BLOB_HAS, "SELECT size FROM blobs WHERE hash = ?1")                                                  \
    X(ST_BLOB_PUT, "INSERT INTO blobs(hash, size, data) VALUES (?1, ?2, ?3)")                                 \
    X(ST_BLOB_PUT_PACKED, "INSERT INTO blobs(hash, size, data, pack_off) VALUES (?1, ?2, x'', ?3)")            \
    X(ST_PACK_GROW, "UPDATE pack SET end_off = end_off + ?1 WHERE id = 1")                                    \
    X(ST_PACK_END, "SELECT end_off FROM pack WHERE id = 1")                                                   \
    X(ST_FIND, "SELECT id FROM adapters WHERE name = ?1 AND hidden = 0")                                      \
    X(ST_TASK_PUT, "INSERT INTO adapter_tasks(group_id, ord, task, member_id) VALUES (?1, ?2, ?3, ?4)")        \
    X(ST_TASK_GET, "SELECT t.task, t.member_id, a.name FROM adapter_tasks t JOIN adapters a ON a.id = t.member_id " \
                   "WHERE t.group_id = ?1 ORDER BY t.ord")                                                    \
    X(ST_SERIES_PUT, "INSERT INTO adapter_series(series_id, ord, step, label, member_id) VALUES (?1, ?2, ?3, ?4, ?5)") \
    X(ST_SERIES_GET, "SELECT s.step, s.label, s.member_id, a.name FROM adapter_series s "                       \
                     "JOIN adapters a ON a.id = s.member_id WHERE s.series_id = ?1 ORDER BY s.ord")            \
    X(ST_FIND_CONTENT, "SELECT name FROM adapters WHERE content_hash = ?1 AND hidden = 0 ORDER BY id LIMIT 1") \
    X(ST_NAME_TAKEN, "SELECT id FROM adapters WHERE name = ?1 AND hidden = 0 AND id <> ?2")                   \
    X(ST_ADAPTER_NAME, "SELECT name, hidden FROM adapters WHERE id = ?1")                                     \
    X(ST_ADAPTER_PUT,                                                                                         \
      "INSERT INTO adapters(name, format, kind, base_model, config_json, header_json, metadata_json, source, " \
      "warnings, created, content_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")               \
    X(ST_LAYER_PUT,                                                                                           \
      "INSERT INTO layers(adapter_id, ord, name, module_type, layer_index, rows, cols, rank, init_r, alpha, "  \
      "rule, scale, flags, t_a, t_b, t_e, t_m) "                                                              \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)")                  \
    X(ST_TENSOR_PUT,                                                                                          \
      "INSERT INTO tensors(adapter_id, ord, key, role, layer_ord, dtype, shape, numel, nbytes, hash) "        \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                                                     \
    X(ST_PARENT_PUT, "INSERT INTO adapter_parents(child_id, ord, parent_id) VALUES (?1, ?2, ?3)")             \
    X(ST_ADAPTER_GET,                                                                                         \
      "SELECT name, format, kind, base_model, config_json, header_json, metadata_json, source, warnings "     \
      "FROM adapters WHERE id = ?1")                                                                          \
    X(ST_LAYERS_GET,                                                                                          \
      "SELECT ord, name, module_type, layer_index, rows, cols, rank, init_r, alpha, rule, scale, flags, "     \
      "t_a, t_b, t_e, t_m FROM layers WHERE adapter_id = ?1 ORDER BY ord")                                    \
    X(ST_TENSORS_GET,                                                                                         \
      "SELECT ord, key, role, layer_ord, dtype, shape, nbytes, hash FROM tensors WHERE adapter_id = ?1 "      \
      "ORDER BY ord")                                                                                         \
    X(ST_LIST,                                                                                                \
      "SELECT a.id, a.name, a.format, a.kind, a.base_model, a.source, a.content_hash, a.created, "            \
      "(SELECT group_concat(p.name, ',') FROM (SELECT pa.name AS name FROM adapter_parents ap "                \
      "  JOIN adapters pa ON pa.id = ap.parent_id WHERE ap.child_id = a.id ORDER BY ap.ord) p) "              \
      "FROM adapters a WHERE a.hidden = 0 ORDER BY a.name")                                                   \
    /* the tensor totals of every adapter in one pass (three correlated subqueries per adapter cost 2x) */   \
    X(ST_LIST_LAYERS, "SELECT adapter_id, count(*) FROM layers GROUP BY adapter_id")                        \
    X(ST_LIST_TENSORS,                                                                                        \
      "SELECT adapter_id, role, dtype, numel, nbytes FROM tensors ORDER BY adapter_id")                      \
    X(ST_HIDDEN_SET, "UPDATE adapters SET hidden = ?2 WHERE id = ?1")                                         \
    X(ST_RENAME, "UPDATE adapters SET name = ?2 WHERE id = ?1")                                               \
    X(ST_CHILDREN,                                                                                            \
      "SELECT c.name FROM adapter_parents ap JOIN adapters c ON c.id = ap.child_id "                          \
      "WHERE ap.parent_id = ?1 AND c.hidden = 0 UNION SELECT g.name FROM adapter_tasks t "                    \
      "JOIN adapters g ON g.id = t.group_id WHERE t.member_id = ?1 AND g.hidden = 0 UNION SELECT g.name "     \
      "FROM adapter_series t JOIN adapters g ON g.id = t.series_id WHERE t.member_id = ?1 AND g.hidden = 0 "  \
      "ORDER BY 1")                                                                                           \
    X(ST_STATS_GET,                                                                                           \
      "SELECT n_sv, sv, fro_bits, spectral_bits, nuclear_bits, stable_rank_bits, effective_rank_bits, "       \
      "energy_rank_90, energy_rank_99, numerical_rank, norm_a_bits, norm_b_bits, balance_bits, "              \
      "zeros_a_bits, zeros_b_bits, near_zeros_a_bits, near_zeros_b_bits, nonfinite_a, nonfinite_b, flags "    \
      "FROM layer_stats WHERE key = ?1")                                                                      \
    X(ST_STATS_PUT,                                                                                           \
      "INSERT OR REPLACE INTO layer_stats(key, n_sv, sv, fro_bits, spectral_bits, nuclear_bits, "             \
      "stable_rank_bits, effective_rank_bits, energy_rank_90, energy_rank_99, numerical_rank, norm_a_bits, "  \
      "norm_b_bits, balance_bits, zeros_a_bits, zeros_b_bits, near_zeros_a_bits, near_zeros_b_bits, "         \
      "nonfinite_a, nonfinite_b, flags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, " \
      "?15, ?16, ?17, ?18, ?19, ?20, ?21)")                                                                   \
    X(ST_HISTORY_PUT, "INSERT INTO history(time, command, args_json, run) VALUES (?1, ?2, ?3, ?4)")           \
    X(ST_HISTORY_RUN_HEAD, "UPDATE history SET run = id WHERE id = ?1")                                       \
    X(ST_HISTORY_IO_PUT, "INSERT INTO history_io(history_id, direction, ord, adapter_id) VALUES (?1, ?2, ?3, ?4)") \
    X(ST_HISTORY_ALL, "SELECT id, time, command, args_json, undone, run FROM history ORDER BY id DESC")       \
    X(ST_HISTORY_BY_NAME,                                                                                     \
      "SELECT h.id, h.time, h.command, h.args_json, h.undone, h.run FROM history h WHERE EXISTS (SELECT 1 "   \
      "FROM history_io io JOIN adapters a ON a.id = io.adapter_id WHERE io.history_id = h.id "                \
      "AND a.name = ?1) ORDER BY h.id DESC")                                                                  \
    X(ST_HISTORY_IO_GET,                                                                                      \
      "SELECT io.direction, io.adapter_id, a.name FROM history_io io JOIN adapters a ON a.id = io.adapter_id " \
      "WHERE io.history_id = ?1 ORDER BY io.direction, io.ord")                                               \
    X(ST_UNDONE_SET, "UPDATE history SET undone = ?2 WHERE id = ?1")                                          \
    X(ST_HISTORY_DISCARD, "DELETE FROM history WHERE undone = 1")                                             \
    X(ST_HISTORY_DROP, "DELETE FROM history WHERE id = ?1")                                                   \
    X(ST_BASE_DEL_T, "DELETE FROM base_tensors WHERE adapter_id = ?1")                                        \
    X(ST_BASE_DEL, "DELETE FROM adapter_base WHERE adapter_id = ?1")                                          \
    X(ST_BASE_PUT, "INSERT INTO adapter_base(adapter_id, path) VALUES (?1, ?2)")                              \
    X(ST_BASE_T_PUT, "INSERT INTO base_tensors(adapter_id, layer, tensor, dtype, shape, hash) "               \
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                                       \
    X(ST_BASE_GET, "SELECT path FROM adapter_base WHERE adapter_id = ?1")                                     \
    X(ST_BASE_T_GET, "SELECT layer, tensor, dtype, shape, hash FROM base_tensors WHERE adapter_id = ?1")     \
    X(ST_BASE_NOTE, "INSERT INTO base_change(history_id, adapter_id, side, path) "                            \
                    "VALUES (NULL, ?1, ?2, (SELECT path FROM adapter_base WHERE adapter_id = ?1))")           \
    X(ST_BASE_NOTE_T, "INSERT INTO base_change_tensors(history_id, adapter_id, side, layer, tensor, dtype, "  \
                      "shape, hash) SELECT NULL, adapter_id, ?2, layer, tensor, dtype, shape, hash "          \
                      "FROM base_tensors WHERE adapter_id = ?1")                                              \
    X(ST_BASE_NOTE_LOG, "UPDATE base_change SET history_id = ?1 WHERE history_id IS NULL")                    \
    X(ST_BASE_NOTE_LOG_T, "UPDATE base_change_tensors SET history_id = ?1 WHERE history_id IS NULL")          \
    X(ST_BASE_CHANGE_GET, "SELECT path FROM base_change WHERE history_id = ?1 AND adapter_id = ?2 "           \
                          "AND side = ?3")                                                                    \
    X(ST_BASE_CHANGE_PUT_T, "INSERT INTO base_tensors(adapter_id, layer, tensor, dtype, shape, hash) "        \
                            "SELECT adapter_id, layer, tensor, dtype, shape, hash FROM base_change_tensors "  \
                            "WHERE history_id = ?1 AND adapter_id = ?2 AND side = ?3")                  \
    X(ST_SKETCH_GET, "SELECT rows, cols, l, norm_bits, q, wtq FROM base_sketch WHERE key = ?1")              \
    X(ST_SKETCH_PUT, "INSERT OR REPLACE INTO base_sketch(key, rows, cols, l, norm_bits, q, wtq, base_hash) "  \
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")                                                \
    X(ST_SKETCH_PRUNE, "DELETE FROM base_sketch WHERE base_hash IS NULL OR base_hash NOT IN "                  \
                       "(SELECT hash FROM base_tensors)")                                                   \
    X(ST_SKETCH_SUPERSEDE, "DELETE FROM base_sketch WHERE base_hash = ?1 AND rows = ?2 AND cols = ?3 "        \
                           "AND l = ?4 AND key <> ?5")

enum {
#define X_ID(id, sql) id,
    STMT_LIST(X_ID)
#undef X_ID
    ST_COUNT
};

static const char *const stmt_sql[] = {
#define X_SQL(id, sql) sql,
    STMT_LIST(X_SQL)
#undef X_SQL
};
_Static_assert(sizeof stmt_sql / sizeof stmt_sql[0] == ST_COUNT, "statement table out of sync");

/* The blob read of the lazy tensor loader; each adapter from get_adapter owns one instance. */
static const char blob_get_sql[] = "SELECT data, pack_off, size FROM blobs WHERE hash = ?1";

struct lsc_catalog {
    sqlite3 *db;
    char qpath[QPATH_MAX]; /* the path escaped for messages */
    char *path;            /* the path as given (for PATH-shm when naming the holder of a busy catalog) */
    int readonly;
    sqlite3_stmt *st[ST_COUNT];
    /* A script run in progress (lsc_catalog_run_begin): run_head is the id of the run's first entry once
     * written, 0 before; run_head_txn says it was written in the open transaction (a rollback takes it
     * away again, so the next entry becomes the first; a commit keeps it). */
    int run_active, run_head_txn;
    int64_t run_head;
    /* The open write transaction has discarded the redo stack and set no entry undone since: the history
     * holds no undone entry, so the next entry need not scan for them again (the scan reads the whole
     * history table, and a script run writes one entry per edit). Cleared by everything that can bring an
     * undone entry back: begin, commit, rollback, a savepoint rolled back, lsc_catalog_set_undone. */
    int redo_clear;
    /* The pack of a writable catalog (NULL read-only): appended to under the write lock, synced by the
     * commit hook before SQLite commits; pack_err keeps the hook's failure for db_err. */
    lsc_pack *pack;
    lsc_error pack_err;
};

/* ---- small helpers --------------------------------------------------------------------------------- */

static const char *const dtype_names[] = {
#define LSC_X_DT(code, name, size) name,
    LSC_DTYPE_LIST(LSC_X_DT)
#undef LSC_X_DT
};
static const size_t dtype_sizes[] = {
#define LSC_X_DT(code, name, size) size,
    LSC_DTYPE_LIST(LSC_X_DT)
#undef LSC_X_DT
};

static const char *dt_name(lsc_dtype dt)
{
    return (unsigned)dt < LSC_DT_COUNT ? dtype_names[dt] : NULL;
}

static int dt_parse(const char *s)
{
    return lsc_name_index(dtype_names, LSC_DT_COUNT, s);
}

static lsc_status busy_err(lsc_catalog *cat, lsc_error *err);

static lsc_status db_err(lsc_catalog *cat, lsc_error *err)
{
    if ((sqlite3_errcode(cat->db) & 0xff) == SQLITE_BUSY) /* the busy timeout ran out: say who and what to do */
        return busy_err(cat, err);
    if (sqlite3_extended_errcode(cat->db) == SQLITE_CONSTRAINT_COMMITHOOK && cat->pack_err.code) {
        *err = cat->pack_err; /* the pack could not be synced: the commit hook turned the commit into a rollback */
        return err->code;
    }
    return lsc_error_set(err, LSC_ERR_DB, "catalog '%s': %s", cat->qpath, sqlite3_errmsg(cat->db));
}

/* The cached statement `id`, prepared on first use; NULL (err filled) if it cannot be prepared. */
static sqlite3_stmt *stmt(lsc_catalog *cat, int id, lsc_error *err)
{
    if (!cat->st[id] &&
        sqlite3_prepare_v3(cat->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &cat->st[id], NULL) != SQLITE_OK) {
        db_err(cat, err);
        cat->st[id] = NULL;
    }
    return cat->st[id];
}

/* Make a cached statement ready for its next use. */
static void done(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

/* Bind text that may be NULL; the caller keeps the string alive until the step. */
static int bind_str(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* A NaN binds as NULL (which is what SQLite would make of it anyway), so reading NULL back gives NaN. */
static int bind_real(sqlite3_stmt *s, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, v);
}

static double col_real(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static int64_t dbits(double d)
{
    int64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static double bitsd(int64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* strdup of a column; NULL stays NULL. *oom set on allocation failure. */
static char *col_dup(sqlite3_stmt *s, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t)
        return NULL;
    char *d = strdup((const char *)t);
    if (!d)
        *oom = 1;
    return d;
}

/* Like col_dup, but NULL becomes "" (for the lsc_adapter_info fields that are always strings). */
/* Room for one more row in a growing array of `elem`-byte rows (cnt used of *cap): the array, its capacity
 * doubled when full; NULL when out of memory (arr is then left as it was, for the caller to free). */
static void *grow_rows(void *arr, size_t *cap, size_t cnt, size_t elem)
{
    if (cnt < *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = realloc(arr, nc * elem);
    if (p)
        *cap = nc;
    return p;
}

static char *col_dup_nn(sqlite3_stmt *s, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    char *d = strdup(t ? (const char *)t : "");
    if (!d)
        *oom = 1;
    return d;
}

/* A growable string for comma-separated name lists. */
typedef struct {
    char *s;
    size_t len, cap;
} strbuf;

static int sb_add(strbuf *b, const char *sep, const char *piece)
{
    size_t extra = (b->len ? strlen(sep) : 0) + strlen(piece);
    if (b->len + extra + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        while (nc < b->len + extra + 1)
            nc *= 2;
        char *p = realloc(b->s, nc);
        if (!p)
            return -1;
        b->s = p;
        b->cap = nc;
    }
    int n = sprintf(b->s + b->len, "%s%s", b->len ? sep : "", piece);
    b->len += (size_t)n;
    return 0;
}

/* The finished string ("" when nothing was added); NULL on out of memory. Ownership passes to the caller. */
static char *sb_take(strbuf *b)
{
    char *s = b->s ? b->s : strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

/* Shape as JSON: "[16,4096]". Returns 0, or -1 when it does not fit. */
static int shape_json(const lsc_tensor *t, char *buf, size_t cap)
{
    size_t o = 0;
    int n = snprintf(buf, cap, "[");
    o += (size_t)n;
    for (int d = 0; d < t->ndim && o < cap; d++) {
        n = snprintf(buf + o, cap - o, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        o += (size_t)n;
    }
    if (o < cap)
        o += (size_t)snprintf(buf + o, cap - o, "]");
    return o < cap ? 0 : -1;
}

/* Parse "[d0,d1,...]" (non-negative integers, optional spaces). Returns ndim, or -1 if malformed. */
static int shape_parse(const char *s, int64_t shape[LSC_MAX_NDIM])
{
    int nd = 0;
    if (!s)
        return -1;
    while (*s == ' ')
        s++;
    if (*s++ != '[')
        return -1;
    while (*s == ' ')
        s++;
    if (*s == ']')
        return s[1] == '\0' ? 0 : -1;
    for (;;) {
        if (nd == LSC_MAX_NDIM || *s < '0' || *s > '9')
            return -1;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno)
            return -1;
        shape[nd++] = v;
        s = end;
        while (*s == ' ')
            s++;
        if (*s == ']')
            return s[1] == '\0' ? nd : -1;
        if (*s++ != ',')
            return -1;
        while (*s == ' ')
            s++;
    }
}

static int64_t numel_of(const lsc_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* ---- default path and opening --------------------------------------------------------------------- */

char *lsc_catalog_default_path(char *buf, size_t cap)
{
    const char *e;
    int n;
    if ((e = getenv("LORASCOPE_CATALOG")) && *e)
        n = snprintf(buf, cap, "%s", e);
    else if ((e = getenv("XDG_DATA_HOME")) && e[0] == '/') /* the XDG spec ignores relative values */
        n = snprintf(buf, cap, "%s/lorascope/catalog.db", e);
    else if ((e = getenv("HOME")) && *e)
        n = snprintf(buf, cap, "%s/.local/share/lorascope/catalog.db", e);
    else
        return NULL;
    if (n < 0 || (size_t)n >= cap)
        return NULL;
    return buf;
}

/* mkdir -p of the folder holding `path`. Returns 0 or an errno value. */
static int make_parent_dirs(const char *path)
{
    char *dir = strdup(path);
    int rc = 0;
    if (!dir)
        return ENOMEM;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        goto out;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
                rc = errno;
                goto out;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
out:
    free(dir);
    return rc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What the file holds, as far as opening needs to know. */
typedef struct {
    uint32_t app_id, version;
    int64_t n_schema; /* rows in sqlite_master */
} db_facts;

/* "file:" URI of a path (every byte outside [A-Za-z0-9/._~-] percent-encoded) with the given query. */
static char *path_uri(const char *path, const char *query)
{
    size_t n = strlen(path);
    char *u = malloc(3 * n + strlen(query) + 16);
    if (!u)
        return NULL;
    size_t o = (size_t)sprintf(u, path[0] == '/' ? "file://" : "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '/' ||
            *p == '.' || *p == '_' || *p == '~' || *p == '-')
            u[o++] = (char)*p;
        else
            o += (size_t)sprintf(u + o, "%%%02X", *p);
    }
    sprintf(u + o, "?%s", query);
    return u;
}

/* Read application_id, user_version and the schema size on an open connection. */
static int read_facts(sqlite3 *db, db_facts *f)
{
    static const char *const sql[] = {"PRAGMA application_id", "PRAGMA user_version",
                                      "SELECT count(*) FROM sqlite_master"};
    int rc = SQLITE_OK;
    for (int i = 0; i < 3 && rc == SQLITE_OK; i++) {
        sqlite3_stmt *s = NULL;
        rc = sqlite3_prepare_v2(db, sql[i], -1, &s, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t v = sqlite3_column_int64(s, 0);
            if (i == 0)
                f->app_id = (uint32_t)v;
            else if (i == 1)
                f->version = (uint32_t)v;
            else
                f->n_schema = v;
            rc = SQLITE_OK;
        }
        sqlite3_finalize(s);
    }
    return rc;
}

/* The refusals shared by the header check, the probe and the check under the write lock.
 * *blank is set when the file is an SQLite database with no id and no schema (ours to initialise). */
static lsc_status judge(const char *q, const db_facts *f, int *blank, lsc_error *err)
{
    *blank = 0;
    if (f->app_id != LSC_CATALOG_APP_ID) {
        if (f->app_id == 0 && f->n_schema == 0) {
            *blank = 1;
            return LSC_OK;
        }
        return lsc_error_set(err, LSC_ERR_FORMAT,
                             "'%s': not a lorascope catalog (an SQLite database of another program, "
                             "application_id 0x%08x)",
                             q, (unsigned)f->app_id);
    }
    if (f->version > LSC_CATALOG_VERSION)
        return lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                             "catalog '%s' was written by a newer lorascope (schema %u, this program knows %d)", q,
                             (unsigned)f->version, LSC_CATALOG_VERSION);
    return LSC_OK;
}

static lsc_status read_only_query(const char *path, const char *q, const char **query, lsc_error *err);

/* Steps 2 and 3 of the protocol for an existing, non-empty file: decide without writing a byte.
 * *blank: an SQLite file without id or schema. */
static lsc_status inspect_file(const char *path, const char *q, int *blank, lsc_error *err)
{
    unsigned char h[100];
    sqlite3 *probe = NULL;
    char *uri = NULL, *wal = NULL;
    lsc_status st = LSC_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lsc_error_set(err, LSC_ERR_IO, "cannot open catalog '%s': %s", q, strerror(errno));
    ssize_t got = read(fd, h, sizeof h);
    close(fd);
    if (got != (ssize_t)sizeof h || memcmp(h, "SQLite format 3", 16) != 0)
        return lsc_error_set(err, LSC_ERR_FORMAT, "'%s': not a lorascope catalog (not an SQLite database)", q);

    /* The header alone: an id that is neither 0 nor ours, or our id with a newer version. An id of 0 may
     * still be ours while the creating transaction sits in a -wal file, so that case goes to the probe. */
    db_facts f = {be32(h + 68), be32(h + 60), 1};
    if (f.app_id != 0 && (st = judge(q, &f, blank, err)))
        return st;

    /* WAL mode (write version 2) with no -wal file: the main file is complete and `immutable` reads it
     * without creating -shm; otherwise a plain read-only open writes nothing either. */
    wal = malloc(strlen(path) + 5);
    if (!wal)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    sprintf(wal, "%s-wal", path);
    struct stat sb;
    const char *query = "mode=ro&immutable=1";
    if (!(h[18] == 2 && stat(wal, &sb) != 0) && (st = read_only_query(path, q, &query, err)))
        goto out;
    uri = path_uri(path, query);
    if (!uri) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto out;
    }
    int rc = sqlite3_open_v2(uri, &probe, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(probe, BUSY_TIMEOUT_MS);
        rc = read_facts(probe, &f);
    }
    if (rc != SQLITE_OK) {
        st = lsc_error_set(err, LSC_ERR_FORMAT, "'%s': not a lorascope catalog (%s)", q,
                           probe ? sqlite3_errmsg(probe) : sqlite3_errstr(rc));
        goto out;
    }
    st = judge(q, &f, blank, err);
out:
    sqlite3_close(probe);
    free(uri);
    free(wal);
    return st;
}

static lsc_status exec(lsc_catalog *cat, const char *sql, lsc_error *err)
{
    return sqlite3_exec(cat->db, sql, NULL, NULL, NULL) == SQLITE_OK ? LSC_OK : db_err(cat, err);
}

/* The page cache as a number of pages: 64 MiB at the file's page size (read from its header). */
static lsc_status set_cache_pages(lsc_catalog *cat, lsc_error *err)
{
    sqlite3_stmt *s = NULL;
    int64_t page = 0;
    if (sqlite3_prepare_v2(cat->db, "PRAGMA page_size", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        page = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (page < 512)
        return db_err(cat, err);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = %lld", (long long)(((int64_t)64 << 20) / page));
    return exec(cat, sql, err);
}

/* Step 4's migration, under the write lock. A catalog already at this version is checked with a plain
 * read first, so opening never waits for another process's long write transaction (an import). */
static lsc_status migrate(lsc_catalog *cat, lsc_error *err)
{
    lsc_status st;
    db_facts now = {0, 0, 0};
    int blank_now = 0;
    if (read_facts(cat->db, &now) != SQLITE_OK)
        return db_err(cat, err);
    if ((st = judge(cat->qpath, &now, &blank_now, err)))
        return st;
    if (!blank_now && now.version == LSC_CATALOG_VERSION)
        return LSC_OK;
    for (;;) {
        if ((st = exec(cat, "BEGIN IMMEDIATE", err)))
            return st;
        db_facts f = {0, 0, 0};
        int blank = 0;
        if (read_facts(cat->db, &f) != SQLITE_OK) {
            st = db_err(cat, err);
            goto fail;
        }
        if ((st = judge(cat->qpath, &f, &blank, err)))
            goto fail;
        if (!blank && f.version == LSC_CATALOG_VERSION)
            return exec(cat, "COMMIT", err);
        /* A blank file takes every step in this one transaction; an older catalog one step each. */
        unsigned from = blank ? 0 : f.version, to = blank ? LSC_CATALOG_VERSION : f.version + 1;
        char pragma[96];
        if (blank) {
            snprintf(pragma, sizeof pragma, "PRAGMA application_id = %d", (int)LSC_CATALOG_APP_ID);
            if ((st = exec(cat, pragma, err)))
                goto fail;
        }
        for (unsigned v = from; v < to; v++)
            if ((st = exec(cat, migrations[v], err))) {
                lsc_error_prefix(err, "cannot upgrade catalog to schema %u", v + 1);
                goto fail;
            }
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %u", to);
        if ((st = exec(cat, pragma, err)) || (st = exec(cat, "COMMIT", err)))
            goto fail;
        if (to == LSC_CATALOG_VERSION)
            return LSC_OK;
    }
fail:
    sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* ---- read-only and busy catalogs ------------------------------------------------------------------- */

/* PATH + suffix (malloc'ed), NULL on out of memory. */
static char *side_path(const char *path, const char *suffix)
{
    char *p = malloc(strlen(path) + strlen(suffix) + 1);
    if (p)
        sprintf(p, "%s%s", path, suffix);
    return p;
}

static int on_readonly_fs(const char *path)
{
    struct statvfs vs;
    return statvfs(path, &vs) == 0 && (vs.f_flag & ST_RDONLY) != 0;
}

/* 1 if this process may write the file (effective ids, as the kernel will check them). Root passes any
 * permission bits, but not a read-only mount (EROFS). */
static int may_write(const char *path)
{
    return faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0;
}

/* 1 (and why, for "catalog 'PATH' is read-only: WHY") when this process cannot write the existing catalog
 * at `path`: a read-only filesystem, no write permission on the file, or no way to create the PATH-wal and
 * PATH-shm files SQLite keeps beside it (a folder we may not write, unless both already exist writable). */
static int cannot_write(const char *path, char *why, size_t cap)
{
    if (on_readonly_fs(path) || (!may_write(path) && errno == EROFS)) {
        snprintf(why, cap, "it is on a read-only filesystem");
        return 1;
    }
    if (!may_write(path)) {
        snprintf(why, cap, "you have no write permission on it");
        return 1;
    }
    char *dir = strdup(path), *wal = side_path(path, "-wal"), *shm = side_path(path, "-shm");
    int blocked = 0;
    if (dir && wal && shm) {
        char *slash = strrchr(dir, '/');
        const char *d = !slash ? "." : slash == dir ? "/" : (*slash = '\0', dir);
        blocked = !may_write(d) && !(may_write(wal) && may_write(shm));
    }
    if (blocked)
        snprintf(why, cap, "you may not create files in its folder (SQLite keeps '-wal' and '-shm' files there)");
    free(dir);
    free(wal);
    free(shm);
    return blocked;
}

/* The URI query (*query) of a read-only connection to `path` (q: the path for messages) that leaves no
 * files behind that would block the catalog's owner. Even a reader of a WAL-mode database needs PATH-shm
 * (and PATH-wal) to exist or be creatable (SQLite's "WAL mode" notes on read-only databases):
 *  - they exist (a writer is active, or left them): a plain read-only open uses them; SQLite keeps a
 *    private copy of the index in memory when this process may not write PATH-shm;
 *  - they are missing and this process may write the catalog (its owner, or root, whose files SQLite hands
 *    to the owner): a plain read-only open creates them, as any connection of the owner would;
 *  - they are missing and this process may not write the catalog (a read-only mount, another user's
 *    file): creating them is either impossible or wrong (a PATH-shm owned by a reader blocks the owner's
 *    next write), so the file is opened `immutable`: no PATH-shm, no locks. On a read-only mount that is
 *    exact. On a file its owner may write, a write starting while we read goes to PATH-wal and reaches the
 *    file only at a checkpoint; a reader overlapping that checkpoint can meet a mix of old and new pages
 *    (SQLite mostly reports that as a malformed database; the read commands take a moment, the owner's
 *    checkpoint too), and it never writes. A PATH-wal holding changes with no
 *    PATH-shm (an owner that crashed) would be skipped by `immutable`: refused instead, with what to do. */
static lsc_status read_only_query(const char *path, const char *q, const char **query, lsc_error *err)
{
    char why[160];
    char *wal = side_path(path, "-wal"), *shm = side_path(path, "-shm");
    lsc_status st = LSC_OK;
    struct stat sw, ss;
    *query = "mode=ro";
    if (!wal || !shm)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    else if (stat(shm, &ss) != 0 && cannot_write(path, why, sizeof why)) {
        if (stat(wal, &sw) == 0 && sw.st_size > 0)
            st = lsc_error_set(err, LSC_ERR_IO,
                               "catalog '%s' cannot be read: its last changes are in its '-wal' file, which needs "
                               "a '-shm' file this process cannot create (%s); open it once as its owner", q, why);
        else
            *query = "mode=ro&immutable=1";
    }
    free(wal);
    free(shm);
    return st;
}

/* Open cat->db read-only, with the query read_only_query chose. */
static lsc_status open_read_only(lsc_catalog *cat, const char *path, lsc_error *err)
{
    const char *query;
    lsc_status st = read_only_query(path, cat->qpath, &query, err);
    if (st)
        return st;
    char *uri = path_uri(path, query);
    if (!uri)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (sqlite3_open_v2(uri, &cat->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
        st = cat->db ? db_err(cat, err) : lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    free(uri);
    return st;
}

/* A catalog this process cannot write: with LSC_CATALOG_FALLBACK_RO it is opened read-only (*ro set),
 * otherwise refused with "catalog 'PATH' is read-only: WHY" before SQLite touches it. */
static lsc_status readonly_fallback(lsc_catalog *cat, const char *path, unsigned flags, int *ro, lsc_error *err)
{
    char why[160];
    if (!cannot_write(path, why, sizeof why))
        return LSC_OK;
    if (!(flags & LSC_CATALOG_FALLBACK_RO))
        return lsc_error_set(err, LSC_ERR_IO, "catalog '%s' is read-only: %s", cat->qpath, why);
    *ro = cat->readonly = 1;
    return LSC_OK;
}

/* The process holding the catalog's write lock; 0 if none is visible. In WAL mode SQLite takes its write
 * lock as a POSIX (fcntl) lock on byte 120 of PATH-shm, the first of the WAL-index lock bytes 120..127
 * (SQLite's "WAL-mode file format" document), so F_GETLK names the process holding it. The query runs in
 * a child process: closing a descriptor of PATH-shm in this one would drop every POSIX lock this process
 * holds on that file, SQLite's own included. */
static pid_t write_lock_holder(const char *path)
{
    char *shm = side_path(path, "-shm");
    int fds[2];
    pid_t who = 0;
    if (!shm || pipe(fds) != 0) {
        free(shm);
        return 0;
    }
    pid_t child = fork();
    if (child == 0) { /* open, fcntl, write, _exit; and free, which glibc makes safe after fork */
        int fd = open(shm, O_RDONLY | O_CLOEXEC);
        free(shm);
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_RDLCK; /* conflicts with an exclusive lock only */
        fl.l_whence = SEEK_SET;
        fl.l_start = 120;
        fl.l_len = 1;
        if (fd >= 0 && fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
            who = fl.l_pid;
        if (write(fds[1], &who, sizeof who) < 0)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    if (child > 0) {
        if (read(fds[0], &who, sizeof who) != (ssize_t)sizeof who)
            who = 0;
        waitpid(child, NULL, 0);
    }
    close(fds[0]);
    free(shm);
    return who;
}

/* The command line of process `pid` (arguments joined by spaces, escaped, cut at cap) into out, "" if it
 * cannot be read; *ours is 1 when its program is called lorascope. */
static void command_of(pid_t pid, char *out, size_t cap, int *ours)
{
    char p[64], raw[200];
    ssize_t n = -1;
    *ours = 0;
    out[0] = '\0';
    snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, raw, sizeof raw - 4);
        close(fd);
    }
    if (n <= 0)
        return;
    raw[n] = '\0';
    const char *base = strrchr(raw, '/');
    *ours = strcmp(base ? base + 1 : raw, "lorascope") == 0;
    while (n > 0 && raw[n - 1] == '\0')
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (raw[i] == '\0')
            raw[i] = ' ';
    if (n == (ssize_t)sizeof raw - 4)
        memcpy(raw + n, "...", 4);
    else
        raw[n] = '\0';
    lsc_escape_name(out, cap, raw);
}

/* The message for SQLITE_BUSY: the busy timeout ran out waiting for another writer. */
static lsc_status busy_err(lsc_catalog *cat, lsc_error *err)
{
    pid_t who = cat->path ? write_lock_holder(cat->path) : 0;
    if (who > 0 && who != getpid()) {
        char cmd[240];
        int ours;
        command_of(who, cmd, sizeof cmd, &ours);
        return lsc_error_set(err, LSC_ERR_DB, "catalog '%s' is busy: %s (pid %d%s%s%s) is writing to it; try again "
                             "when it finishes", cat->qpath, ours ? "another lorascope" : "another program", (int)who,
                             cmd[0] ? ", `" : "", cmd, cmd[0] ? "`" : "");
    }
    return lsc_error_set(err, LSC_ERR_DB, "catalog '%s' is busy: %s holds its write lock; try again when it finishes",
                         cat->qpath, who > 0 ? "another connection of this process" : "another process");
}

/* SQLite calls this before it commits (any transaction, whichever statement ends it): the pack's new
 * bytes reach the disk before the rows that point at them. Nonzero turns the commit into a rollback. */
static int pack_commit_hook(void *arg)
{
    lsc_catalog *cat = arg;
    lsc_error_clear(&cat->pack_err);
    return lsc_pack_sync(cat->pack, &cat->pack_err) != LSC_OK;
}

/* A writable catalog's pack handle (the file itself is created by the first large blob) and the hook
 * that syncs it before each commit. */
static lsc_status pack_attach(lsc_catalog *cat, lsc_error *err)
{
    const char *file = sqlite3_db_filename(cat->db, "main");
    cat->pack = lsc_pack_new(file && *file ? file : cat->path, cat->qpath);
    if (!cat->pack)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    sqlite3_commit_hook(cat->db, pack_commit_hook, cat);
    return LSC_OK;
}

lsc_status lsc_catalog_open(const char *path, unsigned flags, lsc_catalog **out, lsc_error *err)
{
    lsc_status st = LSC_OK;
    int ro = (flags & LSC_CATALOG_READONLY) != 0, create = (flags & LSC_CATALOG_CREATE) && !ro;
    int missing = 0, blank = 0;
    *out = NULL;
    lsc_catalog *cat = calloc(1, sizeof *cat);
    if (!cat)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    cat->readonly = ro;
    lsc_escape_name(cat->qpath, sizeof cat->qpath, path);
    const char *q = cat->qpath;
    if (!(cat->path = strdup(path))) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }

    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT || !create) {
            st = lsc_error_set(err, errno == ENOENT ? LSC_ERR_NOTFOUND : LSC_ERR_IO, "cannot open catalog '%s': %s",
                               q, errno == ENOENT ? "no such file" : strerror(errno));
            goto fail;
        }
        int e = make_parent_dirs(path);
        if (e) {
            st = lsc_error_set(err, LSC_ERR_IO, "cannot create the folder of catalog '%s': %s", q, strerror(e));
            goto fail;
        }
        missing = 1;
    } else if (S_ISDIR(sb.st_mode)) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "cannot open catalog '%s': is a directory", q);
        goto fail;
    } else if (!S_ISREG(sb.st_mode)) { /* a FIFO or device: refused before SQLite opens it (no -journal) */
        st = lsc_error_set(err, LSC_ERR_INVALID, "catalog '%s' is not a regular file", q);
        goto fail;
    } else if (sb.st_size == 0) {
        blank = 1;
    } else if ((st = inspect_file(path, q, &blank, err))) {
        goto fail;
    }
    if (!ro && !missing && (st = readonly_fallback(cat, path, flags, &ro, err)))
        goto fail;
    create = create && !ro;
    if ((missing || blank) && !create) {
        st = lsc_error_set(err, LSC_ERR_FORMAT, "'%s': not a lorascope catalog (empty %s)", q,
                           sb.st_size == 0 ? "file" : "database");
        goto fail;
    }

    if (ro)
        st = open_read_only(cat, path, err);
    else if (sqlite3_open_v2(path, &cat->db, SQLITE_OPEN_READWRITE | (missing ? SQLITE_OPEN_CREATE : 0), NULL) != SQLITE_OK)
        st = cat->db ? db_err(cat, err) : lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (st)
        goto fail;
    sqlite3_extended_result_codes(cat->db, 1);
    sqlite3_busy_timeout(cat->db, BUSY_TIMEOUT_MS);
    /* 64 MiB of page cache (the default 2 MiB is 62 pages of 32 KiB): a script's one transaction over a
     * thousand adapters otherwise reads the same index pages from the file again and again, and its time per
     * adapter grows with the catalog. Set here in KiB and again in pages once the file's page size is
     * known (set_cache_pages): given in KiB before that, SQLite held up to ~8x more in one big transaction
     * (a 290 MB `import --recursive` peaked at 286 MB RSS, 78 MB with the size in pages). */
    if ((st = exec(cat, "PRAGMA cache_size = -65536", err)))
        goto fail;
    if ((st = exec(cat, "PRAGMA foreign_keys = ON", err)))
        goto fail;
    if (ro) {
        db_facts f = {0, 0, 0};
        if (read_facts(cat->db, &f) != SQLITE_OK) {
            st = db_err(cat, err);
            goto fail;
        }
        if ((st = judge(q, &f, &blank, err)))
            goto fail;
        if (blank || f.version < LSC_CATALOG_VERSION) {
            st = lsc_error_set(err, LSC_ERR_UNSUPPORTED,
                               "catalog '%s' needs an upgrade to schema %d: open it once %s", q, LSC_CATALOG_VERSION,
                               flags & LSC_CATALOG_READONLY ? "without read-only" : "with write access to it");
            goto fail;
        }
    } else {
        /* The checks passed: from here on writing is allowed. A new file gets 32 KiB pages: tensor blobs
         * live in overflow chains, and measured on a 7B-shaped import (bench-catalog) 32 KiB pages store
         * 80 MB ~1.9x faster than 4 KiB ones for 5% more file; small edits still touch only a few pages.
         * journal_size_limit keeps a big import from leaving a WAL file of its own size behind. */
        if ((missing || blank) && (st = exec(cat, "PRAGMA page_size = 32768", err)))
            goto fail;
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v2(cat->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(s, 0);
            rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
        }
        if (rc != SQLITE_OK) {
            st = rc == SQLITE_CANTOPEN ? lsc_error_set(err, LSC_ERR_DB, "catalog '%s': cannot switch to WAL mode", q)
                                       : db_err(cat, err);
            sqlite3_finalize(s);
            goto fail;
        }
        sqlite3_finalize(s);
        if ((st = exec(cat, "PRAGMA synchronous = FULL", err)) ||
            (st = exec(cat, "PRAGMA journal_size_limit = 67108864", err)) || (st = migrate(cat, err)) ||
            (st = pack_attach(cat, err)))
            goto fail;
    }
    if ((st = set_cache_pages(cat, err)))
        goto fail;
    *out = cat;
    return LSC_OK;
fail:
    lsc_catalog_close(cat);
    return st;
}

void lsc_catalog_close(lsc_catalog *cat)
{
    if (!cat)
        return;
    if (cat->db && !sqlite3_get_autocommit(cat->db))
        sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(cat->st[i]);
    if (cat->db)
        sqlite3_commit_hook(cat->db, NULL, NULL);
    lsc_pack_free(cat->pack);
    /* v2: adapters from get_adapter may still hold their loader statement; the connection closes when
     * the last of them is freed. */
    sqlite3_close_v2(cat->db);
    free(cat->path);
    free(cat);
}

struct sqlite3 *lsc_catalog_db(lsc_catalog *cat)
{
    return cat->db;
}

const char *lsc_catalog_file(lsc_catalog *cat)
{
    const char *f = sqlite3_db_filename(cat->db, "main");
    return f && *f ? f : NULL;
}

int lsc_catalog_is_readonly(const lsc_catalog *cat)
{
    return cat->readonly;
}

/* ---- transactions ---------------------------------------------------------------------------------- */

int lsc_catalog_in_transaction(const lsc_catalog *cat)
{
    return !sqlite3_get_autocommit(cat->db);
}

lsc_status lsc_catalog_begin(lsc_catalog *cat, lsc_error *err)
{
    if (lsc_catalog_in_transaction(cat))
        return lsc_error_set(err, LSC_ERR_INVALID, "catalog '%s': a transaction is already open", cat->qpath);
    if (cat->readonly)
        return lsc_error_set(err, LSC_ERR_INVALID, "catalog '%s' is open read-only", cat->qpath);
    /* BEGIN IMMEDIATE takes the write lock now; the busy timeout makes it wait for another writer. */
    cat->redo_clear = 0;
    return exec(cat, "BEGIN IMMEDIATE", err);
}

lsc_status lsc_catalog_commit(lsc_catalog *cat, lsc_error *err)
{
    if (!lsc_catalog_in_transaction(cat))
        return lsc_error_set(err, LSC_ERR_INVALID, "catalog '%s': no transaction to commit", cat->qpath);
    lsc_status st = exec(cat, "COMMIT", err);
    cat->redo_clear = 0; /* another connection may write next */
    if (!st)
        cat->run_head_txn = 0; /* the run's first entry is in the file now */
    return st;
}

void lsc_catalog_rollback(lsc_catalog *cat)
{
    if (lsc_catalog_in_transaction(cat))
        sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
    cat->redo_clear = 0;
    if (cat->run_head_txn) /* the run's first entry went with the transaction: the next one is the first */
        cat->run_head = 0;
    cat->run_head_txn = 0;
}

/* One fixed savepoint name: the batch importer nests one per adapter inside the command's transaction
 * (put_adapter's own savepoint nests inside it). */
lsc_status lsc_catalog_savepoint(lsc_catalog *cat, lsc_error *err)
{
    if (!lsc_catalog_in_transaction(cat))
        return lsc_error_set(err, LSC_ERR_INVALID, "catalog '%s': a savepoint needs a transaction", cat->qpath);
    return exec(cat, "SAVEPOINT lsc_item", err);
}

lsc_status lsc_catalog_savepoint_end(lsc_catalog *cat, int keep, lsc_error *err)
{
    if (keep)
        return exec(cat, "RELEASE lsc_item", err);
    cat->redo_clear = 0; /* the rollback may bring back entries the discard deleted */
    lsc_status st = exec(cat, "ROLLBACK TO lsc_item", err);
    return st ? st : exec(cat, "RELEASE lsc_item", err);
}

static lsc_status need_transaction(lsc_catalog *cat, const char *what, lsc_error *err)
{
    if (!lsc_catalog_in_transaction(cat))
        return lsc_error_set(err, LSC_ERR_INVALID, "catalog '%s': %s must run inside a transaction", cat->qpath,
                             what);
    return LSC_OK;
}

/* ---- blobs ----------------------------------------------------------------------------------------- */

/* 1 if the blob exists (its size in *size), 0 if not, -1 on a database error (err filled). */
static int blob_has(lsc_catalog *cat, const char *hash, int64_t *size, lsc_error *err)
{
    sqlite3_stmt *s = stmt(cat, ST_BLOB_HAS, err);
    if (!s)
        return -1;
    bind_str(s, 1, hash);
    int rc = sqlite3_step(s), r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (r == 1 && size)
        *size = sqlite3_column_int64(s, 0);
    if (r < 0)
        db_err(cat, err);
    done(s);
    return r;
}

/* One int64 from a cached statement with bindings already made (one row expected). */
static lsc_status step_int64(lsc_catalog *cat, sqlite3_stmt *s, int64_t *v, lsc_error *err)
{
    int rc = sqlite3_step(s);
    lsc_status st = rc == SQLITE_ROW    ? LSC_OK
                    : rc == SQLITE_DONE ? lsc_error_set(err, LSC_ERR_DB, "catalog '%s': no pack row", cat->qpath)
                                        : db_err(cat, err);
    if (!st)
        *v = sqlite3_column_int64(s, 0);
    done(s);
    return st;
}

/* Append n bytes to the pack and record them under `hash`. The pack's committed end grows first: that
 * UPDATE holds the write lock (and fails on a stale snapshot) before a byte is written, and rolls back
 * with the transaction or savepoint, so bytes of a failed write are garbage past the end, overwritten
 * by the next append. */
static lsc_status blob_store_packed(lsc_catalog *cat, const char *hash, const void *data, size_t n,
                                    lsc_error *err)
{
    sqlite3_stmt *g = stmt(cat, ST_PACK_GROW, err), *e = g ? stmt(cat, ST_PACK_END, err) : NULL;
    if (!e)
        return LSC_ERR_DB;
    sqlite3_bind_int64(g, 1, (int64_t)n);
    lsc_status st = sqlite3_step(g) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(g);
    int64_t end = 0;
    if (st || (st = step_int64(cat, e, &end, err)) ||
        (st = lsc_pack_write(cat->pack, end - (int64_t)n, data, n, err)))
        return st;
    sqlite3_stmt *s = stmt(cat, ST_BLOB_PUT_PACKED, err);
    if (!s)
        return LSC_ERR_DB;
    bind_str(s, 1, hash);
    sqlite3_bind_int64(s, 2, (int64_t)n);
    sqlite3_bind_int64(s, 3, end - (int64_t)n);
    st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(s);
    return st;
}

/* Insert the bytes under `hash` unless present (the caller vouches that hash matches the bytes). Large
 * blobs written inside a transaction go to the pack; small ones, and any outside a transaction (the
 * pack's protocol needs the write lock held from the append to the commit), stay inline. */
static lsc_status blob_store(lsc_catalog *cat, const char *hash, const void *data, size_t n, lsc_error *err)
{
    int has = blob_has(cat, hash, NULL, err);
    if (has < 0)
        return LSC_ERR_DB;
    if (has)
        return LSC_OK;
    if (n >= LSC_PACK_MIN && cat->pack && lsc_catalog_in_transaction(cat))
        return blob_store_packed(cat, hash, data, n, err);
    sqlite3_stmt *s = stmt(cat, ST_BLOB_PUT, err);
    if (!s)
        return LSC_ERR_DB;
    static const char empty[1] = {0};
    bind_str(s, 1, hash);
    sqlite3_bind_int64(s, 2, (int64_t)n);
    sqlite3_bind_blob64(s, 3, n ? data : empty, n, SQLITE_STATIC);
    lsc_status st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(s);
    return st;
}

lsc_status lsc_catalog_put_blob(lsc_catalog *cat, const char hash[LSC_HASH_HEX], const void *data, size_t n,
                                lsc_error *err)
{
    char h[LSC_HASH_HEX];
    lsc_hash_bytes(data, n, h);
    if (strcmp(h, hash) != 0)
        return lsc_error_set(err, LSC_ERR_INVALID, "blob '%.32s': bytes do not match the hash", hash);
    return blob_store(cat, hash, data, n, err);
}

/* ---- put_adapter ----------------------------------------------------------------------------------- */

/* Hash, check and store the bytes of tensor i; load them through the adapter's loader (and drop them
 * again) when they are not in memory and not in the catalog yet. */
static lsc_status put_tensor_bytes(lsc_catalog *cat, lsc_adapter *ad, size_t i, lsc_error *err)
{
    lsc_tensor *t = &ad->tensors[i];
    char h[LSC_HASH_HEX];
    lsc_status st;
    int loaded_here = 0;
    if (!t->data && t->nbytes > 0) {
        if (t->hash[0]) {
            int64_t size = 0;
            int has = blob_has(cat, t->hash, &size, err);
            if (has < 0)
                return LSC_ERR_DB;
            if (has) {
                if (size != (int64_t)t->nbytes)
                    return lsc_error_set(err, LSC_ERR_INVALID,
                                         "tensor '%s': stored bytes have %lld bytes, the tensor needs %zu", t->key,
                                         (long long)size, t->nbytes);
                return LSC_OK;
            }
        }
        if (!ad->load)
            return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s': no data and no stored bytes in the catalog",
                                 t->key);
        if ((st = lsc_adapter_load_tensor(ad, i, err)))
            return st;
        loaded_here = 1;
    }
    lsc_hash_bytes(t->data, t->data ? t->nbytes : 0, h);
    if (t->hash[0] && strcmp(t->hash, h) != 0) {
        st = lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s': data does not match its hash", t->key);
        goto out;
    }
    memcpy(t->hash, h, sizeof h);
    st = blob_store(cat, t->hash, t->data, t->data ? t->nbytes : 0, err);
out:
    if (loaded_here)
        lsc_adapter_unload_tensor(ad, i);
    return st;
}

lsc_status lsc_catalog_put_tensors(lsc_catalog *cat, lsc_adapter *ad, const size_t *ix, size_t n, lsc_error *err)
{
    if (!lsc_catalog_in_transaction(cat))
        return lsc_error_set(err, LSC_ERR_INVALID, "layer data can only be stored inside a transaction");
    for (size_t k = 0; k < n; k++) {
        if (ix[k] >= ad->n_tensors)
            return lsc_error_set(err, LSC_ERR_INVALID, "tensor %zu out of range", ix[k]);
        lsc_tensor *t = &ad->tensors[ix[k]];
        if (!t->data)
            continue;
        lsc_status st = put_tensor_bytes(cat, ad, ix[k], err);
        if (st)
            return st;
        free(t->data);
        t->data = NULL;
    }
    return LSC_OK;
}

lsc_status lsc_catalog_put_layer_data(lsc_catalog *cat, lsc_adapter *ad, size_t li, lsc_error *err)
{
    if (!lsc_catalog_in_transaction(cat))
        return lsc_error_set(err, LSC_ERR_INVALID, "layer data can only be stored inside a transaction");
    if (li >= ad->n_layers)
        return lsc_error_set(err, LSC_ERR_INVALID, "layer %zu out of range", li);
    for (size_t i = 0; i < ad->n_tensors; i++) {
        if (ad->tensors[i].layer != (int)li || !ad->tensors[i].data)
            continue;
        lsc_status st = lsc_catalog_put_tensors(cat, ad, &i, 1, err);
        if (st)
            return st;
    }
    return LSC_OK;
}

/* Shapes, indices and enums must be consistent before anything is written. */
static lsc_status check_adapter(const lsc_adapter *ad, lsc_error *err)
{
    if (!ad->name || !ad->name[0])
        return lsc_error_set(err, LSC_ERR_INVALID, "an adapter needs a name");
    for (size_t i = 0; i < ad->n_tensors; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        if ((unsigned)t->role >= LSC_ROLE_COUNT || !dt_name(t->dtype) || t->ndim < 0 || t->ndim > LSC_MAX_NDIM)
            return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s': invalid role, dtype or rank", t->key);
        if (t->layer < -1 || t->layer >= (int64_t)ad->n_layers)
            return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s': layer %d out of range", t->key, t->layer);
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s': negative dimension", t->key);
            n *= t->shape[d];
        }
        if ((uint64_t)n * dtype_sizes[t->dtype] != t->nbytes)
            return lsc_error_set(err, LSC_ERR_INVALID, "tensor '%s': %zu bytes do not match its shape", t->key,
                                 t->nbytes);
    }
    for (size_t i = 0; i < ad->n_layers; i++) {
        const lsc_layer *l = &ad->layers[i];
        const int ix[4] = {l->ta, l->tb, l->te, l->tm};
        if ((unsigned)l->rule >= LSC_SCALE_RULE_COUNT)
            return lsc_error_set(err, LSC_ERR_INVALID, "layer '%s': invalid scale rule", l->name);
        for (int k = 0; k < 4; k++)
            if (ix[k] < -1 || ix[k] >= (int64_t)ad->n_tensors)
                return lsc_error_set(err, LSC_ERR_INVALID, "layer '%s': tensor index %d out of range", l->name,
                                     ix[k]);
    }
    return LSC_OK;
}

static lsc_status name_taken(lsc_catalog *cat, const char *name, int64_t except_id, int *taken, lsc_error *err)
{
    sqlite3_stmt *s = stmt(cat, ST_NAME_TAKEN, err);
    if (!s)
        return LSC_ERR_DB;
    bind_str(s, 1, name);
    sqlite3_bind_int64(s, 2, except_id);
    int rc = sqlite3_step(s);
    lsc_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    *taken = rc == SQLITE_ROW;
    done(s);
    return st;
}

/* Name of any adapter (hidden or not) by id into *name (malloc'ed, may pass NULL to only test). */
static lsc_status adapter_name(lsc_catalog *cat, int64_t id, char **name, int *hidden, lsc_error *err)
{
    sqlite3_stmt *s = stmt(cat, ST_ADAPTER_NAME, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s), oom = 0;
    lsc_status st = LSC_OK;
    if (rc == SQLITE_ROW) {
        if (name)
            *name = col_dup(s, 0, &oom);
        if (hidden)
            *hidden = sqlite3_column_int(s, 1);
        if (oom)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    } else if (rc == SQLITE_DONE) {
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "no adapter with id %lld in the catalog", (long long)id);
    } else {
        st = db_err(cat, err);
    }
    done(s);
    return st;
}

/* One row per layer, tensor and parent of adapter `id`. */
static lsc_status put_rows(lsc_catalog *cat, const lsc_adapter *ad, int64_t id, const int64_t *parents,
                           size_t n_parents, lsc_error *err)
{
    sqlite3_stmt *s = NULL;
    if (!(s = stmt(cat, ST_LAYER_PUT, err)))
        return LSC_ERR_DB;
    for (size_t i = 0; i < ad->n_layers; i++) {
        const lsc_layer *l = &ad->layers[i];
        const int ix[4] = {l->ta, l->tb, l->te, l->tm};
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, (int64_t)i);
        bind_str(s, 3, l->name);
        bind_str(s, 4, l->module_type ? l->module_type : "");
        sqlite3_bind_int(s, 5, l->layer_index);
        sqlite3_bind_int64(s, 6, l->rows);
        sqlite3_bind_int64(s, 7, l->cols);
        sqlite3_bind_int(s, 8, l->rank);
        sqlite3_bind_int(s, 9, l->init_r);
        bind_real(s, 10, l->alpha);
        bind_str(s, 11, lsc_scale_rule_name(l->rule));
        bind_real(s, 12, l->scale);
        sqlite3_bind_int64(s, 13, l->flags);
        for (int k = 0; k < 4; k++)
            if (ix[k] >= 0)
                sqlite3_bind_int(s, 14 + k, ix[k]);
            else
                sqlite3_bind_null(s, 14 + k);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto db_fail;
        done(s);
    }
    if (!(s = stmt(cat, ST_TENSOR_PUT, err)))
        return LSC_ERR_DB;
    for (size_t i = 0; i < ad->n_tensors; i++) {
        const lsc_tensor *t = &ad->tensors[i];
        char shape[LSC_MAX_NDIM * 22 + 4];
        shape_json(t, shape, sizeof shape);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, (int64_t)i);
        bind_str(s, 3, t->key);
        bind_str(s, 4, lsc_role_name(t->role));
        if (t->layer >= 0)
            sqlite3_bind_int(s, 5, t->layer);
        else
            sqlite3_bind_null(s, 5);
        bind_str(s, 6, dt_name(t->dtype));
        bind_str(s, 7, shape);
        sqlite3_bind_int64(s, 8, numel_of(t));
        sqlite3_bind_int64(s, 9, (int64_t)t->nbytes);
        bind_str(s, 10, t->hash);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto db_fail;
        done(s);
    }
    if (!(s = stmt(cat, ST_PARENT_PUT, err)))
        return LSC_ERR_DB;
    for (size_t i = 0; i < n_parents; i++) {
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, (int64_t)i);
        sqlite3_bind_int64(s, 3, parents[i]);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto db_fail;
        done(s);
    }
    return LSC_OK;
db_fail:
    db_err(cat, err);
    done(s);
    return LSC_ERR_DB;
}

lsc_status lsc_catalog_put_adapter(lsc_catalog *cat, lsc_adapter *ad, const int64_t *parents, size_t n_parents,
                                   int64_t *id, lsc_error *err)
{
    lsc_status st;
    int taken = 0;
    if ((st = need_transaction(cat, "storing an adapter", err)) || (st = check_adapter(ad, err)))
        return st;
    if ((st = name_taken(cat, ad->name, -1, &taken, err)))
        return st;
    if (taken) {
        char q[256];
        return lsc_error_set(err, LSC_ERR_EXISTS, "adapter '%s' already exists",
                             lsc_escape_name(q, sizeof q, ad->name));
    }
    for (size_t i = 0; i < n_parents; i++)
        if ((st = adapter_name(cat, parents[i], NULL, NULL, err)))
            return st;
    /* A savepoint: a failure half-way leaves the caller's transaction as it was before this call. */
    if ((st = exec(cat, "SAVEPOINT lsc_put_adapter", err)))
        return st;
    for (size_t i = 0; i < ad->n_tensors; i++)
        if ((st = put_tensor_bytes(cat, ad, i, err)))
            goto fail;
    char content[LSC_HASH_HEX];
    lsc_hash_adapter(ad, content);
    sqlite3_stmt *s = stmt(cat, ST_ADAPTER_PUT, err);
    if (!s) {
        st = LSC_ERR_DB;
        goto fail;
    }
    bind_str(s, 1, ad->name);
    bind_str(s, 2, ad->format);
    bind_str(s, 3, ad->kind);
    bind_str(s, 4, ad->base_model);
    bind_str(s, 5, ad->config_json);
    bind_str(s, 6, ad->header_json);
    bind_str(s, 7, ad->metadata_json);
    bind_str(s, 8, ad->source);
    bind_str(s, 9, ad->warnings);
    sqlite3_bind_int64(s, 10, (int64_t)time(NULL));
    bind_str(s, 11, content);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        st = db_err(cat, err);
        done(s);
        goto fail;
    }
    done(s);
    int64_t new_id = sqlite3_last_insert_rowid(cat->db);
    if ((st = put_rows(cat, ad, new_id, parents, n_parents, err)) ||
        (st = exec(cat, "RELEASE lsc_put_adapter", err)))
        goto fail;
    if (id)
        *id = new_id;
    return LSC_OK;
fail:
    sqlite3_exec(cat->db, "ROLLBACK TO lsc_put_adapter; RELEASE lsc_put_adapter", NULL, NULL, NULL);
    cat->redo_clear = 0;
    return st;
}

/* ---- get_adapter ----------------------------------------------------------------------------------- */

typedef struct {
    sqlite3_stmt *sel;     /* blob_get_sql, owned */
    lsc_pack *pack;        /* the catalog's pack (a descriptor opened per read: no file held per adapter) */
    char qpath[QPATH_MAX]; /* for messages, so the loader never touches the catalog struct */
} blob_loader;

static void blob_loader_free(void *p)
{
    blob_loader *b = p;
    if (b) {
        sqlite3_finalize(b->sel);
        lsc_pack_free(b->pack);
        free(b);
    }
}

/* The stored bytes of tensor t from the current row of b->sel (data, pack_off, size) into a new buffer
 * of its own (*out, malloc'ed): inline ones copied from the row, packed ones read from the pack. */
static lsc_status blob_row_bytes(blob_loader *b, const lsc_tensor *t, uint8_t **out, lsc_error *err)
{
    int packed = sqlite3_column_type(b->sel, 1) != SQLITE_NULL;
    size_t n = packed ? (size_t)sqlite3_column_int64(b->sel, 2) : (size_t)sqlite3_column_bytes(b->sel, 0);
    if (n != t->nbytes)
        return lsc_error_set(err, LSC_ERR_FORMAT, "catalog '%s': tensor '%s' has %zu stored bytes, expected %zu",
                             b->qpath, t->key, n, t->nbytes);
    uint8_t *data = malloc(n ? n : 1);
    if (!data)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory loading tensor '%s' (%zu bytes)", t->key, n);
    lsc_status st = LSC_OK;
    if (packed)
        st = lsc_pack_read(b->pack, sqlite3_column_int64(b->sel, 1), data, n, t->key, err);
    else if (n)
        memcpy(data, sqlite3_column_blob(b->sel, 0), n);
    if (st)
        free(data);
    else
        *out = data;
    return st;
}

static lsc_status blob_load(lsc_adapter *ad, size_t i, lsc_error *err)
{
    blob_loader *b = ad->load_ctx;
    lsc_tensor *t = &ad->tensors[i];
    lsc_status st = LSC_OK;
    uint8_t *data = NULL;
    sqlite3_bind_text(b->sel, 1, t->hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(b->sel);
    if (rc == SQLITE_DONE) {
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "catalog '%s': no stored bytes for tensor '%s'", b->qpath, t->key);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        st = lsc_error_set(err, LSC_ERR_DB, "catalog '%s': %s", b->qpath,
                           sqlite3_errmsg(sqlite3_db_handle(b->sel)));
        goto out;
    }
    if ((st = blob_row_bytes(b, t, &data, err)))
        goto out;
    char h[LSC_HASH_HEX];
    lsc_hash_bytes(data, t->nbytes, h);
    if (strcmp(h, t->hash) != 0) {
        st = lsc_error_set(err, LSC_ERR_FORMAT, "catalog '%s': stored bytes of tensor '%s' do not match their hash",
                           b->qpath, t->key);
        goto out;
    }
    t->data = data;
    data = NULL;
out:
    free(data);
    sqlite3_reset(b->sel); /* ends the read transaction in autocommit mode */
    sqlite3_clear_bindings(b->sel);
    return st;
}

static lsc_status corrupt(lsc_catalog *cat, const char *what, lsc_error *err)
{
    return lsc_error_set(err, LSC_ERR_FORMAT, "catalog '%s': corrupt adapter rows (%s)", cat->qpath, what);
}

static lsc_status get_layers(lsc_catalog *cat, int64_t id, lsc_adapter *ad, lsc_error *err)
{
    sqlite3_stmt *s = stmt(cat, ST_LAYERS_GET, err);
    lsc_status st = LSC_OK;
    int rc, oom = 0;
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        size_t li;
        const char *name = (const char *)sqlite3_column_text(s, 1);
        if (sqlite3_column_int64(s, 0) != (int64_t)ad->n_layers || !name) {
            st = corrupt(cat, "layer order", err);
            goto out;
        }
        if ((st = lsc_adapter_add_layer(ad, name, &li, err)))
            goto out;
        lsc_layer *l = &ad->layers[li];
        free(l->module_type);
        l->module_type = col_dup_nn(s, 2, &oom);
        l->layer_index = sqlite3_column_int(s, 3);
        l->rows = sqlite3_column_int64(s, 4);
        l->cols = sqlite3_column_int64(s, 5);
        l->rank = sqlite3_column_int(s, 6);
        l->init_r = sqlite3_column_int(s, 7);
        l->alpha = col_real(s, 8);
        int rule = lsc_scale_rule_parse(sqlite3_column_text(s, 9) ? (const char *)sqlite3_column_text(s, 9) : "");
        l->scale = col_real(s, 10);
        l->flags = (unsigned)sqlite3_column_int64(s, 11);
        int *ix[4] = {&l->ta, &l->tb, &l->te, &l->tm};
        for (int k = 0; k < 4; k++)
            *ix[k] = sqlite3_column_type(s, 12 + k) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 12 + k);
        if (oom) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (rule < 0) {
            st = corrupt(cat, "unknown scale rule", err);
            goto out;
        }
        l->rule = (lsc_scale_rule)rule;
    }
    if (rc != SQLITE_DONE)
        st = db_err(cat, err);
out:
    done(s);
    return st;
}

static lsc_status get_tensors(lsc_catalog *cat, int64_t id, lsc_adapter *ad, lsc_error *err)
{
    sqlite3_stmt *s = stmt(cat, ST_TENSORS_GET, err);
    lsc_status st = LSC_OK;
    int rc;
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t shape[LSC_MAX_NDIM];
        const char *key = (const char *)sqlite3_column_text(s, 1);
        const char *hash = (const char *)sqlite3_column_text(s, 7);
        int role = lsc_role_parse(sqlite3_column_text(s, 2) ? (const char *)sqlite3_column_text(s, 2) : "");
        int layer = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3);
        int dt = dt_parse((const char *)sqlite3_column_text(s, 4));
        int nd = shape_parse((const char *)sqlite3_column_text(s, 5), shape);
        if (sqlite3_column_int64(s, 0) != (int64_t)ad->n_tensors || !key || !hash || strlen(hash) != 32 ||
            role < 0 || dt < 0 || nd < 0 || layer < -1 || layer >= (int64_t)ad->n_layers) {
            st = corrupt(cat, key ? key : "tensor without a key", err);
            goto out;
        }
        size_t ti;
        if ((st = lsc_adapter_add_tensor(ad, key, (lsc_role)role, layer, (lsc_dtype)dt, nd, shape, NULL, &ti, err)))
            goto out;
        lsc_tensor *t = &ad->tensors[ti];
        if ((int64_t)t->nbytes != sqlite3_column_int64(s, 6)) {
            st = corrupt(cat, key, err);
            goto out;
        }
        memcpy(t->hash, hash, LSC_HASH_HEX);
        t->src = (int64_t)ti;
    }
    if (rc != SQLITE_DONE)
        st = db_err(cat, err);
out:
    done(s);
    return st;
}

static lsc_status get_adapter_id(lsc_catalog *cat, int64_t id, lsc_adapter **out, lsc_error *err)
{
    lsc_status st = LSC_OK;
    int oom = 0;
    *out = NULL;
    lsc_adapter *ad = lsc_adapter_new();
    blob_loader *b = calloc(1, sizeof *b);
    if (!ad || !b) {
        free(b);
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(b->qpath, cat->qpath, sizeof b->qpath);
    ad->load = blob_load;
    ad->load_ctx = b;
    ad->load_ctx_free = blob_loader_free;
    const char *file = sqlite3_db_filename(cat->db, "main");
    if (!(b->pack = lsc_pack_new(file && *file ? file : cat->path, cat->qpath))) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (sqlite3_prepare_v3(cat->db, blob_get_sql, -1, SQLITE_PREPARE_PERSISTENT, &b->sel, NULL) != SQLITE_OK) {
        st = db_err(cat, err);
        goto fail;
    }
    sqlite3_stmt *s = stmt(cat, ST_ADAPTER_GET, err);
    if (!s) {
        st = LSC_ERR_DB;
        goto fail;
    }
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        char **f[9] = {&ad->name,          &ad->format,        &ad->kind,   &ad->base_model, &ad->config_json,
                       &ad->header_json,   &ad->metadata_json, &ad->source, &ad->warnings};
        for (int k = 0; k < 9; k++)
            *f[k] = col_dup(s, k, &oom);
    } else if (rc == SQLITE_DONE) {
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "no adapter with id %lld in the catalog", (long long)id);
    } else {
        st = db_err(cat, err);
    }
    done(s);
    if (!st && oom)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (st || (st = get_layers(cat, id, ad, err)) || (st = get_tensors(cat, id, ad, err)))
        goto fail;
    for (size_t i = 0; i < ad->n_layers; i++) {
        const lsc_layer *l = &ad->layers[i];
        if (l->ta >= (int)ad->n_tensors || l->tb >= (int)ad->n_tensors || l->te >= (int)ad->n_tensors ||
            l->tm >= (int)ad->n_tensors) {
            st = corrupt(cat, l->name, err);
            goto fail;
        }
    }
    *out = ad;
    return LSC_OK;
fail:
    lsc_adapter_free(ad);
    return st;
}

lsc_status lsc_catalog_get_adapter(lsc_catalog *cat, const char *name, lsc_adapter **out, lsc_error *err)
{
    int64_t id;
    lsc_status st;
    *out = NULL;
    if ((st = lsc_catalog_find(cat, name, &id, err)))
        return st;
    return get_adapter_id(cat, id, out, err);
}

lsc_status lsc_catalog_get_adapter_by_id(lsc_catalog *cat, int64_t id, lsc_adapter **out, lsc_error *err)
{
    return get_adapter_id(cat, id, out, err);
}

/* ---- listing, finding, editing --------------------------------------------------------------------- */

static void info_release(lsc_adapter_info *a)
{
    free(a->name);
    free(a->format);
    free(a->kind);
    free(a->base_model);
    free(a->source);
    free(a->parents);
    free(a->dtypes);
}

void lsc_adapter_info_free_array(lsc_adapter_info *a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        info_release(&a[i]);
    free(a);
}

/* An adapter's id and its place in the listing, for finding it by id. */
typedef struct {
    int64_t id;
    size_t at;
} id_at;

static int cmp_id_at(const void *x, const void *y)
{
    int64_t a = ((const id_at *)x)->id, b = ((const id_at *)y)->id;
    return (a > b) - (a < b);
}

static int cmp_cstr(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The distinct factor dtypes of one adapter, gathered while its tensor rows stream by. */
typedef struct {
    char **d;
    size_t n, cap;
} dtype_set;

static int dtype_set_add(dtype_set *ds, const char *dt)
{
    for (size_t i = 0; i < ds->n; i++)
        if (!strcmp(ds->d[i], dt))
            return 0;
    if (ds->n == ds->cap) {
        size_t nc = ds->cap ? ds->cap * 2 : 4;
        char **p = realloc(ds->d, nc * sizeof *p);
        if (!p)
            return -1;
        ds->d = p;
        ds->cap = nc;
    }
    return (ds->d[ds->n] = strdup(dt)) ? (int)(ds->n++, 0) : -1;
}

/* The set in name order (bytewise, as SQLite's BINARY collation), comma-separated, into *dst (replacing
 * it); the set is emptied. -1 on out of memory. */
static int dtype_set_flush(dtype_set *ds, char **dst)
{
    strbuf b = {0};
    int rc = 0;
    qsort(ds->d, ds->n, sizeof *ds->d, cmp_cstr);
    for (size_t i = 0; i < ds->n; i++) {
        rc |= sb_add(&b, ",", ds->d[i]);
        free(ds->d[i]);
    }
    ds->n = 0;
    char *s = sb_take(&b);
    if (rc || !s) {
        free(s);
        return -1;
    }
    free(*dst);
    *dst = s;
    return 0;
}

/* Whether a stored role names a LoRA factor (counted in an adapter's params and dtypes). Tested in C: a
 * SQL `role IN (...)` list costs an ephemeral-index probe per row. */
static int is_factor_role(const char *role)
{
    static const char *const factor[] = {"A", "B", "E", "magnitude", "factor"};
    for (size_t i = 0; role && i < sizeof factor / sizeof factor[0]; i++)
        if (!strcmp(role, factor[i]))
            return 1;
    return 0;
}

/* Fill the layer counts and tensor totals of the listed adapters (arr[0..cnt)) from one scan of each
 * table in adapter order, instead of correlated subqueries per adapter. Rows of hidden adapters are
 * skipped. */
static lsc_status list_tensor_totals(lsc_catalog *cat, lsc_adapter_info *arr, size_t cnt, lsc_error *err)
{
    id_at *by_id = malloc((cnt ? cnt : 1) * sizeof *by_id);
    dtype_set ds = {0};
    if (!by_id)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        by_id[i] = (id_at){arr[i].id, i};
        arr[i].n_layers = arr[i].params = arr[i].bytes = 0;
    }
    qsort(by_id, cnt, sizeof *by_id, cmp_id_at);
    lsc_status st = LSC_OK;
    sqlite3_stmt *s = stmt(cat, ST_LIST_LAYERS, err);
    int rc;
    if (!s) {
        free(by_id);
        return LSC_ERR_DB;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        id_at key = {sqlite3_column_int64(s, 0), 0}, *hit = bsearch(&key, by_id, cnt, sizeof *by_id, cmp_id_at);
        if (hit)
            arr[hit->at].n_layers = sqlite3_column_int64(s, 1);
    }
    if (rc != SQLITE_DONE)
        st = db_err(cat, err);
    done(s);
    if (st || !(s = stmt(cat, ST_LIST_TENSORS, err))) {
        free(by_id);
        return st ? st : LSC_ERR_DB;
    }
    lsc_adapter_info *cur = NULL; /* the adapter whose rows stream by, NULL for a hidden one */
    int64_t cur_id = 0;
    int started = 0, oom = 0;
    while (!oom && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (!started || id != cur_id) {
            if (cur)
                oom |= dtype_set_flush(&ds, &cur->dtypes);
            id_at key = {id, 0}, *hit = bsearch(&key, by_id, cnt, sizeof *by_id, cmp_id_at);
            cur = hit ? &arr[hit->at] : NULL;
            cur_id = id;
            started = 1;
        }
        if (!cur)
            continue;
        cur->bytes += sqlite3_column_int64(s, 4);
        if (is_factor_role((const char *)sqlite3_column_text(s, 1))) {
            const unsigned char *dt = sqlite3_column_text(s, 2);
            cur->params += sqlite3_column_int64(s, 3);
            oom |= dtype_set_add(&ds, dt ? (const char *)dt : "");
        }
    }
    if (!oom && cur)
        oom |= dtype_set_flush(&ds, &cur->dtypes);
    if (oom)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    else if (rc != SQLITE_DONE)
        st = db_err(cat, err);
    done(s);
    for (size_t i = 0; i < ds.n; i++)
        free(ds.d[i]);
    free(ds.d);
    free(by_id);
    return st;
}

lsc_status lsc_catalog_list(lsc_catalog *cat, lsc_adapter_info **out, size_t *n, lsc_error *err)
{
    lsc_adapter_info *arr = NULL;
    size_t cnt = 0, cap = 0;
    lsc_status st = LSC_OK;
    int rc, oom = 0;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(cat, ST_LIST, err);
    if (!s)
        return LSC_ERR_DB;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            lsc_adapter_info *p = realloc(arr, nc * sizeof *p);
            if (!p) {
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                goto out;
            }
            arr = p;
            cap = nc;
        }
        lsc_adapter_info *a = &arr[cnt++];
        memset(a, 0, sizeof *a);
        a->id = sqlite3_column_int64(s, 0);
        a->name = col_dup_nn(s, 1, &oom);
        a->format = col_dup_nn(s, 2, &oom);
        a->kind = col_dup_nn(s, 3, &oom);
        a->base_model = col_dup_nn(s, 4, &oom);
        a->source = col_dup_nn(s, 5, &oom);
        snprintf(a->content_hash, sizeof a->content_hash, "%s",
                 sqlite3_column_text(s, 6) ? (const char *)sqlite3_column_text(s, 6) : "");
        a->created = sqlite3_column_int64(s, 7);
        a->parents = col_dup_nn(s, 8, &oom);
        a->dtypes = strdup("");
        oom |= !a->dtypes;
        if (oom) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        st = db_err(cat, err);
out:
    done(s);
    if (!st)
        st = list_tensor_totals(cat, arr, cnt, err);
    if (st) {
        lsc_adapter_info_free_array(arr, cnt);
        return st;
    }
    *out = arr;
    *n = cnt;
    return LSC_OK;
}

lsc_status lsc_catalog_find(lsc_catalog *cat, const char *name, int64_t *id, lsc_error *err)
{
    sqlite3_stmt *s = stmt(cat, ST_FIND, err);
    if (!s)
        return LSC_ERR_DB;
    bind_str(s, 1, name);
    int rc = sqlite3_step(s);
    lsc_status st = LSC_OK;
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
    } else if (rc == SQLITE_DONE) {
        char q[256];
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "no adapter '%s' in the catalog", lsc_escape_name(q, sizeof q, name));
    } else {
        st = db_err(cat, err);
    }
    done(s);
    return st;
}

lsc_status lsc_catalog_find_content(lsc_catalog *cat, const char *content_hash, char **name, lsc_error *err)
{
    *name = NULL;
    sqlite3_stmt *s = stmt(cat, ST_FIND_CONTENT, err);
    if (!s)
        return LSC_ERR_DB;
    bind_str(s, 1, content_hash);
    int rc = sqlite3_step(s), oom = 0;
    lsc_status st = LSC_OK;
    if (rc == SQLITE_ROW) {
        *name = col_dup(s, 0, &oom);
        if (oom)
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    } else if (rc != SQLITE_DONE) {
        st = db_err(cat, err);
    }
    done(s);
    return st;
}

/* Run an UPDATE of the form (?1 = id, ?2 = value); *changed gets the number of rows changed. */
static lsc_status update_by_id(lsc_catalog *cat, int which, int64_t id, int64_t ival, const char *sval, int *changed,
                               lsc_error *err)
{
    sqlite3_stmt *s = stmt(cat, which, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, id);
    if (sval)
        bind_str(s, 2, sval);
    else
        sqlite3_bind_int64(s, 2, ival);
    lsc_status st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    *changed = sqlite3_changes(cat->db);
    done(s);
    return st;
}

lsc_status lsc_catalog_set_hidden(lsc_catalog *cat, int64_t id, int hidden, lsc_error *err)
{
    char *name = NULL;
    int was_hidden = 0, taken = 0, changed = 0;
    lsc_status st = adapter_name(cat, id, &name, &was_hidden, err);
    if (st)
        return st;
    if (!hidden && was_hidden) {
        if ((st = name_taken(cat, name, id, &taken, err)))
            goto out;
        if (taken) {
            char q[256];
            st = lsc_error_set(err, LSC_ERR_EXISTS, "adapter '%s' already exists", lsc_escape_name(q, sizeof q, name));
            goto out;
        }
    }
    st = update_by_id(cat, ST_HIDDEN_SET, id, hidden ? 1 : 0, NULL, &changed, err);
out:
    free(name);
    return st;
}

lsc_status lsc_catalog_children(lsc_catalog *cat, int64_t id, char ***names, size_t *n, lsc_error *err)
{
    char **arr = NULL;
    size_t cnt = 0, cap = 0;
    lsc_status st = LSC_OK;
    int rc, oom = 0;
    *names = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(cat, ST_CHILDREN, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **p = realloc(arr, nc * sizeof *p);
            if (!p) {
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                goto out;
            }
            arr = p;
            cap = nc;
        }
        arr[cnt] = col_dup_nn(s, 0, &oom);
        if (oom) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto out;
        }
        cnt++;
    }
    if (rc != SQLITE_DONE)
        st = db_err(cat, err);
out:
    done(s);
    if (st) {
        for (size_t i = 0; i < cnt; i++)
            free(arr[i]);
        free(arr);
        return st;
    }
    *names = arr;
    *n = cnt;
    return LSC_OK;
}

lsc_status lsc_catalog_rename(lsc_catalog *cat, const char *old_name, const char *new_name, lsc_error *err)
{
    int64_t id;
    int taken = 0, changed = 0;
    lsc_status st;
    char q[256];
    if (!new_name || !new_name[0])
        return lsc_error_set(err, LSC_ERR_INVALID, "an adapter needs a name");
    if ((st = lsc_catalog_find(cat, old_name, &id, err)) || (st = name_taken(cat, new_name, id, &taken, err)))
        return st;
    if (taken)
        return lsc_error_set(err, LSC_ERR_EXISTS, "adapter '%s' already exists",
                             lsc_escape_name(q, sizeof q, new_name));
    return update_by_id(cat, ST_RENAME, id, 0, new_name, &changed, err);
}

/* ---- statistics cache ------------------------------------------------------------------------------ */

/* Append one tensor's dtype, byte hash and shape to a stats key record at offset o; the new offset. */
static size_t stats_key_tensor(char *rec, size_t cap, size_t o, const lsc_tensor *t)
{
    const char *dn = dt_name(t->dtype);
    if (o < cap)
        o += (size_t)snprintf(rec + o, cap - o, ";%s;%s;", dn ? dn : "?", t->hash);
    for (int d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(rec + o, cap - o, "%lld,", (long long)t->shape[d]);
    return o < cap ? o : cap - 1;
}

void lsc_catalog_stats_key(const lsc_adapter *ad, size_t layer, char out[LSC_HASH_HEX])
{
    /* A text record: which tensors (dtype, shape, byte hash) make the factors, and the scale and shape of
     * the product. The dtype matters: equal bytes read as F16 and BF16 are different numbers. */
    char rec[1024];
    size_t o = 0;
    const lsc_layer *l = &ad->layers[layer];
    const int ix[3] = {l->ta, l->tb, l->te};
    o += (size_t)snprintf(rec + o, sizeof rec - o, "lorascope stats v1;%lld;%lld;%016llx", (long long)l->rows,
                          (long long)l->cols, (unsigned long long)dbits(l->scale));
    for (int k = 0; k < 3; k++) {
        if (ix[k] < 0 || ix[k] >= (int)ad->n_tensors) {
            o += (size_t)snprintf(rec + o, sizeof rec - o, ";-");
            continue;
        }
        o = stats_key_tensor(rec, sizeof rec, o, &ad->tensors[ix[k]]);
    }
    /* Every other tensor the layer's view reads (lsc_adapter_layer_inputs): SoRA's gate scales A's rows,
     * DoRA's magnitude is part of the layer. Named only when present, so the keys of plain layers (and the
     * figures cached under them) stay as they were. */
    const int extra[2] = {l->tm, lsc_adapter_layer_tensor(ad, layer, LSC_ROLE_GATE)};
    const char *const tag[2] = {";m", ";g"};
    for (int k = 0; k < 2; k++) {
        if (extra[k] < 0 || extra[k] >= (int)ad->n_tensors || o >= sizeof rec - 160)
            continue;
        o += (size_t)snprintf(rec + o, sizeof rec - o, "%s", tag[k]);
        o = stats_key_tensor(rec, sizeof rec, o, &ad->tensors[extra[k]]);
    }
    /* LyCORIS layers (no A/B): every stored factor, with its key (which says its part) */
    for (size_t i = 0; (l->flags & LSC_LAYER_LYCORIS) && i < ad->n_tensors && o < sizeof rec - 160; i++)
        if (ad->tensors[i].layer == (int)layer && ad->tensors[i].role == LSC_ROLE_FACTOR) {
            const char *dot = strrchr(ad->tensors[i].key, '.');
            o += (size_t)snprintf(rec + o, sizeof rec - o, ";%.40s", dot ? dot : "");
            o = stats_key_tensor(rec, sizeof rec, o, &ad->tensors[i]);
        }
    lsc_hash_bytes(rec, strlen(rec), out);
}

lsc_status lsc_catalog_get_stats(lsc_catalog *cat, const char key[LSC_HASH_HEX], lsc_layer_stats *out, int *found,
                                 lsc_error *err)
{
    lsc_status st = LSC_OK;
    *found = 0;
    sqlite3_stmt *s = stmt(cat, ST_STATS_GET, err);
    if (!s)
        return LSC_ERR_DB;
    bind_str(s, 1, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        goto out;
    if (rc != SQLITE_ROW) {
        st = db_err(cat, err);
        goto out;
    }
    int64_t n_sv = sqlite3_column_int64(s, 0);
    const unsigned char *sv = sqlite3_column_blob(s, 1);
    int64_t sv_bytes = sqlite3_column_bytes(s, 1);
    if (n_sv < 0 || n_sv > INT32_MAX || sv_bytes != n_sv * 8) {
        st = lsc_error_set(err, LSC_ERR_FORMAT, "catalog '%s': corrupt statistics (%.32s)", cat->qpath, key);
        goto out;
    }
    lsc_layer_stats r;
    memset(&r, 0, sizeof r);
    r.n_sv = (int)n_sv;
    if (n_sv > 0) {
        r.sv = malloc((size_t)n_sv * sizeof(double));
        if (!r.sv) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < n_sv; i++) {
            uint64_t b = 0;
            for (int k = 0; k < 8; k++)
                b |= (uint64_t)sv[8 * i + k] << (8 * k);
            r.sv[i] = bitsd((int64_t)b);
        }
    }
    r.fro = bitsd(sqlite3_column_int64(s, 2));
    r.spectral = bitsd(sqlite3_column_int64(s, 3));
    r.nuclear = bitsd(sqlite3_column_int64(s, 4));
    r.stable_rank = bitsd(sqlite3_column_int64(s, 5));
    r.effective_rank = bitsd(sqlite3_column_int64(s, 6));
    r.energy_rank_90 = sqlite3_column_int(s, 7);
    r.energy_rank_99 = sqlite3_column_int(s, 8);
    r.numerical_rank = sqlite3_column_int(s, 9);
    r.norm_a = bitsd(sqlite3_column_int64(s, 10));
    r.norm_b = bitsd(sqlite3_column_int64(s, 11));
    r.balance = bitsd(sqlite3_column_int64(s, 12));
    r.zeros_a = bitsd(sqlite3_column_int64(s, 13));
    r.zeros_b = bitsd(sqlite3_column_int64(s, 14));
    r.near_zeros_a = bitsd(sqlite3_column_int64(s, 15));
    r.near_zeros_b = bitsd(sqlite3_column_int64(s, 16));
    r.nonfinite_a = sqlite3_column_int64(s, 17);
    r.nonfinite_b = sqlite3_column_int64(s, 18);
    r.flags = (unsigned)sqlite3_column_int64(s, 19);
    *out = r;
    *found = 1;
out:
    done(s);
    return st;
}

lsc_status lsc_catalog_put_stats(lsc_catalog *cat, const char key[LSC_HASH_HEX], const lsc_layer_stats *st_in,
                                 lsc_error *err)
{
    lsc_status st = LSC_OK;
    if (st_in->n_sv < 0 || (st_in->n_sv > 0 && !st_in->sv))
        return lsc_error_set(err, LSC_ERR_INVALID, "statistics without their singular values");
    size_t nb = (size_t)st_in->n_sv * 8;
    unsigned char *sv = malloc(nb ? nb : 1);
    if (!sv)
        return lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < st_in->n_sv; i++) {
        uint64_t b = (uint64_t)dbits(st_in->sv[i]);
        for (int k = 0; k < 8; k++)
            sv[8 * (size_t)i + (size_t)k] = (unsigned char)(b >> (8 * k));
    }
    sqlite3_stmt *s = stmt(cat, ST_STATS_PUT, err);
    if (!s) {
        st = LSC_ERR_DB;
        goto out;
    }
    bind_str(s, 1, key);
    sqlite3_bind_int(s, 2, st_in->n_sv);
    sqlite3_bind_blob64(s, 3, sv, nb, SQLITE_STATIC);
    const double d1[5] = {st_in->fro, st_in->spectral, st_in->nuclear, st_in->stable_rank, st_in->effective_rank};
    for (int k = 0; k < 5; k++)
        sqlite3_bind_int64(s, 4 + k, dbits(d1[k]));
    sqlite3_bind_int(s, 9, st_in->energy_rank_90);
    sqlite3_bind_int(s, 10, st_in->energy_rank_99);
    sqlite3_bind_int(s, 11, st_in->numerical_rank);
    const double d2[7] = {st_in->norm_a,  st_in->norm_b,       st_in->balance,     st_in->zeros_a,
                          st_in->zeros_b, st_in->near_zeros_a, st_in->near_zeros_b};
    for (int k = 0; k < 7; k++)
        sqlite3_bind_int64(s, 12 + k, dbits(d2[k]));
    sqlite3_bind_int64(s, 19, st_in->nonfinite_a);
    sqlite3_bind_int64(s, 20, st_in->nonfinite_b);
    sqlite3_bind_int64(s, 21, st_in->flags);
    if (sqlite3_step(s) != SQLITE_DONE)
        st = db_err(cat, err);
    done(s);
out:
    free(sv);
    return st;
}

/* ---- base sketch cache ----------------------------------------------------------------------------- */

static int little_endian(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

static void put_le_doubles(const double *x, size_t n, unsigned char *out)
{
    if (little_endian()) {
        memcpy(out, x, n * 8);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t b = (uint64_t)dbits(x[i]);
        for (int k = 0; k < 8; k++)
            out[8 * i + (size_t)k] = (unsigned char)(b >> (8 * k));
    }
}

static void get_le_doubles(const unsigned char *in, size_t n, double *x)
{
    if (little_endian()) {
        memcpy(x, in, n * 8);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t b = 0;
        for (int k = 0; k < 8; k++)
            b |= (uint64_t)in[8 * i + (size_t)k] << (8 * k);
        x[i] = bitsd((int64_t)b);
    }
}

lsc_status lsc_catalog_get_sketch(lsc_catalog *cat, const char *key, int64_t rows, int64_t cols, int l, double *norm,
                                  double **Q, double **WtQ, int *found, lsc_error *err)
{
    *found = 0;
    *Q = *WtQ = NULL;
    sqlite3_stmt *s = stmt(cat, ST_SKETCH_GET, err);
    if (!s)
        return LSC_ERR_DB;
    lsc_status st = LSC_OK;
    bind_str(s, 1, key);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        st = rc == SQLITE_DONE ? LSC_OK : db_err(cat, err);
        goto out;
    }
    size_t nq = (size_t)(rows * l), nz = (size_t)(cols * l);
    if (sqlite3_column_int64(s, 0) != rows || sqlite3_column_int64(s, 1) != cols || sqlite3_column_int64(s, 2) != l ||
        (size_t)sqlite3_column_bytes(s, 4) != nq * 8 || (size_t)sqlite3_column_bytes(s, 5) != nz * 8)
        goto out; /* not this sketch: a miss */
    *Q = malloc(nq * sizeof(double) + 1);
    *WtQ = malloc(nz * sizeof(double) + 1);
    if (!*Q || !*WtQ) {
        free(*Q), free(*WtQ);
        *Q = *WtQ = NULL;
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto out;
    }
    *norm = bitsd(sqlite3_column_int64(s, 3));
    get_le_doubles(sqlite3_column_blob(s, 4), nq, *Q);
    get_le_doubles(sqlite3_column_blob(s, 5), nz, *WtQ);
    *found = 1;
out:
    done(s);
    return st;
}

lsc_status lsc_catalog_put_sketch(lsc_catalog *cat, const char *key, int64_t rows, int64_t cols, int l, double norm,
                                  const double *Q, const double *WtQ, const char *base_hash, lsc_error *err)
{
    if (cat->readonly)
        return lsc_error_set(err, LSC_ERR_INVALID, "catalog '%s' is open read-only", cat->qpath);
    size_t nq = (size_t)(rows * l), nz = (size_t)(cols * l);
    unsigned char *bq = malloc(nq * 8 + 1), *bz = malloc(nz * 8 + 1);
    lsc_status st = LSC_OK;
    sqlite3_stmt *s = NULL;
    if (!bq || !bz) {
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
        goto out;
    }
    put_le_doubles(Q, nq, bq);
    put_le_doubles(WtQ, nz, bz);
    if (base_hash) { /* the same tensor's sketch of the same width under another key: superseded */
        if (!(s = stmt(cat, ST_SKETCH_SUPERSEDE, err))) {
            st = LSC_ERR_DB;
            goto out;
        }
        bind_str(s, 1, base_hash);
        sqlite3_bind_int64(s, 2, rows);
        sqlite3_bind_int64(s, 3, cols);
        sqlite3_bind_int(s, 4, l);
        bind_str(s, 5, key);
        if (sqlite3_step(s) != SQLITE_DONE)
            st = db_err(cat, err);
        done(s);
        if (st)
            goto out;
    }
    if (!(s = stmt(cat, ST_SKETCH_PUT, err))) {
        st = LSC_ERR_DB;
        goto out;
    }
    bind_str(s, 1, key);
    sqlite3_bind_int64(s, 2, rows);
    sqlite3_bind_int64(s, 3, cols);
    sqlite3_bind_int(s, 4, l);
    sqlite3_bind_int64(s, 5, dbits(norm));
    sqlite3_bind_blob64(s, 6, bq, nq * 8, SQLITE_STATIC);
    sqlite3_bind_blob64(s, 7, bz, nz * 8, SQLITE_STATIC);
    bind_str(s, 8, base_hash);
    if (sqlite3_step(s) != SQLITE_DONE)
        st = db_err(cat, err);
    done(s);
out:
    free(bq);
    free(bz);
    return st;
}

lsc_status lsc_catalog_prune_sketches(lsc_catalog *cat, lsc_error *err)
{
    if (cat->readonly)
        return LSC_OK;
    sqlite3_stmt *s = stmt(cat, ST_SKETCH_PRUNE, err);
    if (!s)
        return LSC_ERR_DB;
    lsc_status st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(s);
    return st;
}

/* ---- history --------------------------------------------------------------------------------------- */

/* Insert one history row (run: the group's head id, 0 for none) after discarding the redo stack; its id
 * in *hid. */
static lsc_status history_put(lsc_catalog *cat, const char *command, const char *args_json, int64_t run,
                              int64_t *hid, lsc_error *err)
{
    /* the linear undo model: a new change discards the redo stack (every undone entry), for good; the
     * adapters those entries made stay as hidden rows, which no history entry reaches any more. Once per
     * transaction (redo_clear): a run of a thousand edits otherwise scans the growing history per edit. */
    sqlite3_stmt *s;
    lsc_status st;
    if (!cat->redo_clear) {
        if (!(s = stmt(cat, ST_HISTORY_DISCARD, err)))
            return LSC_ERR_DB;
        st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
        done(s);
        if (st)
            return st;
        cat->redo_clear = 1;
    }
    if (!(s = stmt(cat, ST_HISTORY_PUT, err)))
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
    bind_str(s, 2, command);
    bind_str(s, 3, args_json ? args_json : "[]");
    if (run)
        sqlite3_bind_int64(s, 4, run);
    else
        sqlite3_bind_null(s, 4);
    st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(s);
    *hid = sqlite3_last_insert_rowid(cat->db);
    return st;
}

/* Mark the entry just written as the first of the run in progress: its `run` is its own id, and the run's
 * later entries take it. */
static lsc_status run_first(lsc_catalog *cat, int64_t hid, lsc_error *err)
{
    sqlite3_stmt *s = stmt(cat, ST_HISTORY_RUN_HEAD, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, hid);
    lsc_status st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(s);
    if (!st) {
        cat->run_head = hid;
        cat->run_head_txn = 1;
    }
    return st;
}

void lsc_catalog_run_begin(lsc_catalog *cat)
{
    cat->run_active = 1;
    cat->run_head = 0;
    cat->run_head_txn = 0;
}

void lsc_catalog_run_end(lsc_catalog *cat)
{
    if (!cat)
        return;
    cat->run_active = cat->run_head_txn = 0;
    cat->run_head = 0;
}

int lsc_catalog_run_active(const lsc_catalog *cat)
{
    return cat && cat->run_active;
}

static lsc_status run_by_id(lsc_catalog *cat, int id_stmt, int64_t id, lsc_error *err);

lsc_status lsc_catalog_log(lsc_catalog *cat, const char *command, const char *args_json, const int64_t *inputs,
                           size_t n_in, const int64_t *outputs, size_t n_out, int64_t *id, lsc_error *err)
{
    lsc_status st;
    if ((st = need_transaction(cat, "recording history", err)))
        return st;
    int64_t hid = 0;
    if ((st = history_put(cat, command, args_json, cat->run_head, &hid, err)))
        return st;
    if (cat->run_active && !cat->run_head && (st = run_first(cat, hid, err)))
        return st;
    if ((st = run_by_id(cat, ST_BASE_NOTE_LOG, hid, err)) || (st = run_by_id(cat, ST_BASE_NOTE_LOG_T, hid, err)))
        return st; /* what `base` noted of the change belongs to this entry */
    sqlite3_stmt *s;
    int rc;
    if (!(s = stmt(cat, ST_HISTORY_IO_PUT, err)))
        return LSC_ERR_DB;
    for (int dir = 0; dir < 2; dir++) {
        const int64_t *ids = dir ? outputs : inputs;
        size_t n = dir ? n_out : n_in;
        for (size_t i = 0; i < n; i++) {
            sqlite3_bind_int64(s, 1, hid);
            sqlite3_bind_text(s, 2, dir ? "out" : "in", -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, (int64_t)i);
            sqlite3_bind_int64(s, 4, ids[i]);
            rc = sqlite3_step(s);
            if (rc != SQLITE_DONE) {
                st = db_err(cat, err);
                done(s);
                return st;
            }
            done(s);
        }
    }
    if (id)
        *id = hid;
    return LSC_OK;
}

static void history_release(lsc_history_entry *h)
{
    free(h->command);
    free(h->args_json);
    free(h->inputs);
    free(h->outputs);
    free(h->input_ids);
    free(h->output_ids);
}

void lsc_history_free_array(lsc_history_entry *h, size_t n)
{
    if (!h)
        return;
    for (size_t i = 0; i < n; i++)
        history_release(&h[i]);
    free(h);
}

/* Fill the names and ids an entry read and wrote, in the order they were logged. */
static lsc_status history_io(lsc_catalog *cat, lsc_history_entry *h, lsc_error *err)
{
    strbuf names[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
    size_t cap[2] = {0, 0};
    int64_t **ids[2] = {&h->input_ids, &h->output_ids};
    size_t *counts[2] = {&h->n_inputs, &h->n_outputs};
    lsc_status st = LSC_OK;
    int rc;
    sqlite3_stmt *s = stmt(cat, ST_HISTORY_IO_GET, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, h->id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *dir = (const char *)sqlite3_column_text(s, 0);
        const char *name = (const char *)sqlite3_column_text(s, 2);
        int d = dir && strcmp(dir, "out") == 0;
        if (*counts[d] == cap[d]) {
            size_t nc = cap[d] ? cap[d] * 2 : 4;
            int64_t *p = realloc(*ids[d], nc * sizeof *p);
            if (!p)
                goto oom;
            *ids[d] = p;
            cap[d] = nc;
        }
        (*ids[d])[(*counts[d])++] = sqlite3_column_int64(s, 1);
        if (sb_add(&names[d], ",", name ? name : ""))
            goto oom;
    }
    if (rc != SQLITE_DONE)
        st = db_err(cat, err);
    goto out;
oom:
    st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
out:
    done(s);
    h->inputs = sb_take(&names[0]);
    h->outputs = sb_take(&names[1]);
    if (!st && (!h->inputs || !h->outputs))
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    return st;
}

lsc_status lsc_catalog_history(lsc_catalog *cat, const char *name, lsc_history_entry **out, size_t *n,
                               lsc_error *err)
{
    lsc_history_entry *arr = NULL;
    size_t cnt = 0, cap = 0;
    lsc_status st = LSC_OK;
    int rc, oom = 0;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(cat, name ? ST_HISTORY_BY_NAME : ST_HISTORY_ALL, err);
    if (!s)
        return LSC_ERR_DB;
    if (name)
        bind_str(s, 1, name);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            lsc_history_entry *p = realloc(arr, nc * sizeof *p);
            if (!p) {
                st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
                goto out;
            }
            arr = p;
            cap = nc;
        }
        lsc_history_entry *h = &arr[cnt++];
        memset(h, 0, sizeof *h);
        h->id = sqlite3_column_int64(s, 0);
        h->time = sqlite3_column_int64(s, 1);
        h->command = col_dup_nn(s, 2, &oom);
        h->args_json = col_dup_nn(s, 3, &oom);
        h->undone = sqlite3_column_int(s, 4);
        h->run = sqlite3_column_int64(s, 5); /* NULL reads as 0: not in a run */
        if (oom) {
            st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
            goto out;
        }
        if ((st = history_io(cat, h, err)))
            goto out;
    }
    if (rc != SQLITE_DONE)
        st = db_err(cat, err);
out:
    done(s);
    if (st) {
        lsc_history_free_array(arr, cnt);
        return st;
    }
    *out = arr;
    *n = cnt;
    return LSC_OK;
}

lsc_status lsc_catalog_set_undone(lsc_catalog *cat, int64_t history_id, int undone, lsc_error *err)
{
    int changed = 0;
    cat->redo_clear = 0;
    lsc_status st = update_by_id(cat, ST_UNDONE_SET, history_id, undone ? 1 : 0, NULL, &changed, err);
    if (!st && changed == 0)
        st = lsc_error_set(err, LSC_ERR_NOTFOUND, "no history entry %lld", (long long)history_id);
    return st;
}

lsc_status lsc_catalog_history_drop(lsc_catalog *cat, int64_t history_id, lsc_error *err)
{
    lsc_status st;
    if ((st = need_transaction(cat, "dropping a history entry", err)))
        return st;
    sqlite3_stmt *s = stmt(cat, ST_HISTORY_DROP, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, history_id);
    st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(s);
    return st;
}

/* ---- multi-task groups -------------------------------------------------------------------------------- */

lsc_status lsc_catalog_set_tasks(lsc_catalog *cat, int64_t group_id, const char *const *tasks, const int64_t *members,
                                 size_t n, lsc_error *err)
{
    if (!lsc_catalog_in_transaction(cat))
        return lsc_error_set(err, LSC_ERR_INVALID, "catalog '%s': set_tasks needs a transaction", cat->qpath);
    sqlite3_stmt *s = stmt(cat, ST_TASK_PUT, err);
    if (!s)
        return LSC_ERR_DB;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(s, 1, group_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        bind_str(s, 3, tasks[i]);
        sqlite3_bind_int64(s, 4, members[i]);
        int rc = sqlite3_step(s);
        done(s);
        if (rc != SQLITE_DONE)
            return db_err(cat, err);
    }
    return LSC_OK;
}

lsc_status lsc_catalog_get_tasks(lsc_catalog *cat, int64_t group_id, lsc_task_entry **out, size_t *n, lsc_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(cat, ST_TASK_GET, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, group_id);
    size_t cnt = 0, cap = 0;
    lsc_task_entry *arr = NULL;
    int rc, oom = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        void *grown = grow_rows(arr, &cap, cnt, sizeof *arr);
        if (!grown) {
            oom = 1;
            break;
        }
        arr = grown;
        arr[cnt].task = col_dup_nn(s, 0, &oom);
        arr[cnt].member_id = sqlite3_column_int64(s, 1);
        arr[cnt].member = col_dup_nn(s, 2, &oom);
        cnt++;
    }
    done(s);
    if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
        lsc_task_entries_free(arr, cnt);
        return oom ? lsc_error_set(err, LSC_ERR_NOMEM, "out of memory") : db_err(cat, err);
    }
    *out = arr;
    *n = cnt;
    return LSC_OK;
}

void lsc_task_entries_free(lsc_task_entry *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].task);
        free(t[i].member);
    }
    free(t);
}

lsc_status lsc_catalog_set_series(lsc_catalog *cat, int64_t series_id, const lsc_series_entry *members, size_t n,
                                  lsc_error *err)
{
    if (!lsc_catalog_in_transaction(cat))
        return lsc_error_set(err, LSC_ERR_INVALID, "catalog '%s': set_series needs a transaction", cat->qpath);
    sqlite3_stmt *s = stmt(cat, ST_SERIES_PUT, err);
    if (!s)
        return LSC_ERR_DB;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(s, 1, series_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        sqlite3_bind_int64(s, 3, members[i].step);
        bind_str(s, 4, members[i].label);
        sqlite3_bind_int64(s, 5, members[i].member_id);
        int rc = sqlite3_step(s);
        done(s);
        if (rc != SQLITE_DONE)
            return db_err(cat, err);
    }
    return LSC_OK;
}

lsc_status lsc_catalog_get_series(lsc_catalog *cat, int64_t series_id, lsc_series_entry **out, size_t *n,
                                  lsc_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(cat, ST_SERIES_GET, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, series_id);
    size_t cnt = 0, cap = 0;
    lsc_series_entry *arr = NULL;
    int rc, oom = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        void *grown = grow_rows(arr, &cap, cnt, sizeof *arr);
        if (!grown) {
            oom = 1;
            break;
        }
        arr = grown;
        arr[cnt].step = sqlite3_column_int64(s, 0);
        arr[cnt].label = col_dup_nn(s, 1, &oom);
        arr[cnt].member_id = sqlite3_column_int64(s, 2);
        arr[cnt].member = col_dup_nn(s, 3, &oom);
        cnt++;
    }
    done(s);
    if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
        lsc_series_entries_free(arr, cnt);
        return oom ? lsc_error_set(err, LSC_ERR_NOMEM, "out of memory") : db_err(cat, err);
    }
    *out = arr;
    *n = cnt;
    return LSC_OK;
}

void lsc_series_entries_free(lsc_series_entry *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].label);
        free(t[i].member);
    }
    free(t);
}

/* ---- lineage checks (audit) --------------------------------------------------------------------------- */

lsc_status lsc_catalog_gone_parents(lsc_catalog *cat, lsc_gone_parent **out, size_t *n, lsc_error *err)
{
    /* prepared here, not in the statement table: one call per audit */
    static const char sql[] = "SELECT c.name, p.name FROM adapter_parents ap JOIN adapters c ON c.id = ap.child_id "
                              "JOIN adapters p ON p.id = ap.parent_id WHERE c.hidden = 0 AND p.hidden = 1 "
                              "ORDER BY c.name, ap.ord";
    sqlite3_stmt *s = NULL;
    lsc_gone_parent *arr = NULL;
    size_t cnt = 0, cap = 0;
    int oom = 0, rc;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(cat->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_err(cat, err);
    while (!oom && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        void *grown = grow_rows(arr, &cap, cnt, sizeof *arr);
        if (!grown) {
            oom = 1;
            break;
        }
        arr = grown;
        arr[cnt].child = col_dup_nn(s, 0, &oom);
        arr[cnt].parent = col_dup_nn(s, 1, &oom);
        cnt++;
    }
    lsc_status st = oom ? lsc_error_set(err, LSC_ERR_NOMEM, "out of memory")
                  : rc != SQLITE_DONE ? db_err(cat, err) : LSC_OK;
    sqlite3_finalize(s);
    if (st) {
        lsc_gone_parents_free(arr, cnt);
        return st;
    }
    *out = arr;
    *n = cnt;
    return LSC_OK;
}

void lsc_gone_parents_free(lsc_gone_parent *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++) {
        free(g[i].child);
        free(g[i].parent);
    }
    free(g);
}

/* ---- base weights (issue #19) ---------------------------------------------------------------------- */

void lsc_base_rec_free_array(lsc_base_rec *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        free(r[i].layer);
        free(r[i].tensor);
        free(r[i].dtype);
        free(r[i].shape);
        free(r[i].hash);
    }
    free(r);
}

/* Run a statement bound to one adapter id to completion (deletes). */
static lsc_status run_by_id(lsc_catalog *cat, int id_stmt, int64_t id, lsc_error *err)
{
    sqlite3_stmt *s = stmt(cat, id_stmt, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    lsc_status st = rc == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(s);
    return st;
}

lsc_status lsc_catalog_set_base(lsc_catalog *cat, int64_t adapter_id, const char *path, const lsc_base_rec *recs,
                                size_t n, lsc_error *err)
{
    lsc_status st;
    if ((st = run_by_id(cat, ST_BASE_DEL_T, adapter_id, err)) || (st = run_by_id(cat, ST_BASE_DEL, adapter_id, err)) ||
        !path)
        return st;
    sqlite3_stmt *s = stmt(cat, ST_BASE_PUT, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, adapter_id);
    bind_str(s, 2, path);
    st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(s);
    for (size_t i = 0; i < n && !st; i++) {
        if (!(s = stmt(cat, ST_BASE_T_PUT, err)))
            return LSC_ERR_DB;
        sqlite3_bind_int64(s, 1, adapter_id);
        bind_str(s, 2, recs[i].layer);
        bind_str(s, 3, recs[i].tensor);
        bind_str(s, 4, recs[i].dtype);
        bind_str(s, 5, recs[i].shape);
        bind_str(s, 6, recs[i].hash);
        st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
        done(s);
    }
    return st;
}

lsc_status lsc_catalog_get_base(lsc_catalog *cat, int64_t adapter_id, char **path, lsc_base_rec **recs, size_t *n,
                                lsc_error *err)
{
    *path = NULL;
    *recs = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(cat, ST_BASE_GET, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, adapter_id);
    int rc = sqlite3_step(s), oom = 0;
    if (rc == SQLITE_ROW)
        *path = col_dup(s, 0, &oom);
    lsc_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? LSC_OK : db_err(cat, err);
    done(s);
    if (st || !*path)
        return st ? st : oom ? lsc_error_set(err, LSC_ERR_NOMEM, "out of memory") : LSC_OK;
    if (!(s = stmt(cat, ST_BASE_T_GET, err)))
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, adapter_id);
    size_t cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && !oom) {
        if (*n == cap) {
            lsc_base_rec *nr = realloc(*recs, sizeof *nr * (cap = cap ? 2 * cap : 16));
            if (!nr) {
                oom = 1;
                break;
            }
            *recs = nr;
        }
        lsc_base_rec *r = &(*recs)[(*n)++];
        r->layer = col_dup_nn(s, 0, &oom);
        r->tensor = col_dup_nn(s, 1, &oom);
        r->dtype = col_dup_nn(s, 2, &oom);
        r->shape = col_dup_nn(s, 3, &oom);
        r->hash = col_dup_nn(s, 4, &oom);
    }
    st = oom ? lsc_error_set(err, LSC_ERR_NOMEM, "out of memory")
         : rc == SQLITE_DONE || rc == SQLITE_ROW ? LSC_OK : db_err(cat, err);
    done(s);
    if (st) {
        free(*path);
        *path = NULL;
        lsc_base_rec_free_array(*recs, *n);
        *recs = NULL;
        *n = 0;
    }
    return st;
}

lsc_status lsc_catalog_base_note(lsc_catalog *cat, int64_t adapter_id, int side, lsc_error *err)
{
    lsc_status st = need_transaction(cat, "noting a base change", err);
    for (int k = 0; k < 2 && !st; k++) {
        sqlite3_stmt *s = stmt(cat, k ? ST_BASE_NOTE_T : ST_BASE_NOTE, err);
        if (!s)
            return LSC_ERR_DB;
        sqlite3_bind_int64(s, 1, adapter_id);
        sqlite3_bind_int(s, 2, side ? 1 : 0);
        st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
        done(s);
    }
    return st;
}

lsc_status lsc_catalog_base_restore(lsc_catalog *cat, int64_t history_id, int64_t adapter_id, int side,
                                    lsc_error *err)
{
    lsc_status st = need_transaction(cat, "restoring a base", err);
    if (st)
        return st;
    sqlite3_stmt *s = stmt(cat, ST_BASE_CHANGE_GET, err);
    if (!s)
        return LSC_ERR_DB;
    sqlite3_bind_int64(s, 1, history_id);
    sqlite3_bind_int64(s, 2, adapter_id);
    sqlite3_bind_int(s, 3, side ? 1 : 0);
    int rc = sqlite3_step(s), oom = 0;
    char *path = rc == SQLITE_ROW ? col_dup(s, 0, &oom) : NULL;
    st = rc == SQLITE_ROW ? LSC_OK
         : rc == SQLITE_DONE ? lsc_error_set(err, LSC_ERR_NOTFOUND, "the entry kept no base to restore (recorded "
                                             "by an older lorascope)")
                             : db_err(cat, err);
    done(s);
    if (!st && oom)
        st = lsc_error_set(err, LSC_ERR_NOMEM, "out of memory");
    if (!st)
        st = lsc_catalog_set_base(cat, adapter_id, NULL, NULL, 0, err);
    if (!st && path) {
        if (!(s = stmt(cat, ST_BASE_PUT, err))) {
            free(path);
            return LSC_ERR_DB;
        }
        sqlite3_bind_int64(s, 1, adapter_id);
        bind_str(s, 2, path);
        st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
        done(s);
        if (!st && (s = stmt(cat, ST_BASE_CHANGE_PUT_T, err))) {
            sqlite3_bind_int64(s, 1, history_id);
            sqlite3_bind_int64(s, 2, adapter_id);
            sqlite3_bind_int(s, 3, side ? 1 : 0);
            st = sqlite3_step(s) == SQLITE_DONE ? LSC_OK : db_err(cat, err);
            done(s);
        } else if (!st) {
            st = LSC_ERR_DB;
        }
    }
    free(path);
    return st;
}
