// Package appliance holds the pieces of the rackwall appliance that sit
// between the web UI and the dataplane: the UI backend that implements the
// webui interfaces over the config store (package store) and the dataplane
// control client, the commit-confirm logic that reverts a change nobody
// confirmed, and the event fan-out to the browser, syslog and a webhook.
package appliance
