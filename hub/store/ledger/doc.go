// Package ledger is write-back's ledger in the SQL store's database:
// per target record, the hash of the fields crmhub last wrote or found
// there and the echo of the write (writeback_ledger), the conflicts
// waiting for a retry or a steward (writeback_conflicts) and the running
// totals (writeback_totals). Every hub instance on one database reads what
// the others wrote, so none writes a value back because it did not know
// another had (hub/writeback.Ledger and its companion interfaces).
//
// Like hub/store/deadletters it sits below hub/store because it shares the
// store's database: the tables come from the store's migrations and it
// runs over the pools the store opened (Store.DB, hub/store/sqldb).
//
// One read of writeback_ledger stays in the store: Apply asks, inside its
// own transaction and before it writes a batch, which customer records are
// crmhub's write coming back at the version it wrote (hub/store/echoes.go),
// so that an echo does not become the newest source of a golden customer.
// That read must see the batch's transaction and change the items before
// they are written; the ledger package writes the rows it reads, and the
// format of their echo_data is EchoData's.
package ledger
