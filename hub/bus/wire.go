package bus

import (
	"encoding/json"
	"fmt"

	"github.com/crmhub/crmhub/hub"
)

// DeadLetterMessage is how a dead letter travels on the dead-letter topic:
// keyed by its source record, with the reason class (and the connector,
// when known) in headers so consumers can filter without decoding.
func DeadLetterMessage(t hub.Topics, d *hub.DeadLetter) (Message, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return Message{}, fmt.Errorf("encode dead letter: %w", err)
	}
	h := map[string]string{"reason_class": d.ReasonClass}
	if d.Connector != "" {
		h["connector"] = d.Connector
	}
	return Message{Topic: t.DeadLetter(), Key: d.Key(), Value: b, Headers: h}, nil
}
