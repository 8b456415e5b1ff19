package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmhub/crmhub/plugins/internal/hostside"
	pluginv1 "github.com/crmhub/crmhub/plugins/proto/v1"
)

// ErrTransport marks a call that failed because the plugin process could not
// be reached (it crashed, exited or closed the connection), as opposed to an
// error the connector returned. The host restarts the plugin on it.
var ErrTransport = errors.New("plugin connection lost")

// describer is implemented by the host-side adapters of plugin processes:
// it asks the running plugin for its declaration.
type describer interface {
	Spec(ctx context.Context) (Spec, error)
}

// maxMessage bounds one gRPC message. A batch of 1000 records of 1 KB is
// about 1 MB; the headroom is for wide rows and large batches.
const maxMessage = 256 << 20

// sourcePlugin and destinationPlugin are the go-plugin glue: the server side
// wraps a Connector, the client side returns a Source or Destination.
type sourcePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	conn Connector
	// bulk: see sourceServer.bulk.
	bulk *bulkWriter
}

func (p *sourcePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterSourceServer(s, newSourceServer(p.conn, p.bulk))
	return nil
}

func (p *sourcePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &sourceClient{c: pluginv1.NewSourceClient(c)}, nil
}

type destinationPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	conn Connector
}

func (p *destinationPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterDestinationServer(s, &destinationServer{conn: p.conn})
	return nil
}

func (p *destinationPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &destinationClient{c: pluginv1.NewDestinationClient(c)}, nil
}

func pluginSet(c Connector) plugin.PluginSet {
	return plugin.PluginSet{
		hostside.PluginSource:      &sourcePlugin{conn: c},
		hostside.PluginDestination: &destinationPlugin{conn: c},
	}
}

// ---- server side (inside the plugin process) ----

type sourceServer struct {
	pluginv1.UnimplementedSourceServer
	conn  Connector
	src   Source
	ahead readAhead
	// mu orders Read against Configure, Open and Teardown. A host that
	// re-opens cancels the Read its own read-ahead had in flight, but that
	// Read's handler may still run here beside the Open: reading after the
	// new position was set, it took the first batch from there and sent it
	// to a caller that was gone, and the host's next Read began a batch
	// later (records lost until a restart re-read them from the last ack;
	// TestSourceClientReadsAhead failed now and then). Under mu a Read
	// whose caller has gone reads nothing, and an Open waits for a Read
	// still running. The host has one Read in flight at a time, so mu
	// costs no concurrency.
	mu sync.Mutex
	// bulk is the channel the host handed this process, nil without one.
	bulk *bulkWriter
}

func newSourceServer(conn Connector, bulk *bulkWriter) *sourceServer {
	return &sourceServer{conn: conn, bulk: bulk, ahead: readAhead{depth: pluginReadAhead}}
}

func (s *sourceServer) Spec(context.Context, *pluginv1.SpecRequest) (*pluginv1.SpecResponse, error) {
	return specResponse(s.conn.Spec)
}

