package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/plugins/host"
	"github.com/crmhub/crmhub/plugins/sdk"
)

func init() { register(newConnectorsCmd) }

func newConnectorsCmd() *cobra.Command {
	var dir string
	open := func() (*host.Host, error) {
		return host.New(host.Options{Builtins: connectors.Builtins(), PluginDir: dir})
	}
	cmd := &cobra.Command{Use: "connectors", Short: "List, describe and inspect connectors; re-read a source"}
	cmd.PersistentFlags().StringVar(&dir, "plugins-dir", "plugins", "directory of external plugins")
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List built-in and installed connectors",
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := open()
			if err != nil {
				return err
			}
			specs := h.Catalog()
			sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
			w := cmd.OutOrStdout()
			for _, s := range specs {
				fmt.Fprintf(w, "%-10s %-8s %-20s %s\n", s.Name, s.Version, kinds(s), s.Summary)
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "describe NAME",
		Short: "Describe a connector's parameters",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := open()
			if err != nil {
				return err
			}
			s, err := h.Spec(args[0])
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), sdk.DescribeText(s))
			return nil
		},
	})
	cmd.AddCommand(newConnectorsResnapshotCmd(), newConnectorsInspectCmd())
	return cmd
}

func kinds(s sdk.Spec) string {
	out := ""
	for i, k := range s.Kinds {
		if i > 0 {
			out += ","
		}
		out += string(k)
	}
	return out
}
