package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // MariaDB driver
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver
)

// Required reports whether missing services must fail tests instead of skipping them.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("CRMHUB_REQUIRE_SERVICES") == "1"
}

func unavailable(tb testing.TB, service string, err error) {
	tb.Helper()
	msg := fmt.Sprintf("%s is not reachable (%v); start it (see README, 'Services for tests') or set CRMHUB_REQUIRE_SERVICES=1 to make this a failure", service, err)
	if Required() {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PostgresDSN is the admin DSN of the local PostgreSQL; CRMHUB_TEST_POSTGRES overrides it.
func PostgresDSN() string {
	if v := os.Getenv("CRMHUB_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// MariaDBDSN is the admin DSN of the local MariaDB; CRMHUB_TEST_MARIADB overrides it.
func MariaDBDSN() string {
	if v := os.Getenv("CRMHUB_TEST_MARIADB"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/test?parseTime=false&multiStatements=true"
}

// Postgres creates a fresh schema for the test and returns a DSN whose
// search_path points at it. The schema is dropped when the test ends.
func Postgres(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", PostgresDSN())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		unavailable(tb, "PostgreSQL", err)
	}
	schema := "t_" + suffix()
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	})
	dsn := PostgresDSN()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// MariaDB creates a fresh database for the test and returns a DSN for it.
// The database is dropped when the test ends.
func MariaDB(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("mysql", MariaDBDSN())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		unavailable(tb, "MariaDB", err)
	}
	db := "t_" + suffix()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+db+"`"); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, "DROP DATABASE `"+db+"`")
		admin.Close()
	})
	return strings.Replace(MariaDBDSN(), "/test?", "/"+db+"?", 1)
}

// RequireLogical skips the test (fails it under Required) unless the
// PostgreSQL behind db runs with wal_level = logical, which change data
// capture needs and .ci/run sets.
func RequireLogical(tb testing.TB, db *sql.DB) {
	tb.Helper()
	var wal string
	if err := db.QueryRow(`SHOW wal_level`).Scan(&wal); err != nil {
		tb.Fatal(err)
	}
	if wal == "logical" {
		return
	}
	msg := "PostgreSQL has wal_level = " + wal + "; change data capture tests need logical (ALTER SYSTEM SET wal_level = logical and restart; .ci/run does it)"
	if Required() {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}
