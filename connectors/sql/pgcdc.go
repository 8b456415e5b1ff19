package sqlconn

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// change_detection: logical (PostgreSQL). The slot is created with an
// exported snapshot, which the snapshot transaction imports: the snapshot
// holds exactly the transactions committed before the slot's consistent
// point and the stream starts after it, so nothing is lost or read twice
// at the handover. The stream is used to learn which keys changed; each
// batch of changed keys is read back from the table (with the children),
// so a streamed record looks exactly like a snapshot record, and a key no
// longer there is a delete. A child row's change names its parent through
// parent_key. The position is the end LSN of the last transaction whose
// changes were all handed out; the server is told it (and may recycle WAL
// up to it) only once the hub acknowledged it.

// ErrSlotGone is returned by Open when the position names a slot the
// server no longer has: changes since the position are lost, so only a
// resnapshot can bring the source back in step.
var ErrSlotGone = errors.New("replication slot is gone")

// statusEvery is how often the stream reports its acknowledged LSN; well
// within wal_sender_timeout (60 s by default).
const statusEvery = 10 * time.Second

// ackEvery bounds how long a new acknowledgement waits to be reported.
const ackEvery = time.Second

// cdcPos is the position of a logical-mode source.
type cdcPos struct {
	Slot string `json:"slot"`
	LSN  string `json:"lsn"`
	// Snapshot is true while the initial snapshot is read: a restart then
	// takes a new snapshot with a new slot (the exported snapshot does not
	// survive its connection).
	Snapshot bool `json:"snapshot,omitempty"`
}

func (p cdcPos) encode() sdk.Position {
	b, _ := json.Marshal(p)
	return b
}

// pgCDC is the state of a logical-mode source.
type pgCDC struct {
	slot, pub string
	repl      *pgconn.PgConn
	// The snapshot: tx holds the imported snapshot while entity snapEnt is
	// read in key order after snapAfter.
	tx        *sql.Tx
	snapEnt   int
	snapAfter any
	// lsn is the position of the last record handed out.
	lsn pglogrepl.LSN
	// roles maps a table's OID to what a change in it republishes.
	roles map[uint32][]tableRole
	fetch []string // per entity: read rows by an array of key texts
	// The stream: the receiver hands whole transactions over events; Read
	// queues their changed keys.
	events chan txEvent
	errc   chan error
	cancel context.CancelFunc
	done   chan struct{}
	acked  atomic.Uint64
	queue  []changedKey
	// broken is set when the snapshot or the stream failed: the next Read
	// recovers first.
	broken error
	// inflight counts the changed keys sent by the receiver and not yet
	// turned into records; handed is the LSN of the last record handed
	// out. With none in flight and handed acknowledged, the source is
	// idle, and the receiver may confirm WAL the stream skipped (other
	// tables' traffic), so the slot does not hold it back.
	inflight atomic.Int64
	handed   atomic.Uint64
}

// tableRole says which entity a table feeds and which of its columns
// holds the entity's key: the key itself, or a child's parent_key.
type tableRole struct {
	entity int
	column string
}

// changedKey is one key whose row must be read again; end is set on the
// last key of its transaction.
type changedKey struct {
	entity int
	id     string
	at     time.Time
	xid    uint32
	end    pglogrepl.LSN
}

type txEvent struct{ keys []changedKey }

