package webui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func (srv *Server) confirmDeadline(cfg ConfigView) time.Duration {
	return time.Duration(cfg.Settings.ConfirmSeconds) * time.Second
}

// runningRules are the rules the dataplane runs: a pending change's, or the stored ones.
func runningRules(cfg ConfigView) string {
	if cfg.Pending != nil && cfg.Pending.Rules != "" {
		return cfg.Pending.Rules
	}
	return cfg.Rules
}

func (srv *Server) rulesView(r *http.Request, rq *request, cfg ConfigView, text string) rulesView {
	v := rulesView{base: srv.pageBase(r, rq, "Rules", "rules"), Text: text, Running: runningRules(cfg), ConfirmS: cfg.Settings.ConfirmSeconds}
	return v
}

func (srv *Server) handleRulesPage(w http.ResponseWriter, r *http.Request, rq *request) {
	cfg, err := srv.opts.Config.Config(r.Context())
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	srv.render(w, r, http.StatusOK, rulesPage(srv.rulesView(r, rq, cfg, runningRules(cfg))))
}

// formText reads a textarea, normalizing the CRLF line ends browsers send.
func formText(r *http.Request, name string) string {
	return strings.ReplaceAll(r.PostFormValue(name), "\r\n", "\n")
}

func (srv *Server) handleRulesForm(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	cfg, err := srv.opts.Config.Config(ctx)
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	text := formText(r, "rules")
	v := srv.rulesView(r, rq, cfg, text)
	diff := lineDiff(v.Running, text)
	v.Diff, v.Changed = diffHunks(diff, 3), diffChanged(diff)
	action := r.PostFormValue("action")
	switch action {
	case "check":
		err = srv.opts.Config.CheckRules(ctx, text)
	case "apply":
		err = srv.opts.Config.ApplyRules(ctx, rq.actor, text, srv.confirmDeadline(cfg))
		if err == nil {
			srv.redirectFlash(w, r, rq, "/rules", fmt.Sprintf("New rules are running. Confirm them within %d seconds or they revert.", cfg.Settings.ConfirmSeconds))
			return
		}
	default:
		err = &InputError{Msg: fmt.Sprintf("unknown action %q", action)}
	}
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			v.Problem = ie
			v.Listing = listing(text, ie.Line, ie.Column)
		} else {
			v.Err = err.Error()
		}
		v.Pending = nil
		if c, cerr := srv.opts.Config.Config(ctx); cerr == nil {
			v.Pending = c.Pending
		}
		srv.render(w, r, errorStatus(err), rulesPage(v))
		return
	}
	v.Checked = true
	srv.render(w, r, http.StatusOK, rulesPage(v))
}

// listing numbers the lines around a problem so it can be shown in place.
func listing(text string, line, col int) []listingLine {
	if line <= 0 {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n")
	var out []listingLine
	for i := max(1, line-5); i <= min(len(lines), line+5); i++ {
		out = append(out, listingLine{N: i, Text: lines[i-1], Bad: i == line, Col: col})
	}
	return out
}

func (srv *Server) handleConfirmForm(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := srv.opts.Config.Confirm(r.Context(), rq.actor); err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	srv.redirectFlash(w, r, rq, back(r, "/"), "Change confirmed and saved.")
}

func (srv *Server) handleRevertForm(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := srv.opts.Config.Revert(r.Context(), rq.actor); err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	srv.redirectFlash(w, r, rq, back(r, "/"), "Change reverted.")
}

func (srv *Server) policyView(r *http.Request, rq *request, cfg ConfigView, knobs []Knob) policyView {
	v := policyView{base: srv.pageBase(r, rq, "Policy", "policy"), Knobs: knobs, Values: map[string]string{}, ConfirmS: cfg.Settings.ConfirmSeconds}
	for _, k := range knobs {
		v.Values[k.Name] = k.Value
	}
	return v
}

func (srv *Server) handlePolicyPage(w http.ResponseWriter, r *http.Request, rq *request) {
	cfg, err := srv.opts.Config.Config(r.Context())
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	knobs, err := srv.opts.Config.Knobs(r.Context())
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	srv.render(w, r, http.StatusOK, policyPage(srv.policyView(r, rq, cfg, knobs)))
}

// policyText writes the form's knob values as a policy file, one knob per
// line in knob order, so an error's line names its knob.
func policyText(knobs []Knob, value func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for _, k := range knobs {
		v, ok := value(k.Name)
		if !ok {
			return "", &InputError{Part: "policy", Msg: k.Name + ": missing"}
		}
		v = strings.TrimSpace(v)
		if strings.ContainsAny(v, "\r\n#") {
			return "", &InputError{Part: "policy", Msg: k.Name + ": a value is one line without '#'"}
		}
		b.WriteString(k.Name + ": " + v + "\n")
	}
	return b.String(), nil
}

func (srv *Server) handlePolicyForm(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	cfg, err := srv.opts.Config.Config(ctx)
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	knobs, err := srv.opts.Config.Knobs(ctx)
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	v := srv.policyView(r, rq, cfg, knobs)
	text, err := policyText(knobs, func(name string) (string, bool) {
		vals, ok := r.PostForm[name]
		if !ok || len(vals) != 1 {
			return "", false
		}
		v.Values[name] = vals[0]
		return vals[0], true
	})
	if err == nil {
		err = srv.opts.Config.ApplyPolicy(ctx, rq.actor, text, srv.confirmDeadline(cfg))
	}
	if err == nil {
		srv.redirectFlash(w, r, rq, "/policy", fmt.Sprintf("New policy is running. Confirm it within %d seconds or it reverts.", cfg.Settings.ConfirmSeconds))
		return
	}
	var ie *InputError
	if errors.As(err, &ie) {
		msg := ie.Msg
		if ie.Line >= 1 && ie.Line <= len(knobs) {
			v.BadKnob = knobs[ie.Line-1].Name
			msg = v.BadKnob + ": " + msg
		}
		v.Problem = &InputError{Part: "policy", Msg: msg}
	} else {
		v.Err = err.Error()
	}
	srv.render(w, r, errorStatus(err), policyPage(v))
}

// caretLine points at the problem's column under its line, keeping the
// line's tabs so the caret lines up.
func caretLine(l listingLine) string {
	var b strings.Builder
	for i, r := range []rune(l.Text) {
		if i >= l.Col-1 {
			break
		}
		if r == '\t' {
			b.WriteRune('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("^ here")
	return b.String()
}
