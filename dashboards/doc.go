// Package dashboards holds shadowcast's Grafana dashboards as JSON files
// (*.json), ready to import or to provision. It contains no Go code beyond
// this comment: dashboards_test.go checks every file against Grafana's
// schema (grafana-foundation-sdk), parses every PromQL expression and
// verifies that each metric it references is one the project documents.
//
// Conventions: a stable uid, the tag "shadowcast", titles starting with
// "Shadowcast / ", a ${datasource} variable and no hard-coded datasource
// UID, so the files import into any Grafana.
package dashboards