// openLogical checks the database for what logical mode needs, then
// either takes a new snapshot (first run, or a restart mid-snapshot) or
// resumes the stream from the position.
func (s *Source) openLogical(ctx context.Context, pos sdk.Position) error {
	c := &pgCDC{slot: s.cfg.Slot, pub: s.cfg.Publication, roles: map[uint32][]tableRole{}}
	s.cdc = c
	var p cdcPos
	if len(pos) > 0 {
		if err := json.Unmarshal(pos, &p); err != nil || p.LSN == "" {
			return fmt.Errorf("sql: decode logical position %q: not a change_detection logical position (was the mode changed? run crmhub connectors resnapshot)", pos)
		}
		if p.Slot != c.slot {
			return fmt.Errorf("sql: position is of slot %q, config names slot %q; run crmhub connectors resnapshot to start over with the new slot", p.Slot, c.slot)
		}
	}
	if err := s.checkLogical(ctx); err != nil {
		return err
	}
	repl, err := pgconn.Connect(ctx, replicationDSN(s.cfg.DSN))
	if err != nil {
		return fmt.Errorf("sql: open replication connection: %w", err)
	}
	c.repl = repl
	var slotActive, slotExists bool
	// A restarted process may find its own old walsender still holding
	// the slot for a moment: wait for it a little.
	for wait := 0; ; wait++ {
		err = s.db.QueryRowContext(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()`, c.slot).Scan(&slotActive)
		switch {
		case err == nil:
			slotExists = true
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sql: look up replication slot %s: %w", c.slot, err)
		}
		if !slotActive {
			break
		}
		if wait == 50 {
			return fmt.Errorf("sql: replication slot %s is in use by another connection (a second crmhub source with the same slot?)", c.slot)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if len(pos) > 0 && !p.Snapshot {
		if !slotExists {
			return fmt.Errorf("sql: replication slot %s: %w (dropped, or removed by max_slot_wal_keep_size); changes since %s are lost: run crmhub connectors resnapshot", c.slot, ErrSlotGone, p.LSN)
		}
		lsn, err := pglogrepl.ParseLSN(p.LSN)
		if err != nil {
			return fmt.Errorf("sql: position lsn %q: %w", p.LSN, err)
		}
		c.lsn = lsn
		c.acked.Store(uint64(lsn))
		return s.startStream(ctx)
	}
	return s.beginSnapshot(ctx, slotExists)
}

// beginSnapshot (re)creates the slot with an exported snapshot and opens
// the snapshot transaction on it; the snapshot is then read from its
// first entity. An existing slot is dropped first: it is ours (the config
// names it), and its snapshot was never read to the end, so the stream it
// holds has nothing to start from.
func (s *Source) beginSnapshot(ctx context.Context, slotExists bool) error {
	c := s.cdc
	c.snapEnt, c.snapAfter = 0, nil
	if slotExists {
		s.log.Info("sql: dropping replication slot of an unfinished snapshot", "slot", c.slot)
		if err := pglogrepl.DropReplicationSlot(ctx, c.repl, c.slot, pglogrepl.DropReplicationSlotOptions{Wait: true}); err != nil {
			return fmt.Errorf("sql: drop replication slot %s of an unfinished snapshot: %w", c.slot, err)
		}
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, c.repl, c.slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
	if err != nil {
		return fmt.Errorf("sql: create replication slot %s: %w%s", c.slot, err, privilegeHint(err))
	}
	if c.lsn, err = pglogrepl.ParseLSN(res.ConsistentPoint); err != nil {
		return fmt.Errorf("sql: replication slot %s: consistent point %q: %w", c.slot, res.ConsistentPoint, err)
	}
	// The transaction outlives this call (the snapshot is read over many
	// Reads), and database/sql rolls it back when its context ends: the
	// context of Open does when Open returns.
	tx, err := s.db.BeginTx(context.WithoutCancel(ctx), &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sql: begin snapshot transaction: %w", err)
	}
	c.tx = tx
	if _, err := tx.ExecContext(ctx, "SET TRANSACTION SNAPSHOT '"+strings.ReplaceAll(res.SnapshotName, "'", "''")+"'"); err != nil {
		return fmt.Errorf("sql: import the slot's snapshot %s: %w", res.SnapshotName, err)
	}
	s.log.Info("sql: replication slot created, reading the snapshot", "slot", c.slot, "consistent_point", res.ConsistentPoint)
	return nil
}

// recover gets a source whose snapshot or stream broke (a dropped
// connection, a restarted server) going again within the same Open: a
// snapshot starts over with a new slot, a stream restarts from the LSN the
// hub acknowledged. Records handed out since come again; the hub applies
// them as no-ops.
func (s *Source) recover(ctx context.Context) error {
	c := s.cdc
	snapshot := c.broken == errSnapshotBroken
	if c.cancel != nil {
		c.cancel()
		<-c.done
		c.cancel = nil
	}
	if c.tx != nil {
		_ = c.tx.Rollback()
		c.tx = nil
	}
	if c.repl != nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = c.repl.Close(cctx)
		cancel()
		c.repl = nil
	}
	repl, err := pgconn.Connect(ctx, replicationDSN(s.cfg.DSN))
	if err != nil {
		return fmt.Errorf("sql: reopen replication connection: %w", err)
	}
	c.repl = repl
	var active bool
	err = s.db.QueryRowContext(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()`, c.slot).Scan(&active)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sql: look up replication slot %s: %w", c.slot, err)
	}
	if active {
		// The server has not noticed the old connection is gone yet.
		return fmt.Errorf("sql: replication slot %s is still active; retrying", c.slot)
	}
	if snapshot {
		if err := s.beginSnapshot(ctx, exists); err != nil {
			return err
		}
		c.broken = nil
		return nil
	}
	if !exists {
		return fmt.Errorf("sql: replication slot %s: %w; run crmhub connectors resnapshot", c.slot, ErrSlotGone)
	}
	c.queue = nil
	c.lsn = pglogrepl.LSN(c.acked.Load())
	c.inflight.Store(0)
	c.handed.Store(uint64(c.lsn))
	if err := s.startStream(ctx); err != nil {
		return err
	}
	s.log.Info("sql: replication stream restarted", "slot", c.slot, "from", c.lsn.String())
	c.broken = nil
	return nil
}

