package testenv

import (
	"context"
	"database/sql"
	"testing"
)

func TestPostgresIntegration(t *testing.T) {
	db, err := sql.Open("pgx", Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `CREATE TABLE x (id int)`); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := db.QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil || schema[:2] != "t_" {
		t.Fatalf("schema %q err %v", schema, err)
	}
}

func TestMariaDBIntegration(t *testing.T) {
	db, err := sql.Open("mysql", MariaDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `CREATE TABLE x (id int)`); err != nil {
		t.Fatal(err)
	}
}
