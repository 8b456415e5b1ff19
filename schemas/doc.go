// Package schemas holds crmhub's canonical JSON Schemas (customer, order,
// payment, service_case and the envelope, all v1) and compiles them once for
// validation with gojsonschema.
package schemas