// errSnapshotBroken marks a snapshot that must start over.
var errSnapshotBroken = errors.New("snapshot broken")

// replicationDSN asks for a logical replication connection to the DSN's
// database.
func replicationDSN(dsn string) string {
	if strings.Contains(dsn, "://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "replication=database"
	}
	return dsn + " replication=database"
}

// privilegeHint names what a failed replication command most likely
// lacks.
func privilegeHint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
		return " (the role needs the REPLICATION attribute or superuser: ALTER ROLE ... REPLICATION)"
	}
	if errors.As(err, &pe) && pe.Code == "55000" {
		return " (the server needs wal_level = logical: ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)"
	}
	return ""
}

// checkLogical checks the server settings, the role, the tables' replica
// identities and the publication, creating the publication when missing.
func (s *Source) checkLogical(ctx context.Context) error {
	c := s.cdc
	var wal string
	var repl bool
	if err := s.db.QueryRowContext(ctx, `SELECT current_setting('wal_level'), rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&wal, &repl); err != nil {
		return fmt.Errorf("sql: check wal_level and role: %w", err)
	}
	var errs []error
	if wal != "logical" {
		errs = append(errs, fmt.Errorf("sql: change_detection logical: the server has wal_level = %s; it needs logical (ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)", wal))
	}
	if !repl {
		errs = append(errs, errors.New("sql: change_detection logical: the role of the dsn needs the REPLICATION attribute or superuser (ALTER ROLE ... REPLICATION); else use change_detection cursor or hash"))
	}
	type tbl struct {
		oid        uint32
		schema, nm string
	}
	var tables []tbl
	check := func(entity int, table, column, what string) {
		var t tbl
		var ident string
		err := s.db.QueryRowContext(ctx, `SELECT c.oid, n.nspname, c.relname, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass`,
			s.d.table(table)).Scan(&t.oid, &t.schema, &t.nm, &ident)
		if err != nil {
			errs = append(errs, fmt.Errorf("sql: entity %s: table %s: %w", s.cfg.Entities[entity].Name, table, err))
			return
		}
		tables = append(tables, t)
		c.roles[t.oid] = append(c.roles[t.oid], tableRole{entity: entity, column: column})
		var ok bool
		switch ident {
		case "f":
			ok = true
		case "d", "i":
			q := `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
				WHERE i.indrelid = $1 AND a.attname = $2 AND (($3 = 'd' AND i.indisprimary) OR ($3 = 'i' AND i.indisreplident)))`
			if err := s.db.QueryRowContext(ctx, q, t.oid, column, ident).Scan(&ok); err != nil {
				errs = append(errs, fmt.Errorf("sql: entity %s: table %s: replica identity: %w", s.cfg.Entities[entity].Name, table, err))
				return
			}
		}
		if !ok {
			errs = append(errs, fmt.Errorf("sql: entity %s: table %s: a deleted row must carry its %s column %q in the replication stream; make it part of the primary key or run ALTER TABLE %s REPLICA IDENTITY FULL",
				s.cfg.Entities[entity].Name, table, what, column, s.d.table(table)))
		}
	}
	c.fetch = make([]string, len(s.cfg.Entities))
	for i, e := range s.cfg.Entities {
		check(i, e.Table, e.Key, "key")
		for _, ch := range e.Children {
			check(i, ch.Table, ch.ParentKey, "parent_key")
		}
		var typ string
		if err := s.db.QueryRowContext(ctx, `SELECT format_type(a.atttypid, NULL) FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped`,
			s.d.table(e.Table), e.Key).Scan(&typ); err != nil {
			errs = append(errs, fmt.Errorf("sql: entity %s: key column %q of table %s: %w", e.Name, e.Key, e.Table, err))
			continue
		}
		k := "t." + s.d.ident(e.Key)
		c.fetch[i] = "SELECT t.*, " + k + " AS " + s.d.ident(keyAlias) + " FROM " + s.d.table(e.Table) + " t WHERE " + k +
			" = ANY($1::text[]::" + typ + "[]) ORDER BY " + k
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// The publication: created with the tables when missing, else it
	// must publish inserts, updates and deletes of every table.
	var ins, upd, del, all bool
	var owner string
	err := s.db.QueryRowContext(ctx, `SELECT pubowner::regrole::text, pubinsert, pubupdate, pubdelete, puballtables FROM pg_publication WHERE pubname = $1`, c.pub).
		Scan(&owner, &ins, &upd, &del, &all)
	if errors.Is(err, sql.ErrNoRows) {
		names := make([]string, len(tables))
		for i, t := range tables {
			names[i] = s.d.ident(t.schema) + "." + s.d.ident(t.nm)
		}
		stmt := "CREATE PUBLICATION " + s.d.ident(c.pub) + " FOR TABLE " + strings.Join(names, ", ")
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sql: create publication %s: %w (creating it needs CREATE on the database and ownership of the tables; or have their owner run: %s)", c.pub, err, stmt)
		}
		s.log.Info("sql: publication created", "publication", c.pub, "tables", len(tables))
		return nil
	}
	if err != nil {
		return fmt.Errorf("sql: look up publication %s: %w", c.pub, err)
	}
	if !ins || !upd || !del {
		return fmt.Errorf("sql: publication %s does not publish every insert, update and delete; its owner %s can run: ALTER PUBLICATION %s SET (publish = 'insert, update, delete')", c.pub, owner, s.d.ident(c.pub))
	}
	if all {
		return nil
	}
	var missing []string
	for _, t := range tables {
		var ok bool
		if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3)`, c.pub, t.schema, t.nm).Scan(&ok); err != nil {
			return fmt.Errorf("sql: publication %s: tables: %w", c.pub, err)
		}
		if !ok {
			missing = append(missing, s.d.ident(t.schema)+"."+s.d.ident(t.nm))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("sql: publication %s lacks %s; its owner %s can run: ALTER PUBLICATION %s ADD TABLE %s",
			c.pub, strings.Join(missing, ", "), owner, s.d.ident(c.pub), strings.Join(missing, ", "))
	}
	return nil
}

