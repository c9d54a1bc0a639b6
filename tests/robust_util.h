/* robust_util.h: support for the robustness suites (check-crash, check-faults, check-concurrency):
 * seeded small PEFT adapters written by hand, a canonical dump of a catalog's content, and the
 * invariants every catalog must keep whatever happened to the process that wrote it.
 * Test support only: reads catalogs with SQLite directly (through the real "unix" VFS), never through
 * the code under test, so a bug there cannot hide itself. */
#ifndef LSC_ROBUST_UTIL_H
#define LSC_ROBUST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Write a PEFT folder `dir` (created) with `layers` q_proj layers of rank `rank` over a dim x dim weight,
 * F32 values from `seed` (distinct seeds give distinct content), and a config with r = rank, alpha = 2r.
 * Returns 0 on success. */
int ru_write_adapter(const char *dir, uint32_t seed, int layers, int rank, int dim);

/* Canonical text of the catalog's content: application_id, user_version, the schema and every row of
 * every table, rows sorted, blobs as their size and hash, timestamps (columns `time`, `created`) blanked
 * so two runs of the same edit compare equal. Equal dumps = same catalog content. malloc'ed; NULL (with
 * a message in why) if the file cannot be read. */
char *ru_dump(const char *db_path, char *why, size_t cap);

/* The invariants: PRAGMA integrity_check is "ok", no foreign key violation, every blob's bytes hash to
 * its key and have its size (packed ones read from DB-pack, inside its committed end, not overlapping),
 * every adapter has at least one layer and each layer its A and B tensors,
 * every adapter named as the output of a history entry exists, every visible adapter was written by a
 * history entry, and (layers_each > 0) every adapter has exactly that many layers. Returns 0 when all
 * hold (a blank SQLite file with no schema passes); otherwise 1 with the first broken one described in why. */
int ru_check_catalog(const char *db_path, int layers_each, char *why, size_t cap);

/* Visible adapter names, sorted, joined by '\n' (malloc'ed; "" for none); NULL on error. */
char *ru_visible_names(const char *db_path);

/* Number of history entries, -1 on error. */
long ru_history_count(const char *db_path);

#endif
