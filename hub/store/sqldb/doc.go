// Package sqldb is the SQL store's database as the packages that own one
// of its tables see it: the writer and reader pools hub/store opened, the
// dialect, and the few helpers every such package needs (placeholders,
// a transaction, times as integers).
//
// hub/store opens the database, applies the migrations (every table's,
// hub/store/migrations) and hands out a DB (Store.DB); the table packages
// below hub/store (deadletters, ledger, feed) take one instead of the
// store, so they import neither the store nor each other. A DB is valid
// while the store that made it is open: it owns the pools and closes them.
package sqldb