// readLogical reads the snapshot while it lasts, then the stream.
func (s *Source) readLogical(ctx context.Context, n int) ([]sdk.Record, error) {
	c := s.cdc
	if c.broken != nil {
		if err := s.recover(ctx); err != nil {
			return nil, err
		}
	}
	if c.tx != nil {
		recs, err := s.readSnapshot(ctx, n)
		if err != nil && ctx.Err() == nil {
			c.broken = errSnapshotBroken
		}
		return recs, err
	}
	recs, err := s.readStream(ctx, n)
	if err != nil && ctx.Err() == nil {
		c.broken = err
	}
	return recs, err
}

// readSnapshot reads the next page of the snapshot. The last record of the
// snapshot carries a position without the snapshot mark, so a restart
// after it streams on instead of starting over.
func (s *Source) readSnapshot(ctx context.Context, n int) ([]sdk.Record, error) {
	c := s.cdc
	pos := cdcPos{Slot: c.slot, LSN: c.lsn.String(), Snapshot: true}.encode()
	for c.snapEnt < len(s.entities) {
		e := s.entities[c.snapEnt]
		var (
			rows *sql.Rows
			err  error
		)
		// One row more than handed out tells whether this page is the
		// entity's last, so the snapshot's last record can say it is done.
		if c.snapAfter == nil {
			rows, err = c.tx.QueryContext(ctx, e.q.first, n+1)
		} else {
			rows, err = c.tx.QueryContext(ctx, e.q.next, c.snapAfter, n+1)
		}
		if err != nil {
			return nil, fmt.Errorf("sql: entity %s: snapshot query: %w", e.cfg.Name, err)
		}
		page, keys, err := s.scanPage(e, rows)
		rows.Close()
		if err != nil {
			return nil, err
		}
		last := len(page) <= n
		page, keys = page[:min(n, len(page))], keys[:min(n, len(keys))]
		if err := s.attachChildren(ctx, e, page, upsertKeys(page, keys)); err != nil {
			return nil, err
		}
		if len(keys) > 0 {
			c.snapAfter = keys[len(keys)-1]
		}
		if last {
			c.snapEnt++
			c.snapAfter = nil
		}
		for i := range page {
			page[i].Position = pos
		}
		if c.snapEnt == len(s.entities) {
			if err := s.endSnapshot(ctx); err != nil {
				return nil, err
			}
			if len(page) > 0 {
				page[len(page)-1].Position = cdcPos{Slot: c.slot, LSN: c.lsn.String()}.encode()
			}
		}
		if len(page) > 0 {
			return page, nil
		}
	}
	return nil, nil
}

