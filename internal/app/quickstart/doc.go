// Package quickstart runs the quickstart configuration (deploy/quickstart)
// over generated demo systems without a hub: it writes the config, serves
// the simulated APIs, and reads every source in-process through the
// built-in connectors and the quickstart's mappings. Tests of mapping,
// identity and deploy use it to see exactly what the connectors deliver,
// without Kafka or a store; it sits above the connectors and the domain
// packages and below nothing but the wiring.
package quickstart