func (s *sourceServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	if s.conn.NewSource == nil {
		return nil, status.Errorf(codes.Unimplemented, "%s: not a source", s.conn.Spec.Name)
	}
	cfg, err := decodeConfig(s.conn.Spec, KindSource, req.GetConfigJson())
	if err != nil {
		return nil, toStatus(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ahead.stop()
	if s.src == nil {
		s.src = s.conn.NewSource()
	}
	return &pluginv1.ConfigureResponse{}, toStatus(s.src.Configure(ctx, cfg))
}

func (s *sourceServer) configured() error {
	if s.src == nil {
		return status.Errorf(codes.FailedPrecondition, "%s: source not configured", s.conn.Spec.Name)
	}
	return nil
}

func (s *sourceServer) Open(ctx context.Context, req *pluginv1.OpenRequest) (*pluginv1.OpenResponse, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Records read ahead belong to the old position.
	s.ahead.stop()
	return &pluginv1.OpenResponse{}, toStatus(s.src.Open(ctx, Position(req.GetPosition())))
}

func (s *sourceServer) Read(ctx context.Context, req *pluginv1.ReadRequest) (*pluginv1.ReadResponse, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		// The host gave up on this Read (it re-opens or stops): what it
		// would read belongs to nobody.
		return nil, status.FromContextError(err).Err()
	}
	// The plugin reads its next batch while this one is packed, sent and
	// decoded: with the host's own read-ahead the two processes then work
	// at the same time instead of taking turns (see readAhead).
	limit := int(req.GetMax())
	recs, err := s.ahead.next(ctx, s.src.Read, limit)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(recs) == limit {
		s.ahead.start(s.src.Read, limit)
	}
	if req.GetPacked() {
		buf := batchPool.Get(packedSize(recs))
		packed := packBatch((*buf)[:0], recs)
		if req.GetBulk() && s.bulk != nil {
			seq, err := s.bulk.write(packed)
			*buf = packed
			batchPool.Put(buf)
			if err != nil {
				return nil, status.Errorf(codes.Unavailable, "%s: %v", s.conn.Spec.Name, err)
			}
			return &pluginv1.ReadResponse{BulkSeq: seq}, nil
		}
		return &pluginv1.ReadResponse{Packed: packed}, nil
	}
	out := &pluginv1.ReadResponse{Records: make([]*pluginv1.Record, len(recs))}
	for i := range recs {
		out.Records[i] = recordToWire(&recs[i])
	}
	return out, nil
}

func (s *sourceServer) Ack(ctx context.Context, req *pluginv1.AckRequest) (*pluginv1.AckResponse, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	return &pluginv1.AckResponse{}, toStatus(s.src.Ack(ctx, Position(req.GetPosition())))
}

func (s *sourceServer) Teardown(ctx context.Context, _ *pluginv1.TeardownRequest) (*pluginv1.TeardownResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src == nil {
		return &pluginv1.TeardownResponse{}, nil
	}
	s.ahead.stop()
	return &pluginv1.TeardownResponse{}, toStatus(s.src.Teardown(ctx))
}

func (s *sourceServer) Count(ctx context.Context, req *pluginv1.CountRequest) (*pluginv1.CountResponse, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	n, err := CountOf(ctx, s.src, req.GetEntity())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.CountResponse{Count: n}, nil
}

func (s *sourceServer) Keys(ctx context.Context, req *pluginv1.KeysRequest) (*pluginv1.KeysResponse, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	keys, err := KeysOf(ctx, s.src, req.GetEntity(), req.GetAfter(), int(req.GetLimit()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.KeysResponse{Keys: keys}, nil
}

func (s *sourceServer) VersionsBehind(ctx context.Context, req *pluginv1.VersionsBehindRequest) (*pluginv1.VersionsBehindResponse, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	v, ok := s.src.(VersionReconciler)
	if !ok {
		return nil, toStatus(ErrNotSupported)
	}
	ids, versions, last, err := v.VersionsBehind(ctx, req.GetEntity(), req.GetAfter(), int(req.GetLimit()))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pluginv1.VersionsBehindResponse{Ids: ids, Last: last, Versions: make([]*timestamppb.Timestamp, len(versions))}
	for i, t := range versions {
		resp.Versions[i] = timestamppb.New(t)
	}
	return resp, nil
}

func (s *sourceServer) Reread(ctx context.Context, req *pluginv1.RereadRequest) (*pluginv1.RereadResponse, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	v, ok := s.src.(VersionReconciler)
	if !ok {
		return nil, toStatus(ErrNotSupported)
	}
	return &pluginv1.RereadResponse{}, toStatus(v.Reread(ctx, req.GetEntity(), req.GetIds()))
}

type destinationServer struct {
	pluginv1.UnimplementedDestinationServer
	conn Connector
	dst  Destination
}

func (s *destinationServer) Spec(context.Context, *pluginv1.SpecRequest) (*pluginv1.SpecResponse, error) {
	return specResponse(s.conn.Spec)
}

func (s *destinationServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	if s.conn.NewDestination == nil {
		return nil, status.Errorf(codes.Unimplemented, "%s: not a destination", s.conn.Spec.Name)
	}
	cfg, err := decodeConfig(s.conn.Spec, KindDestination, req.GetConfigJson())
	if err != nil {
		return nil, toStatus(err)
	}
	if s.dst == nil {
		s.dst = s.conn.NewDestination()
	}
	return &pluginv1.ConfigureResponse{}, toStatus(s.dst.Configure(ctx, cfg))
}

func (s *destinationServer) configured() error {
	if s.dst == nil {
		return status.Errorf(codes.FailedPrecondition, "%s: destination not configured", s.conn.Spec.Name)
	}
	return nil
}

func (s *destinationServer) Open(ctx context.Context, _ *pluginv1.OpenRequest) (*pluginv1.OpenResponse, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	return &pluginv1.OpenResponse{}, toStatus(s.dst.Open(ctx))
}

func (s *destinationServer) Write(ctx context.Context, req *pluginv1.WriteRequest) (*pluginv1.WriteResponse, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	recs := make([]Record, len(req.GetRecords()))
	for i, r := range req.GetRecords() {
		recs[i] = recordFromWire(r)
	}
	res, err := s.dst.Write(ctx, recs)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pluginv1.WriteResponse{Results: make([]*pluginv1.WriteResult, len(res))}
	for i, r := range res {
		out.Results[i] = &pluginv1.WriteResult{Id: r.ID, Error: r.Error, Meta: r.Meta}
	}
	return out, nil
}

func (s *destinationServer) Teardown(ctx context.Context, _ *pluginv1.TeardownRequest) (*pluginv1.TeardownResponse, error) {
	if s.dst == nil {
		return &pluginv1.TeardownResponse{}, nil
	}
	return &pluginv1.TeardownResponse{}, toStatus(s.dst.Teardown(ctx))
}

// specOf decodes a plugin's answer to Spec, the reverse of specResponse.
func specOf(ctx context.Context, resp *pluginv1.SpecResponse, err error) (Spec, error) {
	if err != nil {
		return Spec{}, fromStatus(ctx, "spec", err)
	}
	var spec Spec
	if err := json.Unmarshal(resp.GetSpecJson(), &spec); err != nil {
		return Spec{}, fmt.Errorf("plugin spec: decode: %w", err)
	}
	return spec, nil
}

func specResponse(s Spec) (*pluginv1.SpecResponse, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode spec: %v", err)
	}
	return &pluginv1.SpecResponse{SpecJson: b}, nil
}

// decodeConfig turns the wire JSON back into a Config and re-applies the
// declaration, so that the connector sees the same Go types (int, not
// float64) in a plugin process as in-process.
func decodeConfig(spec Spec, kind Kind, b []byte) (Config, error) {
	cfg := Config{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &cfg); err != nil {
			return nil, fmt.Errorf("%s: decode config: %w", spec.Name, err)
		}
	}
	return spec.ValidateFor(kind, cfg)
}

// toStatus keeps ErrNotSupported recognisable across the wire; every other
// connector error travels as its message.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotSupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	default:
		return status.Error(codes.Unknown, err.Error())
	}
}