// reader is what the queries of a read go through: the snapshot
// transaction while a logical-mode snapshot is read, else the pool.
func (s *Source) reader() interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
} {
	if s.cdc != nil && s.cdc.tx != nil {
		return s.cdc.tx
	}
	return s.db
}

// upsertKeys are the raw keys of the page's upserts: children are read
// for them only.
func upsertKeys(page []sdk.Record, keys []any) []any {
	out := keys[:0:0]
	for i, r := range page {
		if r.Op == sdk.OpUpsert {
			out = append(out, keys[i])
		}
	}
	return out
}

// endSnapshot ends the snapshot transaction and starts the stream at the
// slot's consistent point.
func (s *Source) endSnapshot(ctx context.Context) error {
	c := s.cdc
	err := c.tx.Commit()
	c.tx = nil
	if err != nil {
		return fmt.Errorf("sql: end snapshot transaction: %w", err)
	}
	s.log.Info("sql: snapshot read, streaming changes", "slot", c.slot, "from", c.lsn.String())
	return s.startStream(ctx)
}

// startStream starts replication after c.lsn and the goroutine that
// receives it.
func (s *Source) startStream(ctx context.Context) error {
	c := s.cdc
	args := []string{"proto_version '1'", "publication_names '" + strings.ReplaceAll(c.pub, "'", "''") + "'"}
	if err := pglogrepl.StartReplication(ctx, c.repl, c.slot, c.lsn, pglogrepl.StartReplicationOptions{PluginArgs: args}); err != nil {
		return fmt.Errorf("sql: start replication from slot %s at %s: %w%s", c.slot, c.lsn, err, privilegeHint(err))
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.events, c.errc, c.done, c.cancel = make(chan txEvent, 64), make(chan error, 1), make(chan struct{}), cancel
	go c.receive(rctx, s)
	return nil
}

// receive reads the replication stream until ctx ends, hands each
// transaction's changed keys to Read, and reports the acknowledged LSN.
func (c *pgCDC) receive(ctx context.Context, s *Source) {
	defer close(c.done)
	rels := map[uint32]map[string]int{} // relation → column index by name
	var cur []changedKey
	var seen map[changedKey]bool
	var at time.Time
	var xid uint32
	inTx := false
	next := time.Now().Add(statusEvery)
	var sent uint64 // the LSN last reported
	status := func() error {
		next = time.Now().Add(statusEvery)
		sent = c.acked.Load()
		return pglogrepl.SendStandbyStatusUpdate(ctx, c.repl, pglogrepl.StandbyStatusUpdate{WALWritePosition: pglogrepl.LSN(sent)})
	}
	fail := func(err error) {
		if ctx.Err() == nil {
			c.errc <- err
		}
	}
	note := func(rel uint32, tuple *pglogrepl.TupleData) {
		if tuple == nil {
			return
		}
		for _, role := range c.roles[rel] {
			i, ok := rels[rel][role.column]
			if !ok || i >= len(tuple.Columns) {
				continue
			}
			col := tuple.Columns[i]
			if col.DataType != pglogrepl.TupleDataTypeText {
				continue // NULL parent_key (an orphan child), or a key not in the old tuple
			}
			k := changedKey{entity: role.entity, id: string(col.Data)}
			if !seen[k] {
				seen[k] = true
				k.at, k.xid = at, xid
				cur = append(cur, k)
			}
		}
	}
	for {
		// A new acknowledgement is reported within ackEvery, so the
		// server can recycle WAL soon after the hub holds the changes.
		if !time.Now().Before(next) || c.acked.Load() != sent {
			if err := status(); err != nil {
				fail(fmt.Errorf("sql: replication slot %s: send status: %w", c.slot, err))
				return
			}
		}
		deadline := time.Now().Add(ackEvery)
		if next.Before(deadline) {
			deadline = next
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		raw, err := c.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if pgconn.Timeout(err) {
				continue
			}
			fail(fmt.Errorf("sql: replication slot %s: receive: %w", c.slot, err))
			return
		}
		switch m := raw.(type) {
		case *pgproto3.ErrorResponse:
			fail(fmt.Errorf("sql: replication slot %s: server error %s: %s", c.slot, m.Code, m.Message))
			return
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					continue
				}
				if ka.ReplyRequested {
					next = time.Time{}
				}
				// Between transactions, with every record handed out
				// acknowledged: everything the server sent before this
				// keepalive is in the hub, so its WAL end may be
				// confirmed (changes come in order on the connection).
				if !inTx && c.inflight.Load() == 0 && c.acked.Load() >= c.handed.Load() {
					for old := c.acked.Load(); uint64(ka.ServerWALEnd) > old && !c.acked.CompareAndSwap(old, uint64(ka.ServerWALEnd)); old = c.acked.Load() {
					}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					fail(fmt.Errorf("sql: replication slot %s: parse WAL data: %w", c.slot, err))
					return
				}
				msg, err := pglogrepl.Parse(xld.WALData)
				if err != nil {
					fail(fmt.Errorf("sql: replication slot %s: parse pgoutput message: %w", c.slot, err))
					return
				}
				switch msg := msg.(type) {
				case *pglogrepl.RelationMessage:
					idx := map[string]int{}
					for i, col := range msg.Columns {
						idx[col.Name] = i
					}
					rels[msg.RelationID] = idx
				case *pglogrepl.BeginMessage:
					cur, seen, at, xid, inTx = nil, map[changedKey]bool{}, msg.CommitTime, msg.Xid, true
				case *pglogrepl.InsertMessage:
					note(msg.RelationID, msg.Tuple)
				case *pglogrepl.UpdateMessage:
					note(msg.RelationID, msg.OldTuple) // a moved key or parent: the old one changed too
					note(msg.RelationID, msg.NewTuple)
				case *pglogrepl.DeleteMessage:
					note(msg.RelationID, msg.OldTuple)
				case *pglogrepl.TruncateMessage:
					s.log.Warn("sql: a published table was truncated; rows removed by TRUNCATE are not published as deletes (run crmhub connectors resnapshot)", "slot", c.slot)
				case *pglogrepl.CommitMessage:
					inTx = false
					if len(cur) == 0 {
						cur = nil
						continue
					}
					cur[len(cur)-1].end = msg.TransactionEndLSN
					c.inflight.Add(int64(len(cur)))
					// Keep reporting status while Read is busy elsewhere:
					// a silent walsender is dropped after wal_sender_timeout.
					for sent := false; !sent; {
						select {
						case c.events <- txEvent{keys: cur}:
							sent = true
						case <-ctx.Done():
							return
						case <-time.After(time.Until(next)):
							if err := status(); err != nil {
								fail(fmt.Errorf("sql: replication slot %s: send status: %w", c.slot, err))
								return
							}
						}
					}
					cur = nil
				}
			}
		}
	}
}

