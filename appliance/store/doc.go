// Package store is the appliance's config store on /perm: one atomically
// written file holding the current config (settings, dataplane policy and
// firewall rules), every change a numbered revision that can be rolled back
// to, the admin credentials and API tokens in a file of their own, the
// first-run setup code, and the audit log. Config text is validated with
// the dataplane's own parsers before it is stored, so a stored revision
// always loads.
//
// The package is deliberately light: gokrazy's init reads the settings
// through PeekSettings before anything else runs, and must not carry the
// web UI or the packet engine to do so.
package store