// ---- client side (inside the host) ----

// fromStatus turns a gRPC error back into what the connector returned, or
// into ErrTransport when the plugin could not be reached.
func fromStatus(ctx context.Context, call string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("plugin %s: %w", call, err)
	}
	switch st.Code() {
	case codes.Unimplemented:
		return fmt.Errorf("plugin %s: %s: %w", call, st.Message(), ErrNotSupported)
	case codes.Unavailable:
		return fmt.Errorf("plugin %s: %s: %w", call, st.Message(), ErrTransport)
	case codes.Canceled, codes.DeadlineExceeded:
		if ctx.Err() != nil {
			return fmt.Errorf("plugin %s: %w", call, ctx.Err())
		}
		return fmt.Errorf("plugin %s: %s: %w", call, st.Message(), ErrTransport)
	default:
		return remoteError{call: call, msg: st.Message()}
	}
}

// remoteError is an error the connector returned inside the plugin process.
type remoteError struct{ call, msg string }

func (e remoteError) Error() string { return e.msg }

type sourceClient struct {
	c     pluginv1.SourceClient
	ahead readAhead
	// bulk reads batches from the plugin's bulk channel; nil reads them
	// inline (see bulkChannel).
	bulk *bulkReader
}

var (
	_ Source            = (*sourceClient)(nil)
	_ describer         = (*sourceClient)(nil)
	_ Reconciler        = (*sourceClient)(nil)
	_ VersionReconciler = (*sourceClient)(nil)
)

