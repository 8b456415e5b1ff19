// Command crmhub is the crmhub integration hub: `crmhub demo` runs it on the
// embedded default with sample data, `crmhub run --config FILE` runs it for
// real, and the other subcommands serve operators and data engineers.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// subcommands are added by the files of this package through register, so
// each command lives in its own file.
var subcommands []func() *cobra.Command

func register(f func() *cobra.Command) { subcommands = append(subcommands, f) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "crmhub",
		Short:         "One customer across CRM, ERP, finance, inventory and service desk",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, f := range subcommands {
		root.AddCommand(f())
	}
	return root
}

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "crmhub:", err)
		os.Exit(1)
	}
}
