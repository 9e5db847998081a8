package webui

import (
	"embed"
	"net/http"
	"path"
)

//go:embed static/style.css static/live.js
var staticFiles embed.FS

var staticTypes = map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

// handleStatic serves the embedded CSS and JS.
func (srv *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	data, err := staticFiles.ReadFile("static/" + name)
	if err != nil || path.Base(name) != name {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", staticTypes[path.Ext(name)])
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(data)
}
