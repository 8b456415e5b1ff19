package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/hub/httpapi"
)

func init() { register(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	c := &apiClient{http: &http.Client{Timeout: 30 * time.Second}}
	var asJSON bool
	var bar string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every connector of a running hub: state, records, lag, last error, last success",
		Long: `Show every connector of a running hub (GET /v1/connectors): runner state, records read,
mapped and dead-lettered, lag, last error and last success. On a terminal a progress bar
follows each source still reading its backlog whose size the source can tell.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list httpapi.ConnectorList
			if err := c.do(cmd, http.MethodGet, "/v1/connectors", nil, &list); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			var bars bool
			switch bar {
			case "always":
				bars = true
			case "never":
			case "auto":
				bars = isTerminal(w)
			default:
				return fmt.Errorf("--bar %q: want auto, always or never", bar)
			}
			printStatus(w, list.Connectors, time.Now(), bars)
			return nil
		},
	}
	cmd.Flags().StringVar(&c.base, "url", envOr("CRMHUB_URL", "http://127.0.0.1:8080"), "hub API base URL (env CRMHUB_URL)")
	cmd.Flags().StringVar(&c.token, "token", os.Getenv("CRMHUB_TOKEN"), "API token with the steward scope (env CRMHUB_TOKEN)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	cmd.Flags().StringVar(&bar, "bar", "auto", "progress bars: auto (when stdout is a terminal), always or never")
	return cmd
}

// isTerminal reports whether w is a character device (a terminal), where
// a progress bar reads well; in a file or a pipe it would be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printStatus writes one line per connector, and with bars a progress bar
// under each source still reading a backlog of known size.
func printStatus(w io.Writer, list []httpapi.ConnectorStatus, now time.Time, bars bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTOR\tSTATE\tREAD\tMAPPED\tDEAD-LETTERED\tLAG\tLAST SUCCESS\tLAST ERROR")
	for _, c := range list {
		state := c.State
		if c.State == "running" && c.CaughtUp {
			state = "running, caught up"
		} else if c.State == "running" && c.LastSuccess != nil {
			state = "running, reading"
		}
		lag := "-"
		if c.LastSuccess != nil {
			lag = (time.Duration(c.LagSeconds * float64(time.Second))).Round(time.Second).String()
		}
		lastErr := c.LastError
		if c.Error != "" {
			lastErr = c.Error
		}
		if lastErr == "" {
			lastErr = "-"
		} else if c.LastErrorAt != nil {
			lastErr = ago(now, *c.LastErrorAt) + ": " + oneLine(lastErr)
		}
		success := "-"
		if c.LastSuccess != nil {
			success = ago(now, *c.LastSuccess)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", c.Name, state, c.RecordsRead, c.RecordsMapped,
			c.RecordsDeadLettered, lag, success, lastErr)
	}
	_ = tw.Flush()
	if !bars {
		return
	}
	for _, c := range list {
		if c.CaughtUp || c.SourceTotal <= 0 || c.Remaining < 0 {
			continue
		}
		fmt.Fprintf(w, "%s %s\n", c.Name, statusBar(c, 30))
	}
}

// statusBar draws "[=====>    ]  52%  1560/3000  240/s  eta 6s".
func statusBar(c httpapi.ConnectorStatus, width int) string {
	done := c.SourceTotal - c.Remaining
	frac := float64(done) / float64(c.SourceTotal)
	frac = min(max(frac, 0), 1)
	n := int(frac * float64(width))
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	s := fmt.Sprintf("[%s] %3.0f%%  %d/%d  %.0f/s", bar, frac*100, done, c.SourceTotal, c.RatePerSecond)
	if c.RatePerSecond > 0 {
		s += "  eta " + time.Duration(float64(c.Remaining)/c.RatePerSecond*float64(time.Second)).Round(time.Second).String()
	}
	return s
}

func ago(now, t time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return t.UTC().Format("2006-01-02 15:04:05Z") + " (" + d.String() + " ago)"
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
