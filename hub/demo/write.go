package demo

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/charmap"
	_ "modernc.org/sqlite" // driver "sqlite" for the ERP database
)

const erpSchema = `
CREATE TABLE customers (
	custno       TEXT PRIMARY KEY,
	kind         TEXT NOT NULL,        -- 'P' person, 'F' firm
	name1        TEXT,
	name2        TEXT,
	vat_id       TEXT,
	street       TEXT,
	zip          TEXT,
	city         TEXT,
	country      TEXT,                 -- free text: 'DE', 'Deutschland', 'Germany', 'AT', ...
	phone        TEXT,
	email        TEXT,
	credit_limit TEXT,                 -- decimal as text, '5000.00'
	currency     TEXT,
	deleted      INTEGER NOT NULL DEFAULT 0,
	updated_at   TEXT NOT NULL         -- 'YYYY-MM-DD HH:MM:SS', Europe/Berlin local time
);
CREATE INDEX customers_updated_at ON customers (updated_at, custno);
CREATE TABLE orders (
	order_no   TEXT PRIMARY KEY,
	custno     TEXT NOT NULL,
	order_date TEXT NOT NULL,          -- 'YYYY-MM-DD'
	status     TEXT NOT NULL,          -- 'O' open, 'C' confirmed, 'S' shipped, 'X' cancelled
	currency   TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	channel    TEXT NOT NULL DEFAULT ''  -- web, store, phone, field_sales
);
CREATE INDEX orders_updated_at ON orders (updated_at, order_no);
CREATE TABLE order_lines (
	order_no    TEXT NOT NULL,
	line_no     INTEGER NOT NULL,
	sku         TEXT NOT NULL,
	description TEXT NOT NULL,
	qty         TEXT NOT NULL,
	unit_price  TEXT NOT NULL,
	category    TEXT NOT NULL DEFAULT '',
	cost        TEXT NOT NULL DEFAULT '',  -- the line's total cost
	PRIMARY KEY (order_no, line_no)
);
`

const erpTime = "2006-01-02 15:04:05"