// streamWait is how long Read waits for a change before reporting that
// the source is caught up.
const streamWait = 500 * time.Millisecond

// readStream turns up to n changed keys into records, read again from
// their tables: upserts with their children, deletes for keys gone. Only
// the last record carries the LSN of the last whole transaction taken;
// the others carry the position before, so a restart from any of them
// replays (idempotently) what is not acknowledged.
func (s *Source) readStream(ctx context.Context, n int) ([]sdk.Record, error) {
	c := s.cdc
	take := func(ev txEvent) { c.queue = append(c.queue, ev.keys...) }
	if len(c.queue) == 0 {
		select {
		case ev := <-c.events:
			take(ev)
		case err := <-c.errc:
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(streamWait):
			return nil, nil
		}
	}
	for drained := false; !drained && len(c.queue) < n; {
		select {
		case ev := <-c.events:
			take(ev)
		default:
			drained = true
		}
	}
	batch := c.queue[:min(n, len(c.queue))]
	newLSN := c.lsn
	ids := make([][]string, len(s.entities))
	at := make([]map[string]time.Time, len(s.entities))
	var xids []int64
	for _, k := range batch {
		if k.end != 0 {
			newLSN = k.end
		}
		if len(xids) == 0 || xids[len(xids)-1] != int64(k.xid) {
			xids = append(xids, int64(k.xid))
		}
		if at[k.entity] == nil {
			at[k.entity] = map[string]time.Time{}
		}
		if _, dup := at[k.entity][k.id]; !dup {
			ids[k.entity] = append(ids[k.entity], k.id)
		}
		at[k.entity][k.id] = k.at
	}
	if err := s.waitVisible(ctx, xids); err != nil {
		return nil, err
	}
	var recs []sdk.Record
	for i, e := range s.entities {
		if len(ids[i]) == 0 {
			continue
		}
		page, err := s.fetchKeys(ctx, i, e, ids[i])
		if err != nil {
			return nil, err
		}
		for j := range page {
			page[j].UpdatedAt = at[i][page[j].ID]
		}
		recs = append(recs, page...)
	}
	c.queue = c.queue[len(batch):]
	prev := cdcPos{Slot: c.slot, LSN: c.lsn.String()}.encode()
	for i := range recs {
		recs[i].Position = prev
	}
	c.lsn = newLSN
	c.handed.Store(uint64(newLSN))
	c.inflight.Add(-int64(len(batch)))
	recs[len(recs)-1].Position = cdcPos{Slot: c.slot, LSN: newLSN.String()}.encode()
	return recs, nil
}

