package api

import "net/http"

// HSTSMaxAge is the Strict-Transport-Security max-age, in seconds, of answers
// over TLS: a year.
const HSTSMaxAge = "31536000"

// securityHeaders tells browsers not to guess content types, and, on a TLS
// listener, to use only HTTPS for the host from now on (RFC 6797).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age="+HSTSMaxAge)
		}
		next.ServeHTTP(w, r)
	})
}