func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (w *world) writeERP(ctx context.Context, dir string) ([]string, error) {
	path := filepath.Join(dir, "erp.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA journal_mode=MEMORY", "PRAGMA synchronous=OFF", erpSchema} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("schema of %s: %w", path, err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO customers (custno, kind, name1, name2, vat_id, street, zip, city, country, phone, email, credit_limit, currency, deleted, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	for _, r := range w.erp { // numbered in slice order
		f := r.f
		del := 0
		if r.deleted {
			del = 1
		}
		if _, err := ins.ExecContext(ctx, r.id, f["kind"], null(f["name1"]), null(f["name2"]), null(f["vat_id"]), null(f["street"]),
			null(f["zip"]), null(f["city"]), null(f["country"]), null(f["phone"]), null(f["email"]), null(f["credit_limit"]),
			null(f["currency"]), del, r.updated.In(berlin).Format(erpTime)); err != nil {
			return nil, fmt.Errorf("insert customer %s: %w", r.id, err)
		}
	}
	insO, err := tx.PrepareContext(ctx, `INSERT INTO orders (order_no, custno, order_date, status, currency, updated_at, channel) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	insL, err := tx.PrepareContext(ctx, `INSERT INTO order_lines (order_no, line_no, sku, description, qty, unit_price, category, cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	for i, o := range w.orders {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if _, err := insO.ExecContext(ctx, o.no, o.custno, o.date, o.status, o.currency, o.updated.In(berlin).Format(erpTime), o.channel); err != nil {
			return nil, fmt.Errorf("insert order %s: %w", o.no, err)
		}
		for _, l := range o.lines {
			if _, err := insL.ExecContext(ctx, o.no, l.no, l.sku, l.desc, l.qty, l.priceS, l.category, l.costS); err != nil {
				return nil, fmt.Errorf("insert order line %s/%d: %w", o.no, l.no, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit %s: %w", path, err)
	}
	return []string{"erp.db"}, db.Close()
}

const financeTime = "02.01.2006 15:04:05"

// writeCSV writes a Latin-1, ';'-separated file with CRLF line ends, as the
// finance system's Windows export does.
func writeCSV(path string, header []string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	cw := csv.NewWriter(charmap.ISO8859_1.NewEncoder().Writer(bw))
	cw.Comma = ';'
	cw.UseCRLF = true
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("%s: header: %w", path, err)
	}
	for i, r := range rows {
		if err := cw.Write(r); err != nil {
			return fmt.Errorf("%s: line %d: %w", path, i+2, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func deDecimal(s string) string {
	if s == "" {
		return ""
	}
	whole, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.Atoi(whole)
	c, _ := strconv.Atoi((frac + "00")[:2])
	return deAmount(n*100 + c)
}

func (w *world) writeFinance(ctx context.Context, dir string) ([]string, error) {
	fdir := filepath.Join(dir, "finance")
	if err := os.MkdirAll(fdir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	debtors := w.debtors // numbered in slice order
	for day, t := range financeDays {
		stamp := t.Format("20060102")
		var drows, irows, prows [][]string
		for _, r := range debtors {
			if r.day != day {
				continue
			}
			f := r.f
			drows = append(drows, []string{r.id, f["erp_custno"], f["name"], f["vat_id"], f["street"], f["zip"], f["city"],
				f["country"], f["email"], f["phone"], deDecimal(f["credit_limit"]), r.updated.In(berlin).Format(financeTime)})
		}
		for _, inv := range w.invoices {
			if inv.day == day {
				irows = append(irows, []string{inv.no, inv.debtor, inv.date, inv.due, inv.amount, inv.currency, inv.status, inv.changed.In(berlin).Format(financeTime)})
			}
		}
		for _, p := range w.payments {
			if p.day != day {
				continue
			}
			row := []string{p.no, p.debtor, p.date, p.amount, p.currency, p.invoice, p.changed.In(berlin).Format(financeTime)}
			if p.badColumns { // the amount's decimal comma became a separator
				whole, frac, _ := strings.Cut(p.amount, ",")
				row = []string{p.no, p.debtor, p.date, whole, frac, p.currency, p.invoice, p.changed.In(berlin).Format(financeTime)}
			}
			prows = append(prows, row)
		}
		for _, out := range []struct {
			name   string
			header []string
			rows   [][]string
		}{
			{"debtors", []string{"debtor_no", "erp_custno", "name", "vat_id", "street", "zip", "city", "country", "email", "phone", "credit_limit", "changed_at"}, drows},
			{"invoices", []string{"invoice_no", "debtor_no", "invoice_date", "due_date", "amount", "currency", "status", "changed_at"}, irows},
			{"payments", []string{"payment_no", "debtor_no", "payment_date", "amount", "currency", "invoice_no", "changed_at"}, prows},
		} {
			name := out.name + "_" + stamp + ".csv"
			if err := writeCSV(filepath.Join(fdir, name), out.header, out.rows); err != nil {
				return nil, err
			}
			files = append(files, "finance/"+name)
		}
	}
	return files, ctx.Err()
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeJSONLines writes a JSON array with one element per line: valid JSON
// that still diffs well.
func writeJSONLines[T any](path string, items []T) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	bw.WriteString("[\n")
	for i, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return fmt.Errorf("%s: item %d: %w", path, i, err)
		}
		bw.Write(b)
		if i < len(items)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("]\n")
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func (w *world) contactList() []Contact {
	rs := w.contacts // numbered in slice order
	out := make([]Contact, 0, len(rs))
	for _, r := range rs {
		f := r.f
		out = append(out, Contact{
			ID: r.id, FirstName: ptr(f["first_name"]), LastName: ptr(f["last_name"]), Company: ptr(f["company"]),
			Email: ptr(f["email"]), Phone: ptr(f["phone"]), Mobile: ptr(f["mobile"]), ERPCustomerNo: ptr(f["erp_customer_no"]),
			Language: f["language"], OptInEmail: f["opt_in_email"] == "true", UpdatedAt: r.updated.UTC(),
		})
	}
	return out
}

func (w *world) writeCRM(_ context.Context, dir string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "crm"), 0o755); err != nil {
		return nil, err
	}
	return []string{"crm/contacts.json"}, writeJSONLines(filepath.Join(dir, "crm", "contacts.json"), w.contactList())
}

func (w *world) writeTickets(_ context.Context, dir string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "servicedesk"), 0o755); err != nil {
		return nil, err
	}
	return []string{"servicedesk/tickets.json"}, writeJSONLines(filepath.Join(dir, "servicedesk", "tickets.json"), w.tickets)
}

func normTax(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

func (w *world) writeTruth(_ context.Context, dir string) ([]string, error) {
	var rows [][]string
	for _, e := range w.entities {
		for _, r := range e.recs {
			if r.deleted {
				continue
			}
			det := "0"
			if r.det {
				det = "1"
			}
			rows = append(rows, []string{e.id, r.system, r.entity, r.id, det, normTax(r.f["vat_id"])})
		}
	}
	f, err := os.Create(filepath.Join(dir, "truth.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	cw := csv.NewWriter(bw)
	cw.Write(truthHeader)
	cw.WriteAll(rows)
	if err := cw.Error(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return []string{"truth.csv"}, f.Close()
}
