package sqlconn

import (
	"database/sql"
	"testing"

	"bytes"
	"github.com/crmhub/crmhub/hub/testenv"
	"io"
	"strings"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
func contains(s, sub string) bool    { return strings.Contains(s, sub) }

func benchPostgres(b *testing.B) string { return testenv.Postgres(b) }

func openBench(b *testing.B, be backend) *sql.DB {
	db, err := sql.Open("pgx", be.dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Exec(be.ddl); err != nil {
		b.Fatal(err)
	}
	return db
}
