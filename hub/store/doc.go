// Package store implements hub.Store on database/sql, for SQLite
// (modernc.org/sqlite, store driver "sqlite") and PostgreSQL (pgx stdlib, store
// driver "postgres", "pgx" accepted), with the same SQL wherever the two agree. Migrations are embedded
// and applied at Open.
//
// Apply runs a batch of canonical events in one transaction: duplicates (by
// event id) and older versions of a source record are skipped, so the final
// state does not depend on arrival order. Customer records go through
// hub/identity: their match keys are stored, the connected records are
// re-clustered and the golden customers of the affected clusters rewritten.
// Orders, payments and service cases are stored with their customer
// reference and attach to a golden customer at read time through the
// customer source record they name; until it arrives they are parked.
//
// With fuzzy matching on (Options.Identity.Fuzzy), each customer record is
// scored against the records sharing one of its blocking keys and the
// scored pairs are kept in fuzzy_links; re-clustering follows exact keys,
// auto-merge links and steward rules, never blocking keys, so the work per
// record stays bounded however large the store grows.
//
// A record keeps the list of its match keys (records.mkeys), a golden
// customer its search values (goldens.attrs): a new version deletes the
// rows it no longer has by primary key, without an index by owner.
//
// Every active golden customer also has a summary row (golden_summaries:
// kind, names, first e-mail, phone and address, times), written with the
// golden record in the same transaction and deleted when it is merged or
// retired. Search pages (FindCustomerSummaries) read only those small rows;
// a page of 50 by name no longer reads and decodes 50 golden records. The
// row also holds the credit limit (0028), the one field of the golden
// record the value recompute reads.
//
// The person model can change while the store runs (model.go): Reestimate
// estimates one from a key-hash sample of the store's own person records,
// keeps each version in identity_models, swaps the resolver under the
// applier's lock and rescores when the fingerprint changed, so at
// quiescence the golden customers are what the records and their own
// estimate give, whatever order the records came in
// (docs/identity-model.md).
//
// A data steward's decisions (ForceMerge, Unmerge, DecideReview) are rules
// on source records that every later resolution obeys, and are audited.
// Every golden change is appended to golden_changes in the same
// transaction: a durable, ordered feed (Changes) for pollers and for the
// publisher of the golden topic.
//
// Parsed customer records are kept in an LRU cache bounded by its
// estimated heap (Options.RecordCacheBytes, from memory_mb), each entry valid only for the event id it was
// parsed from, so relinking, re-clustering and GoldenStates (the golden
// stream's batch read) decode a record's JSON once, not once per batch.
// Every Apply increments a write epoch; while the epoch shows that no
// other writer (another instance, a commit that failed) came in between,
// relinking trusts the cache without reading the records' versions.
//
// The work of a batch does not grow with the store: a block's members are
// read only up to the block cap, a batch's customer records are written
// once, after resolution, with their golden id, and applied events are
// keyed by record so a batch's inserts share pages. On PostgreSQL every
// statement takes arrays (= ANY, unnest), one statement per batch.
// BenchmarkApplyScale measures it at a chosen store size.
//
// On SQLite the writer's statements are prepared once and reused
// (stmtCache): IN lists are padded and row lists cut to powers of two, so
// a batch's statements come in a few hundred shapes. BenchmarkApplyFloor
// measures the least this schema and these statements do per record
// (write it and its match keys, look up who holds them): the bound a
// throughput goal of this store is set against, not one for any store (a
// different schema or statement design has a floor of its own).
//
// SQLite plans from the statistics ANALYZE keeps (sqlite_stat1); a store
// grows from empty to millions of rows, so they are taken at Open and
// checked every 10,000 applied events (stats.go): PRAGMA optimize lists
// the tables without statistics or whose size moved about tenfold, the writer
// analyzes them within analysis_limit (milliseconds at any size) and a
// schema change makes the readers load them. The queries whose plan
// depended on them are asserted on a skewed store before and after
// (TestSQLiteStatsPlans); where the bounded estimates can still mislead
// (a chunk of 512 golden ids against entity = 'customer'), the query
// names its index (byGolden).
//
// SQLite needs a file (the writer and the readers use separate connection
// pools, which an in-memory database would not share).
//
// The store holds the records, the golden customers, what Apply writes
// with them in its transaction (match keys, links, steward rules, the
// change feed, value figures) and the reads over them. The tables Apply
// never writes have a package each below it, over the same pools and
// dialect (Store.DB, hub/store/sqldb): dead letters (hub/store/deadletters)
// and write-back's ledger, conflicts and totals (hub/store/ledger). Their
// tables still come from this package's migrations (one sequence for the
// database, both dialects), and they import neither the store nor each
// other. One read of writeback_ledger stays here (echoes.go): Apply
// decides inside its transaction, before it writes a batch, which records
// are crmhub's own write-back coming back.
//
// The golden change feed stays here too: every golden write appends to it
// in the same transaction (goldens.go, analytics.go, value.go), so the
// table's writers are the store's, and its reading side is one query
// (Changes); a package for that query alone would split one table's
// knowledge in two (writers here, reader there) for nothing: whoever reads
// the feed reads the golden customers it names from the store as well
// (the golden stream's GoldenStates, the API's /v1/changes then
// /v1/customers).
//
// A new table that no resolution touches goes in its own package below
// hub/store the same way: a New(sqldb.DB), its statements, its tests on
// both dialects, its migration in hub/store/migrations.
package store
