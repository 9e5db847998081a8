// Package control is the dataplane's control API: HTTP with JSON bodies on
// a unix socket, served by the appliance process (Server) and spoken by
// tools and the UI (Client). It reads counters and source accounting,
// quarantines and releases sources, downloads dropped frames as pcapng and
// replaces the rules or the policy; a rules or policy text with an error is
// refused with its line and column and the running one stays.
//
//	GET    /status                      counters, health, stage state, policy
//	GET    /sources?top=N               sources with the most recent violations
//	GET    /sources/{key}               one source and its quarantine events
//	GET    /quarantine                  quarantined sources
//	POST   /quarantine                  {"source","duration","by"}
//	DELETE /quarantine/{key}?by=NAME    release a source
//	GET    /capture.pcapng?reason=&source=   dropped frames
//	GET    /events?since=SEQ            quarantine events after SEQ
//	PUT    /rules                       rules file text
//	PUT    /policy                      policy file text
package control
