package webui

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// errorStatus maps a backend error to an HTTP status.
func errorStatus(err error) int {
	var ie *InputError
	var ce *ConflictError
	var nf *NotFoundError
	switch {
	case errors.As(err, &ie):
		return http.StatusBadRequest
	case errors.As(err, &ce):
		return http.StatusConflict
	case errors.As(err, &nf):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// writeAPIError answers a backend error as JSON; input errors keep their
// part, line and column.
func (srv *Server) writeAPIError(w http.ResponseWriter, err error) {
	code := errorStatus(err)
	var ie *InputError
	if errors.As(err, &ie) {
		writeJSON(w, code, ie)
		return
	}
	if code == http.StatusInternalServerError {
		srv.log.Error("webui: backend", "err", err)
	}
	writeJSONError(w, code, err.Error())
}

// readBody reads a request body up to limit bytes, refusing more.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &InputError{Msg: "request body too large"}
		}
		return nil, &InputError{Msg: "reading the request body: " + err.Error()}
	}
	return b, nil
}

// decodeJSON reads a JSON body into v, refusing unknown fields.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := readBody(w, r, maxBodyBytes)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &InputError{Msg: "invalid JSON: " + err.Error()}
	}
	return nil
}