func (s *sourceClient) Spec(ctx context.Context) (Spec, error) {
	resp, err := s.c.Spec(ctx, &pluginv1.SpecRequest{})
	return specOf(ctx, resp, err)
}

func (s *sourceClient) Configure(ctx context.Context, cfg Config) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	s.ahead.stop()
	_, err = s.c.Configure(ctx, &pluginv1.ConfigureRequest{ConfigJson: b})
	return fromStatus(ctx, "configure", err)
}

func (s *sourceClient) Open(ctx context.Context, pos Position) error {
	// Records read ahead belong to the old position.
	s.ahead.stop()
	_, err := s.c.Open(ctx, &pluginv1.OpenRequest{Position: pos})
	return fromStatus(ctx, "open", err)
}

// Read returns the batch read ahead, if any, and after a full batch asks the
// plugin for the next one at once (see readAhead).
func (s *sourceClient) Read(ctx context.Context, max int) ([]Record, error) {
	recs, err := s.ahead.next(ctx, s.read, max)
	if err != nil {
		return nil, err
	}
	if len(recs) == max {
		s.ahead.start(s.read, max)
	}
	return recs, nil
}

// read is one Read call to the plugin.
func (s *sourceClient) read(ctx context.Context, max int) ([]Record, error) {
	resp, err := s.c.Read(ctx, &pluginv1.ReadRequest{Max: int32(max), Packed: true, Bulk: s.bulk != nil}, grpc.ForceCodecV2(wireCodec{}))
	if err != nil {
		return nil, fromStatus(ctx, "read", err)
	}
	p := resp.GetPacked()
	if seq := resp.GetBulkSeq(); seq != 0 {
		if s.bulk == nil {
			return nil, fmt.Errorf("plugin read: %w: bulk frame %d without a bulk channel", errPacked, seq)
		}
		frame, err := s.bulk.frame(ctx, seq)
		if err != nil {
			return nil, fmt.Errorf("plugin read: %w", err)
		}
		recs, err := unpackBatchCopy(frame)
		s.bulk.release(frame)
		if err != nil {
			return nil, fmt.Errorf("plugin read: %w", err)
		}
		return recs, nil
	}
	if p != nil {
		recs, err := unpackBatch(p)
		if err != nil {
			return nil, fmt.Errorf("plugin read: %w", err)
		}
		return recs, nil
	}
	// A plugin built before the packed layout answers with one message
	// per record.
	out := make([]Record, len(resp.GetRecords()))
	for i, r := range resp.GetRecords() {
		out[i] = recordFromWire(r)
	}
	return out, nil
}

func (s *sourceClient) Ack(ctx context.Context, pos Position) error {
	_, err := s.c.Ack(ctx, &pluginv1.AckRequest{Position: pos})
	return fromStatus(ctx, "ack", err)
}

func (s *sourceClient) Teardown(ctx context.Context) error {
	s.ahead.stop()
	_, err := s.c.Teardown(ctx, &pluginv1.TeardownRequest{})
	return fromStatus(ctx, "teardown", err)
}

// Count asks the plugin; one built before the RPC existed answers
// Unimplemented, which comes back as ErrNotSupported.
func (s *sourceClient) Count(ctx context.Context, entity string) (int64, error) {
	resp, err := s.c.Count(ctx, &pluginv1.CountRequest{Entity: entity})
	if err != nil {
		return 0, fromStatus(ctx, "count", err)
	}
	return resp.GetCount(), nil
}

func (s *sourceClient) Keys(ctx context.Context, entity, after string, limit int) ([]string, error) {
	resp, err := s.c.Keys(ctx, &pluginv1.KeysRequest{Entity: entity, After: after, Limit: int32(limit)})
	if err != nil {
		return nil, fromStatus(ctx, "keys", err)
	}
	return resp.GetKeys(), nil
}

