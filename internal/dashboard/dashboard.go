// Package dashboard serves the dashboard: one plain HTML page, its script
// and its style, embedded from web/, each with a Content-Security-Policy
// that lets the page load nothing but its own files and talk to nothing but
// its own server.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"workqueue/internal/respond"
)

// webFiles holds the dashboard's page, script and style (the folder web/).
// It is read-only.
//
//go:embed web
var webFiles embed.FS

// csp is the dashboard's Content-Security-Policy (CSP Level 3,
// W3C): the page may load its own script and style and talk to its own
// server, nothing else; no inline script or style; no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Dashboard serves GET / (the page) and its script and style under
// /static/, from the files embedded from web/.
type Dashboard struct {
	files fs.FS // web/
}

// New returns the dashboard's handler.
func New() *Dashboard {
	files, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // cannot happen: web is embedded
	}
	return &Dashboard{files: files}
}

// ServeHTTP serves the page at / and /static/app.js and /static/style.css,
// each with the dashboard's Content-Security-Policy; anything else is 404.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := "index.html"
	if r.URL.Path != "/" {
		name = strings.TrimPrefix(r.URL.Path, "/static/")
		if name != "app.js" && name != "style.css" {
			respond.Error(w, http.StatusNotFound, "no such file: "+r.URL.Path+" (the dashboard is at /)")
			return
		}
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, d.files, name)
}

// Files returns the page's files (index.html, app.js, style.css), read-only:
// tests read the source the browser is served.
func (d *Dashboard) Files() fs.FS { return d.files }
