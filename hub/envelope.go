package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Canonical entity names. Each has a JSON Schema in schemas/ and a topic.
const (
	EntityCustomer    = "customer"
	EntityOrder       = "order"
	EntityPayment     = "payment"
	EntityServiceCase = "service_case"
)

// Entities lists the canonical entities in a stable order.
var Entities = []string{EntityCustomer, EntityOrder, EntityPayment, EntityServiceCase}

// Operation is what happened to the source record.
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// SchemaVersion is the canonical schema version every envelope carries.
const SchemaVersion = "v1"

// Envelope wraps one canonical record on its way from a connector to the
// hub. It is the value of every message on a canonical topic.
type Envelope struct {
	// EventID is deterministic: the same source record in the same state
	// always yields the same id, so the hub can apply it at most once.
	EventID         string          `json:"event_id"`
	System          string          `json:"source_system"`
	SourceEntity    string          `json:"source_entity"`
	SourceID        string          `json:"source_id"`
	SourceUpdatedAt time.Time       `json:"source_updated_at,omitzero"`
	Entity          string          `json:"entity"`
	SchemaVersion   string          `json:"schema_version"`
	Op              string          `json:"op"`
	Mapping         string          `json:"mapping"`
	MappingVersion  int             `json:"mapping_version"`
	Connector       string          `json:"connector"`
	ReadAt          time.Time       `json:"read_at,omitzero"`
	Data            json.RawMessage `json:"data,omitempty"`
}

// Key is the Kafka message key: one source record always lands on one
// partition, so its versions stay in order.
func (e *Envelope) Key() []byte {
	return []byte(e.System + "/" + e.SourceEntity + "/" + e.SourceID)
}

// ComputeEventID sets EventID from the record's identity, operation, source
// timestamp and canonical content.
func (e *Envelope) ComputeEventID() {
	h := sha256.New()
	for _, s := range []string{e.System, e.SourceEntity, e.SourceID, e.Op, e.SourceUpdatedAt.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(e.Data)
	e.EventID = hex.EncodeToString(h.Sum(nil)[:16])
}

// Reason classes of dead letters; bounded, so they can be metric labels.
const (
	ReasonSource     = "source_error"     // the connector could not read the record
	ReasonNoMapping  = "no_mapping"       // no mapping for the system and entity
	ReasonMapping    = "mapping_error"    // an expression failed on the record
	ReasonValidation = "validation_error" // the output broke the canonical schema
	ReasonApply      = "apply_error"      // the hub could not apply the record
	ReasonTooLarge   = "too_large"        // the canonical record exceeds the topic's message size limit
)

// DeadLetter is a record that could not go on, with why. It is the value of
// every message on the dead-letter topic; nothing is dropped silently.
type DeadLetter struct {
	Connector      string            `json:"connector"`
	System         string            `json:"source_system"`
	SourceEntity   string            `json:"source_entity"`
	SourceID       string            `json:"source_id,omitempty"`
	Mapping        string            `json:"mapping,omitempty"`
	MappingVersion int               `json:"mapping_version,omitempty"`
	Field          string            `json:"field,omitempty"`
	ReasonClass    string            `json:"reason_class"`
	Reason         string            `json:"reason"`
	Meta           map[string]string `json:"meta,omitempty"`
	Payload        json.RawMessage   `json:"payload,omitempty"`
	Raw            []byte            `json:"raw,omitempty"`
	At             time.Time         `json:"at"`
	// SourceUpdatedAt is the record's own updated-at, so a replay orders
	// against newer versions of the record as the first attempt would.
	SourceUpdatedAt time.Time `json:"source_updated_at,omitzero"`
}

// Key keeps dead letters of one source record on one partition.
func (d *DeadLetter) Key() []byte {
	return []byte(d.System + "/" + d.SourceEntity + "/" + d.SourceID)
}