// visibleQuery tells whether every transaction of a list of 32-bit xids
// is visible to a new snapshot: each xid is widened to the xid8 of the
// current epoch (or the one before, for an xid beyond the snapshot's
// xmax). The snapshot includes the data of a transaction whose WAL has
// passed only once the transaction left the server's list of running
// ones, a moment after its commit record was written; a row read in that
// moment would look absent and be taken for a delete.
const visibleQuery = `WITH s AS (SELECT pg_current_snapshot() AS snap, pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax)
SELECT coalesce(bool_and(pg_visible_in_snapshot((CASE WHEN w > s.xmax THEN w - 4294967296 ELSE w END)::text::xid8, s.snap)), true)
FROM s, unnest($1::bigint[]) x, LATERAL (SELECT ((s.xmax >> 32) << 32) | x AS w) v`

// waitVisible waits until the transactions xids are visible to new
// snapshots; a matter of microseconds after their commit.
func (s *Source) waitVisible(ctx context.Context, xids []int64) error {
	deadline := time.Now().Add(30 * time.Second)
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var ok bool
		if err := s.db.QueryRowContext(ctx, visibleQuery, xids).Scan(&ok); err != nil {
			return fmt.Errorf("sql: replication slot %s: check the streamed transactions are visible: %w", s.cdc.slot, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sql: replication slot %s: streamed transactions %v still not visible after 30s", s.cdc.slot, xids)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// fetchKeys reads the rows of entity e with the given key texts: an
// upsert (with children) for each row found, a delete for each key gone.
func (s *Source) fetchKeys(ctx context.Context, i int, e *entity, ids []string) ([]sdk.Record, error) {
	rows, err := s.db.QueryContext(ctx, s.cdc.fetch[i], ids)
	if err != nil {
		return nil, fmt.Errorf("sql: entity %s: read changed rows: %w", e.cfg.Name, err)
	}
	page, keys, err := s.scanPage(e, rows)
	rows.Close()
	if err != nil {
		return nil, err
	}
	if err := s.attachChildren(ctx, e, page, upsertKeys(page, keys)); err != nil {
		return nil, err
	}
	found := make(map[string]bool, len(page))
	for _, r := range page {
		found[r.ID] = true
	}
	for _, id := range ids {
		if !found[id] {
			page = append(page, sdk.Record{Entity: e.cfg.Name, ID: id, Op: sdk.OpDelete, Payload: []byte("{}")})
		}
	}
	return page, nil
}

// ackLogical records the LSN the hub holds everything up to; the
// receiver reports it to the server with its next status.
func (s *Source) ackLogical(pos sdk.Position) error {
	var p cdcPos
	if err := json.Unmarshal(pos, &p); err != nil {
		return fmt.Errorf("sql: ack: decode position: %w", err)
	}
	if p.Snapshot {
		return nil
	}
	lsn, err := pglogrepl.ParseLSN(p.LSN)
	if err != nil {
		return fmt.Errorf("sql: ack: position lsn %q: %w", p.LSN, err)
	}
	for {
		old := s.cdc.acked.Load()
		if uint64(lsn) <= old || s.cdc.acked.CompareAndSwap(old, uint64(lsn)) {
			return nil
		}
	}
}

// closeLogical stops the receiver, reports the acknowledged LSN a last
// time and closes the replication connection.
func (s *Source) closeLogical(ctx context.Context) error {
	c := s.cdc
	if c == nil {
		return nil
	}
	var errs []error
	if c.tx != nil {
		_ = c.tx.Rollback()
		c.tx = nil
	}
	if c.cancel != nil {
		c.cancel()
		<-c.done
		c.cancel = nil
		if lsn := pglogrepl.LSN(c.acked.Load()); lsn != 0 && c.repl != nil {
			_ = pglogrepl.SendStandbyStatusUpdate(ctx, c.repl, pglogrepl.StandbyStatusUpdate{WALWritePosition: lsn})
		}
	}
	if c.repl != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		errs = append(errs, c.repl.Close(cctx))
		cancel()
		c.repl = nil
	}
	return errors.Join(errs...)
}
