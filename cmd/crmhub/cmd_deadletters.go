package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/hub"
)

func init() { register(newDeadLettersCmd) }

// apiClient talks to a running hub's HTTP API; the commands here are thin
// on purpose: the hub does the work, so the CLI and the API cannot differ.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func (c *apiClient) do(cmd *cobra.Command, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(cmd.Context(), method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: answer: %w", method, path, err)
	}
	return nil
}

func newDeadLettersCmd() *cobra.Command {
	c := &apiClient{http: &http.Client{Timeout: 10 * time.Minute}}
	cmd := &cobra.Command{
		Use:     "deadletters",
		Aliases: []string{"dlq"},
		Short:   "List, replay and resolve dead letters on a running hub",
	}
	cmd.PersistentFlags().StringVar(&c.base, "url", envOr("CRMHUB_URL", "http://127.0.0.1:8080"), "hub API base URL (env CRMHUB_URL)")
	cmd.PersistentFlags().StringVar(&c.token, "token", os.Getenv("CRMHUB_TOKEN"), "API token with the steward scope (env CRMHUB_TOKEN)")
	cmd.AddCommand(newDLListCmd(c), newDLShowCmd(c), newDLReplayCmd(c), newDLResolveCmd(c))
	return cmd
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newDLListCmd(c *apiClient) *cobra.Command {
	var f struct{ reasonClass, connector, status, mapping, entity string }
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--reason-class C] [--connector N] [--status open|replayed|resolved] [--limit N]",
		Short: "List dead letters with their reasons (open ones by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"reason_class": f.reasonClass, "connector": f.connector, "status": f.status,
				"mapping": f.mapping, "source_entity": f.entity} {
				if v != "" {
					q.Set(k, v)
				}
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
			if !asJSON {
				fmt.Fprintln(tw, "ID\tSTATUS\tREASON CLASS\tCONNECTOR\tENTITY\tSOURCE ID\tFIELD\tREASON")
			}
			n := 0
			for n < limit {
				q.Set("limit", fmt.Sprint(min(200, limit-n)))
				var page struct {
					Items      []hub.DeadLetterEntry `json:"items"`
					NextCursor string                `json:"next_cursor"`
				}
				if err := c.do(cmd, http.MethodGet, "/v1/deadletters?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				for _, e := range page.Items {
					if asJSON {
						b, _ := json.Marshal(e)
						fmt.Fprintln(out, string(b))
						continue
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Status, e.ReasonClass, e.Connector,
						e.SourceEntity, e.SourceID, e.Field, e.Reason)
				}
				n += len(page.Items)
				if page.NextCursor == "" {
					break
				}
				q.Set("cursor", page.NextCursor)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&f.reasonClass, "reason-class", "", "source_error, no_mapping, mapping_error, validation_error, apply_error, unreadable")
	cmd.Flags().StringVar(&f.connector, "connector", "", "connector instance name")
	cmd.Flags().StringVar(&f.status, "status", hub.DeadLetterOpen, "open, replayed or resolved (empty: all)")
	cmd.Flags().StringVar(&f.mapping, "mapping", "", "mapping name")
	cmd.Flags().StringVar(&f.entity, "source-entity", "", "source entity")
	cmd.Flags().IntVar(&limit, "limit", 1000, "list at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line, payload included")
	return cmd
}

func newDLShowCmd(c *apiClient) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Print one dead letter as JSON, payload included",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var e json.RawMessage
			if err := c.do(cmd, http.MethodGet, "/v1/deadletters/"+url.PathEscape(args[0]), nil, &e); err != nil {
				return err
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), string(e))
			return err
		},
	}
}

func newDLReplayCmd(c *apiClient) *cobra.Command {
	var f struct{ reasonClass, connector, mapping, entity string }
	cmd := &cobra.Command{
		Use:   "replay ID | replay --reason-class C [--connector N] [--mapping M] [--source-entity E]",
		Short: "Re-map dead letters with the hub's current mappings and publish them",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter := map[string]string{}
			for k, v := range map[string]string{"reason_class": f.reasonClass, "connector": f.connector, "mapping": f.mapping, "source_entity": f.entity} {
				if v != "" {
					filter[k] = v
				}
			}
			out := cmd.OutOrStdout()
			switch {
			case len(args) == 1 && len(filter) > 0:
				return errors.New("give an ID or filter flags, not both")
			case len(args) == 1:
				var r hub.ReplayResult
				if err := c.do(cmd, http.MethodPost, "/v1/deadletters/"+url.PathEscape(args[0])+"/replay", struct{}{}, &r); err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: %s (%s)\n", r.ID, r.Outcome, r.Status)
				if r.Outcome == hub.ReplayFailed {
					fmt.Fprintf(out, "  %s field %s: %s\n", r.ReasonClass, r.Field, r.Reason)
				}
				return nil
			case len(filter) == 0:
				return errors.New("give an ID, or at least one of --reason-class, --connector, --mapping, --source-entity")
			}
			var s hub.ReplaySummary
			if err := c.do(cmd, http.MethodPost, "/v1/deadletters/replay", filter, &s); err != nil {
				return err
			}
			fmt.Fprintf(out, "matched %d: published %d, dropped %d, still failing %d, not replayable %d (resolve those)\n",
				s.Matched, s.Published, s.Dropped, s.Failed, s.NotReplayable)
			for _, r := range s.Failures {
				fmt.Fprintf(out, "  %s: %s field %s: %s\n", r.ID, r.ReasonClass, r.Field, r.Reason)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.reasonClass, "reason-class", "", "replay open dead letters of this reason class")
	cmd.Flags().StringVar(&f.connector, "connector", "", "... of this connector instance")
	cmd.Flags().StringVar(&f.mapping, "mapping", "", "... of this mapping")
	cmd.Flags().StringVar(&f.entity, "source-entity", "", "... of this source entity")
	return cmd
}

func newDLResolveCmd(c *apiClient) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   "resolve ID --note TEXT",
		Short: "Close a dead letter a replay cannot fix (a bad source line), with a note",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if note == "" {
				return errors.New("--note is required: say why the dead letter is closed")
			}
			var e hub.DeadLetterEntry
			if err := c.do(cmd, http.MethodPost, "/v1/deadletters/"+url.PathEscape(args[0])+"/resolve", map[string]string{"note": note}, &e); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s: %s by %s\n", e.ID, e.Status, e.Actor)
			return err
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "why it is closed")
	return cmd
}