// VersionsBehind asks the plugin; one built before the RPC existed, or
// whose source reads by no version cursor, answers ErrNotSupported.
func (s *sourceClient) VersionsBehind(ctx context.Context, entity, after string, limit int) ([]string, []time.Time, string, error) {
	resp, err := s.c.VersionsBehind(ctx, &pluginv1.VersionsBehindRequest{Entity: entity, After: after, Limit: int32(limit)})
	if err != nil {
		return nil, nil, "", fromStatus(ctx, "versions behind", err)
	}
	if len(resp.GetVersions()) != len(resp.GetIds()) {
		return nil, nil, "", fmt.Errorf("versions behind: plugin sent %d versions for %d ids", len(resp.GetVersions()), len(resp.GetIds()))
	}
	versions := make([]time.Time, len(resp.GetVersions()))
	for i, t := range resp.GetVersions() {
		versions[i] = t.AsTime()
	}
	return resp.GetIds(), versions, resp.GetLast(), nil
}

func (s *sourceClient) Reread(ctx context.Context, entity string, ids []string) error {
	_, err := s.c.Reread(ctx, &pluginv1.RereadRequest{Entity: entity, Ids: ids})
	return fromStatus(ctx, "reread", err)
}

type destinationClient struct{ c pluginv1.DestinationClient }

var (
	_ Destination = (*destinationClient)(nil)
	_ describer   = (*destinationClient)(nil)
)

func (d *destinationClient) Spec(ctx context.Context) (Spec, error) {
	resp, err := d.c.Spec(ctx, &pluginv1.SpecRequest{})
	return specOf(ctx, resp, err)
}

func (d *destinationClient) Configure(ctx context.Context, cfg Config) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	_, err = d.c.Configure(ctx, &pluginv1.ConfigureRequest{ConfigJson: b})
	return fromStatus(ctx, "configure", err)
}

func (d *destinationClient) Open(ctx context.Context) error {
	_, err := d.c.Open(ctx, &pluginv1.OpenRequest{})
	return fromStatus(ctx, "open", err)
}

func (d *destinationClient) Write(ctx context.Context, records []Record) ([]WriteResult, error) {
	req := &pluginv1.WriteRequest{Records: make([]*pluginv1.Record, len(records))}
	for i := range records {
		req.Records[i] = recordToWire(&records[i])
	}
	resp, err := d.c.Write(ctx, req)
	if err != nil {
		return nil, fromStatus(ctx, "write", err)
	}
	out := make([]WriteResult, len(resp.GetResults()))
	for i, r := range resp.GetResults() {
		out[i] = WriteResult{ID: r.GetId(), Error: r.GetError(), Meta: r.GetMeta()}
	}
	if len(out) != len(records) {
		return out, fmt.Errorf("plugin write: %d results for %d records", len(out), len(records))
	}
	return out, nil
}

func (d *destinationClient) Teardown(ctx context.Context) error {
	_, err := d.c.Teardown(ctx, &pluginv1.TeardownRequest{})
	return fromStatus(ctx, "teardown", err)
}

func recordToWire(r *Record) *pluginv1.Record {
	w := &pluginv1.Record{
		Entity:   r.Entity,
		Id:       r.ID,
		Op:       string(r.Op),
		Payload:  r.Payload,
		Position: r.Position,
		Error:    r.Error,
		Meta:     r.Meta,
	}
	if !r.UpdatedAt.IsZero() {
		w.UpdatedAt = timestamppb.New(r.UpdatedAt)
	}
	return w
}

func recordFromWire(w *pluginv1.Record) Record {
	r := Record{
		Entity:   w.GetEntity(),
		ID:       w.GetId(),
		Op:       Operation(w.GetOp()),
		Payload:  w.GetPayload(),
		Position: Position(w.GetPosition()),
		Error:    w.GetError(),
		Meta:     w.GetMeta(),
	}
	if w.UpdatedAt != nil {
		r.UpdatedAt = w.UpdatedAt.AsTime()
	}
	// time.Time from the wire is UTC; keep it comparable with in-process
	// values that were created in UTC too.
	if !r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.UpdatedAt.In(time.UTC)
	}
	return r
}
