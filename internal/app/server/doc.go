// Package server wires one running crmhub: it opens the store and the Kafka
// bus (starting the embedded broker when no brokers are configured), loads
// the mappings, starts one supervised source runner per configured connector
// through the plugin host, the applier that feeds the store, and the HTTP
// API. cmd/crmhub and the end-to-end tests start it the same way.
package server
