package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func init() { register(newPluginCmd) }

// newPluginCmd lets the crmhub binary re-execute itself as a built-in
// connector's plugin process, so one build ships every connector.
func newPluginCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "plugin", Short: "Plugin process entry points (started by the hub)", Hidden: true}
	cmd.AddCommand(&cobra.Command{
		Use:   "serve NAME",
		Short: "Serve a built-in connector as a plugin process",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, ok := connectors.Builtins()[args[0]]
			if !ok {
				return fmt.Errorf("no built-in connector %q", args[0])
			}
			sdk.Serve(c)
			return nil
		},
	})
	return cmd
}
