package policy

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/imprint-iot/imprint"
)

func TestDecide(t *testing.T) {
	allowAll := mustCompile(t, "allow-all", doc(`{"Effect":"Allow","Action":"iot:*","Resource":"*"}`))
	denyAdmin := mustCompile(t, "deny-admin", doc(`{"Effect":"Deny","Action":["iot:Publish","iot:Receive"],"Resource":"topic/admin/*"}`))
	notAction := mustCompile(t, "not-action", doc(`{"Effect":"Allow","NotAction":["iot:Publish","iot:RetainPublish"],"Resource":"*"}`))
	notResource := mustCompile(t, "not-resource", doc(`{"Effect":"Allow","Action":"iot:Publish","NotResource":["topic/admin/*","topic/${iot:ClientId}/private/*"]}`))
	tests := []struct {
		name     string
		req      Request
		policies []*Policy
		want     Result
		by       *Policy
	}{
		{"no policies", Request{Action: ActionConnect, Resource: "client/a"}, nil, ImplicitDeny, nil},
		{"nil policy", Request{Action: ActionConnect, Resource: "client/a"}, []*Policy{nil, allowAll}, Allowed, allowAll},
		{"no action", Request{Resource: "client/a"}, []*Policy{allowAll}, ImplicitDeny, nil},
		{"bad action", Request{Action: 200, Resource: "client/a"}, []*Policy{allowAll}, ImplicitDeny, nil},
		{"allowed", Request{Action: ActionPublish, Resource: "topic/a"}, []*Policy{denyAdmin, allowAll}, Allowed, allowAll},
		{"deny wins", Request{Action: ActionPublish, Resource: "topic/admin/x"}, []*Policy{allowAll, denyAdmin}, ExplicitDeny, denyAdmin},
		{"deny wins over its own order", Request{Action: ActionReceive, Resource: "topic/admin/x"}, []*Policy{denyAdmin, allowAll}, ExplicitDeny, denyAdmin},
		{"deny of other action", Request{Action: ActionSubscribe, Resource: "topic/admin/x"}, []*Policy{allowAll, denyAdmin}, Allowed, allowAll},
		{"deny alone", Request{Action: ActionPublish, Resource: "topic/a"}, []*Policy{denyAdmin}, ImplicitDeny, nil},
		{"NotAction allows others", Request{Action: ActionSubscribe, Resource: "topicfilter/a"}, []*Policy{notAction}, Allowed, notAction},
		{"NotAction excludes", Request{Action: ActionPublish, Resource: "topic/a"}, []*Policy{notAction}, ImplicitDeny, nil},
		{"NotResource allows others", Request{Action: ActionPublish, Resource: "topic/a", ClientID: "c"}, []*Policy{notResource}, Allowed, notResource},
		{"NotResource excludes", Request{Action: ActionPublish, Resource: "topic/admin/a", ClientID: "c"}, []*Policy{notResource}, ImplicitDeny, nil},
		{"NotResource excludes a variable", Request{Action: ActionPublish, Resource: "topic/c/private/a", ClientID: "c"}, []*Policy{notResource}, ImplicitDeny, nil},
		{"NotResource with unresolved variable", Request{Action: ActionPublish, Resource: "topic/a"}, []*Policy{notResource}, ImplicitDeny, nil},
		{"ARN resource", Request{Action: ActionPublish, Resource: "arn:aws:iot:eu-west-1:111122223333:topic/admin/x"}, []*Policy{allowAll, denyAdmin}, ExplicitDeny, denyAdmin},
		{"resource too long", Request{Action: ActionPublish, Resource: "topic/" + strings.Repeat("a", MaxResourceLength)}, []*Policy{allowAll}, ImplicitDeny, nil},
		{"longest resource", Request{Action: ActionPublish, Resource: "topic/" + strings.Repeat("a", MaxResourceLength-6)}, []*Policy{allowAll}, Allowed, allowAll},
		{"list retained messages", Request{Action: ActionListRetainedMessages, Resource: "*"}, []*Policy{allowAll}, Allowed, allowAll},
		{"list retained messages needs *", Request{Action: ActionListRetainedMessages, Resource: "*"}, []*Policy{notAction, denyAdmin}, Allowed, notAction},
		{"other service ARN", Request{Action: ActionPublish, Resource: "arn:aws:s3:::topic/admin/x"}, []*Policy{allowAll, denyAdmin}, Allowed, allowAll},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(&tc.req, tc.policies...)
			if d.Result != tc.want || d.Policy != tc.by {
				t.Errorf("Decide() = %v by %v, want %v by %v", d.Result, name(d.Policy), tc.want, name(tc.by))
			}
			if d.Allowed() != (tc.want == Allowed) {
				t.Errorf("Decide().Allowed() = %v, want %v", d.Allowed(), tc.want == Allowed)
			}
			if e := Explain(&tc.req, tc.policies...); e.Result != tc.want {
				t.Errorf("Explain() = %v, want %v", e.Result, tc.want)
			}
		})
	}
}

