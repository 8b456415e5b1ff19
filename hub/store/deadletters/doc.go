// Package deadletters keeps the hub's dead letters in the SQL store's
// database (table dead_letters): the indexer stores every message of the
// dead-letter topic here, so operations can list them by reason and
// replay or resolve them (hub/pipeline.DeadLetterService), and
// reconciliation counts the open ones of a source entity.
//
// It lives below hub/store, not as hub/deadletters/sqlstore, because what
// it shares is the database, not the domain: the table is created by the
// store's migrations (hub/store/migrations, both dialects), the package
// runs over the pools the store opened (Store.DB, hub/store/sqldb) and
// nothing of the dead letters' domain is here beyond their rows (the
// replay and resolve rules are hub/pipeline's). Whoever looks for where a
// table of the store is read and written finds every one under hub/store.
// The store itself keeps no dead-letter method and never touches the
// table: no dead letter is written inside an Apply.
//
// Its methods keep the names callers' interfaces already had
// (pipeline.DeadLetterStore, pipeline.ReconcileDeadLetters), so a Store is
// passed where the *store.Store was.
package deadletters
