// Package appliance holds the pieces of the rackwall appliance that sit
// between the web UI and the dataplane: the config store on /perm (one
// atomically written file, every change a numbered revision), the UI backend
// that implements the webui interfaces over the store and the dataplane
// control client, the commit-confirm logic that reverts a change nobody
// confirmed, and the event fan-out to the browser, syslog and a webhook.
package appliance