func name(p *Policy) string {
	if p == nil {
		return "<nil>"
	}
	return p.Name()
}

func names(ps []*Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name())
	}
	return out
}

func TestExplain(t *testing.T) {
	a := mustCompile(t, "a", doc(`{"Effect":"Allow","Action":"iot:Publish","Resource":"topic/${iot:Connection.Thing.ThingName}/*"}`))
	b := mustCompile(t, "b", doc(`[{"Effect":"Allow","Action":"iot:Publish","Resource":"topic/*"},
		{"Effect":"Allow","Action":"iot:Publish","Resource":"topic/*","Condition":{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"x"}}}]`))
	deny := mustCompile(t, "deny", doc(`{"Effect":"Deny","Action":"iot:Publish","Resource":"topic/${iot:ClientId}/secret"}`))
	other := mustCompile(t, "other", doc(`{"Effect":"Allow","Action":"iot:Connect","Resource":"client/${iot:CertificateId}"}`))
	tests := []struct {
		name     string
		req      Request
		want     Result
		allowing []string
		denying  []string
		missing  []string
	}{
		{"all allow", Request{Action: ActionPublish, Resource: "topic/t/x", ClientID: "c", Thing: &Thing{Name: "t", TypeName: "x", Attached: true}},
			Allowed, []string{"a", "b"}, nil, nil},
		{"deny and allow", Request{Action: ActionPublish, Resource: "topic/c/secret", ClientID: "c", Thing: &Thing{Name: "c", TypeName: "x", Attached: true}},
			ExplicitDeny, []string{"a", "b"}, []string{"deny"}, nil},
		{"missing values", Request{Action: ActionPublish, Resource: "topic/c/secret"},
			Allowed, []string{"b"}, nil, []string{"iot:Connection.Thing.ThingName", "iot:Connection.Thing.ThingTypeName", "iot:ClientId"}},
		{"nothing applies", Request{Action: ActionReceive, Resource: "topic/c"},
			ImplicitDeny, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Explain(&tc.req, a, b, deny, other)
			if e.Result != tc.want {
				t.Errorf("Explain() = %v, want %v", e.Result, tc.want)
			}
			if got := names(e.Allowing); !slices.Equal(got, tc.allowing) {
				t.Errorf("Explain().Allowing = %q, want %q", got, tc.allowing)
			}
			if got := names(e.Denying); !slices.Equal(got, tc.denying) {
				t.Errorf("Explain().Denying = %q, want %q", got, tc.denying)
			}
			if !slices.Equal(e.Missing, tc.missing) {
				t.Errorf("Explain().Missing = %q, want %q", e.Missing, tc.missing)
			}
			if d := Decide(&tc.req, a, b, deny, other); d.Result != e.Result {
				t.Errorf("Decide() = %v, Explain() = %v", d.Result, e.Result)
			}
		})
	}
}

// TestUnresolvedVariable checks that a statement with a variable the request
// cannot resolve does not match, whatever its effect.
func TestUnresolvedVariable(t *testing.T) {
	p := mustCompile(t, "p", doc(`[
		{"Effect":"Allow","Action":"iot:Publish","Resource":"topic/*"},
		{"Effect":"Deny","Action":"iot:Publish","Resource":"topic/*","Condition":{"StringEquals":{"iot:ClientId":"${iot:Certificate.Subject.CommonName}"}}}]`))
	tests := []struct {
		name string
		req  Request
		want Result
	}{
		{"deny applies", Request{ClientID: "x", Certificate: &Certificate{Subject: Name{CommonName: []string{"x"}}}}, ExplicitDeny},
		{"deny condition false", Request{ClientID: "x", Certificate: &Certificate{Subject: Name{CommonName: []string{"y"}}}}, Allowed},
		{"no certificate", Request{ClientID: "x"}, Allowed},
		{"common name not substituted", Request{ClientID: "x*", Certificate: &Certificate{Subject: Name{CommonName: []string{"x*"}}}}, Allowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Action, tc.req.Resource = ActionPublish, "topic/a"
			if got := Decide(&tc.req, p).Result; got != tc.want {
				t.Errorf("Decide() = %v, want %v", got, tc.want)
			}
		})
	}
	e := Explain(&Request{Action: ActionPublish, Resource: "topic/a", ClientID: "x"}, p)
	if !slices.Equal(e.Missing, []string{"iot:Certificate.Subject.CommonName"}) {
		t.Errorf("Explain().Missing = %q, want the common name", e.Missing)
	}
}

