package main

import (
	"fmt"

	"github.com/spf13/cobra"

	sqlconn "github.com/crmhub/crmhub/connectors/sql"
)

// newConnectorsInspectCmd looks at a live database for the sql connector.
func newConnectorsInspectCmd() *cobra.Command {
	var driver, dsn, source, path string
	var samples int
	c := &cobra.Command{
		Use:   "inspect (--driver postgres|mysql|sqlite --dsn DSN | --source NAME [-c crmhub.yaml])",
		Short: "List a database's tables, keys, change columns and row counts; propose an sql source config; show sample raw records",
		Long: `Reads the catalog of a live database (PostgreSQL: the search_path's first schema; MySQL/
MariaDB: the DSN's database; SQLite: the file) and prints each table's columns, primary
key, candidate change columns (timestamps named like updated_at, with how many rows hold
NULL there: cursor polling never reads those), row count and foreign keys; then a
proposed sql source (tables referencing one parent and referenced by none become its
children; no usable change column proposes change_detection hash) and the first rows of
each table exactly as the mapping will receive them, with the Go type of each field.
--source takes the driver and DSN of an sql source of the config instead (its ${VAR}s
resolved), so no password is typed on the command line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if source != "" {
				var err error
				if driver, dsn, err = sqlSourceDB(path, source); err != nil {
					return err
				}
			}
			if driver == "" || dsn == "" {
				return fmt.Errorf("--driver and --dsn (or --source) are required")
			}
			in, err := sqlconn.Inspect(cmd.Context(), driver, dsn, samples)
			if err != nil {
				return err
			}
			return in.Write(cmd.OutOrStdout())
		},
	}
	c.Flags().StringVar(&driver, "driver", "", "postgres, mysql or sqlite")
	c.Flags().StringVar(&dsn, "dsn", "", "data source name in the driver's syntax")
	c.Flags().IntVar(&samples, "samples", 2, "sample records per table (0: none)")
	c.Flags().StringVar(&source, "source", "", "an sql source of the config to inspect the database of")
	c.Flags().StringVarP(&path, "config", "c", "crmhub.yaml", "config file (with --source)")
	return c
}
