package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/plugins/host"
)

func init() { register(newConfigCmd) }

// errConfigProblems is returned by `config check` after the problems were
// printed, so main exits non-zero without printing them twice.
var errConfigProblems = errors.New("configuration has problems")

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check a config file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Check a config file whole: keys, types and every connector's nested settings",
		Long: `Check a config file as crmhub run does before it starts anything: unknown keys (with the
nearest known one), values of the wrong type and every connector's settings, nested ones
included, against the connector's declaration. Every problem is printed, one a line, as
file:line: key.path: problem. Exit status 1 when there is any.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := loadConfig(args[0])
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
				return nil
			}
			if !errors.Is(err, config.ErrInvalid) {
				return err
			}
			for _, p := range config.Problems(err) {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return errConfigProblems
		},
	})
	return cmd
}

// loadConfig reads a config file and checks it whole, connectors' settings
// included, against the built-in connectors and the plugins in its plugin
// directory.
func loadConfig(path string) (*config.Config, error) {
	return config.LoadChecked(path, func(c *config.Config) (config.SpecFunc, error) {
		h, err := host.New(host.Options{Builtins: connectors.Builtins(), PluginDir: c.Plugins.Dir})
		if err != nil {
			return nil, fmt.Errorf("plugin host: %w", err)
		}
		return h.Spec, nil
	})
}

// configError formats a configuration error one problem a line, in file
// order, for crmhub run.
func configError(err error) error {
	if !errors.Is(err, config.ErrInvalid) {
		return err
	}
	return fmt.Errorf("%w:\n  %s", config.ErrInvalid, strings.Join(config.Problems(err), "\n  "))
}