// TestWildcardTraps covers the traps of MQTT wildcards in policies: '+' and
// '#' are literal, and '*' matches them.
func TestWildcardTraps(t *testing.T) {
	p := mustCompile(t, "p", doc(`[
		{"Effect":"Allow","Action":["iot:Subscribe"],"Resource":"topicfilter/a/*"},
		{"Effect":"Allow","Action":["iot:Receive"],"Resource":"topic/a/*"},
		{"Effect":"Deny","Action":["iot:Subscribe"],"Resource":"topicfilter/a/restricted/*"}]`))
	guarded := mustCompile(t, "guarded", doc(`{"Effect":"Deny","Action":["iot:Receive"],"Resource":"topic/a/restricted/*"}`))
	denyAll := mustCompile(t, "deny-all", doc(`{"Effect":"Deny","Action":["iot:Subscribe"],"Resource":"topicfilter/a/*"}`))
	tests := []struct {
		name     string
		req      Request
		policies []*Policy
		want     Result
	}{
		{"deny stops the restricted filter", Request{Action: ActionSubscribe, Resource: "topicfilter/a/restricted/x"}, []*Policy{p}, ExplicitDeny},
		{"deny does not stop a/#", Request{Action: ActionSubscribe, Resource: "topicfilter/a/#"}, []*Policy{p}, Allowed},
		{"deny does not stop a/+/x", Request{Action: ActionSubscribe, Resource: "topicfilter/a/+/x"}, []*Policy{p}, Allowed},
		{"so restricted messages arrive", Request{Action: ActionReceive, Resource: "topic/a/restricted/x"}, []*Policy{p}, Allowed},
		{"a Receive deny stops them", Request{Action: ActionReceive, Resource: "topic/a/restricted/x"}, []*Policy{p, guarded}, ExplicitDeny},
		{"a Receive deny spares others", Request{Action: ActionReceive, Resource: "topic/a/open/x"}, []*Policy{p, guarded}, Allowed},
		{"deny on a/* stops a/#, as * matches #", Request{Action: ActionSubscribe, Resource: "topicfilter/a/#"}, []*Policy{p, denyAll}, ExplicitDeny},
		{"deny on a/* does not stop #", Request{Action: ActionSubscribe, Resource: "topicfilter/#"}, []*Policy{p, denyAll}, ImplicitDeny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(&tc.req, tc.policies...).Result; got != tc.want {
				t.Errorf("Decide() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecideAllocations(t *testing.T) {
	policies := []*Policy{
		mustCompile(t, "connect", benchConnect),
		mustCompile(t, "publish", benchPublish),
		mustCompile(t, "subscribe", benchSubscribe),
	}
	req := benchRequest()
	for _, a := range []Action{ActionConnect, ActionPublish, ActionSubscribe, ActionReceive, ActionGetThingShadow} {
		req.Action = a
		if n := testing.AllocsPerRun(100, func() { Decide(req, policies...) }); n != 0 {
			t.Errorf("Decide(%v) allocates %v times, want 0", a, n)
		}
	}
}

func TestDecideConcurrent(t *testing.T) {
	p := mustCompile(t, "p", benchPublish)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := benchRequest()
			if i%2 == 1 {
				req.Resource = "topic/thermostat-0042/admin/x"
			}
			want := []Result{Allowed, ExplicitDeny}[i%2]
			for range 1000 {
				if got := Decide(req, p).Result; got != want {
					t.Errorf("Decide() = %v, want %v", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestListNeedsStar(t *testing.T) {
	topics := mustCompile(t, "topics", doc(`{"Effect":"Allow","Action":"iot:*","Resource":"topic/*"}`))
	req := Request{Action: ActionListRetainedMessages, Resource: "*"}
	if got := Decide(&req, topics).Result; got != ImplicitDeny {
		t.Errorf("Decide(ListRetainedMessages) = %v, want IMPLICIT_DENY: topic/* does not cover \"*\"", got)
	}
}

func TestValidateName(t *testing.T) {
	for _, name := range []string{"p", "My_Policy-1.2@x+=,", strings.Repeat("a", 128)} {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "a b", "a/b", "é", strings.Repeat("a", 129)} {
		if err := ValidateName(name); imprint.ErrorKind(err) != imprint.Invalid {
			t.Errorf("ValidateName(%q) = %v, want kind Invalid", name, err)
		}
	}
}

func TestResultString(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{ImplicitDeny, "IMPLICIT_DENY"},
		{Allowed, "ALLOWED"},
		{ExplicitDeny, "EXPLICIT_DENY"},
		{Result(9), "IMPLICIT_DENY"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("Result(%d).String() = %q, want %q", tc.r, got, tc.want)
		}
	}
}
