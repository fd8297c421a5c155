package policy

import (
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
)

func TestParseAction(t *testing.T) {
	tests := []struct {
		in   string
		want Action
	}{
		{"iot:Publish", ActionPublish},
		{"iot:publish", ActionPublish},
		{"IOT:PUBLISH", ActionPublish},
		{"iot:AssumeRoleWithCertificate", ActionAssumeRoleWithCertificate},
		{"iot:ListNamedShadowsForThing", ActionListNamedShadowsForThing},
	}
	for _, tc := range tests {
		got, err := ParseAction(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAction(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "Publish", "iot:Publsh", "iot:*", "greengrass:Discover"} {
		if _, err := ParseAction(in); imprint.ErrorKind(err) != imprint.Invalid {
			t.Errorf("ParseAction(%q) error = %v, want kind Invalid", in, err)
		}
	}
}

func TestActionString(t *testing.T) {
	for _, a := range Actions() {
		back, err := ParseAction(a.String())
		if err != nil || back != a {
			t.Errorf("ParseAction(%q) = %v, %v, want %v", a.String(), back, err, a)
		}
	}
	if got := len(Actions()); got != 16 {
		t.Errorf("len(Actions()) = %d, want 16", got)
	}
	if got := Action(0).String(); got != "" {
		t.Errorf("Action(0).String() = %q, want \"\"", got)
	}
}

func TestCompileAction(t *testing.T) {
	tests := []struct {
		text string
		want []Action
	}{
		{"iot:Publish", []Action{ActionPublish}},
		{"iot:PUBLISH", []Action{ActionPublish}},
		{"iot:Get*", []Action{ActionGetRetainedMessage, ActionGetThingShadow, ActionGetPendingJobExecutions}},
		{"iot:*Shadow", []Action{ActionGetThingShadow, ActionUpdateThingShadow, ActionDeleteThingShadow}},
		{"iot:?eceive", []Action{ActionReceive}},
		{"iot:*JobExecution*", []Action{ActionDescribeJobExecution, ActionGetPendingJobExecutions, ActionUpdateJobExecution, ActionStartNextPendingJobExecution}},
		{"greengrass:*", nil},
		{"greengrass:Discover", nil},
	}
	for _, tc := range tests {
		set, msg := compileAction(tc.text)
		if msg != "" {
			t.Errorf("compileAction(%q) = %q", tc.text, msg)
			continue
		}
		var want actionSet
		for _, a := range tc.want {
			want |= 1 << a
		}
		if set != want {
			t.Errorf("compileAction(%q) = %b, want %b", tc.text, set, want)
		}
	}
	for _, text := range []string{"*", "iot:*", "*:*", "io?:*"} {
		if set, _ := compileAction(text); set != allActions {
			t.Errorf("compileAction(%q) = %b, want all actions %b", text, set, allActions)
		}
	}
}

func TestCompileActionErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"iot:Publsh", `unknown action "iot:Publsh"`},
		{"iot:Nothing*", `action "iot:Nothing*" matches no action`},
		{"s3:GetObject", `unsupported action "s3:GetObject"`},
		{"Publish", "is not of the form service:Name"},
		{"iot:", "is not of the form service:Name"},
		{"", "is not of the form service:Name"},
	}
	for _, tc := range tests {
		if _, msg := compileAction(tc.text); !strings.Contains(msg, tc.want) {
			t.Errorf("compileAction(%q) = %q, want it to contain %q", tc.text, msg, tc.want)
		}
	}
}
