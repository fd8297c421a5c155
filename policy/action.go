package policy

import (
	"strings"

	"github.com/imprint-iot/imprint"
)

// Action is an IoT data-plane action that a request asks to perform. The zero
// Action is no action; no policy allows it.
type Action uint8

// The actions an IoT policy can allow or deny. The comment names the resource
// a request for the action carries.
const (
	ActionConnect                      Action = iota + 1 // client/<clientId>
	ActionPublish                                        // topic/<topic>
	ActionSubscribe                                      // topicfilter/<filter>
	ActionReceive                                        // topic/<topic>
	ActionRetainPublish                                  // topic/<topic>
	ActionGetRetainedMessage                             // topic/<topic>
	ActionListRetainedMessages                           // *
	ActionGetThingShadow                                 // thing/<thing>[/<shadow>]
	ActionUpdateThingShadow                              // thing/<thing>[/<shadow>]
	ActionDeleteThingShadow                              // thing/<thing>[/<shadow>]
	ActionListNamedShadowsForThing                       // *
	ActionDescribeJobExecution                           // thing/<thing>
	ActionGetPendingJobExecutions                        // thing/<thing>
	ActionUpdateJobExecution                             // thing/<thing>
	ActionStartNextPendingJobExecution                   // thing/<thing>
	ActionAssumeRoleWithCertificate                      // rolealias/<alias>

	actionCount // one past the last action
)

var actionNames = [actionCount]string{
	ActionConnect:                      "iot:Connect",
	ActionPublish:                      "iot:Publish",
	ActionSubscribe:                    "iot:Subscribe",
	ActionReceive:                      "iot:Receive",
	ActionRetainPublish:                "iot:RetainPublish",
	ActionGetRetainedMessage:           "iot:GetRetainedMessage",
	ActionListRetainedMessages:         "iot:ListRetainedMessages",
	ActionGetThingShadow:               "iot:GetThingShadow",
	ActionUpdateThingShadow:            "iot:UpdateThingShadow",
	ActionDeleteThingShadow:            "iot:DeleteThingShadow",
	ActionListNamedShadowsForThing:     "iot:ListNamedShadowsForThing",
	ActionDescribeJobExecution:         "iot:DescribeJobExecution",
	ActionGetPendingJobExecutions:      "iot:GetPendingJobExecutions",
	ActionUpdateJobExecution:           "iot:UpdateJobExecution",
	ActionStartNextPendingJobExecution: "iot:StartNextPendingJobExecution",
	ActionAssumeRoleWithCertificate:    "iot:AssumeRoleWithCertificate",
}

// foreignServices are the services other than iot whose actions an IoT
// policy may name (Greengrass core devices use IoT policies). Imprint accepts
// such actions and never asks for them.
var foreignServices = []string{"greengrass"}

// String returns the action's name, such as "iot:Publish", or "" for an
// invalid action.
func (a Action) String() string {
	if a.Valid() {
		return actionNames[a]
	}
	return ""
}

// Valid reports whether a is one of the known actions.
func (a Action) Valid() bool { return a > 0 && a < actionCount }

// Actions returns every known action, in the order of their constants.
func Actions() []Action {
	out := make([]Action, 0, actionCount-1)
	for a := Action(1); a < actionCount; a++ {
		out = append(out, a)
	}
	return out
}

// ParseAction returns the action named s, such as "iot:Publish". Names are
// matched without regard to case, as AWS IoT does, so "iot:PUBLISH" (a
// TestAuthorization actionType with the "iot:" prefix) works too. It returns
// an error of kind Invalid for any other string.
func ParseAction(s string) (Action, error) {
	for a := Action(1); a < actionCount; a++ {
		if strings.EqualFold(s, actionNames[a]) {
			return a, nil
		}
	}
	return 0, imprint.Errorf(imprint.Invalid, "unknown action %s", quote(s))
}

// actionSet is a set of actions, one bit per action.
type actionSet uint32

func (s actionSet) has(a Action) bool { return s&(1<<a) != 0 }

// allActions holds every known action.
const allActions = actionSet(1<<actionCount - 2)

// compileAction returns the set of actions that the policy action text names,
// with its wildcards. It returns a message if the text names no action.
func compileAction(text string) (actionSet, string) {
	service, name, ok := strings.Cut(text, ":")
	if text == "*" {
		return allActions, ""
	}
	if !ok || name == "" || service == "" {
		return 0, "action " + quote(text) + " is not of the form service:Name"
	}
	if !strings.ContainsAny(text, "*?") {
		a, err := ParseAction(text)
		if err == nil {
			return 1 << a, ""
		}
		if isForeign(service) {
			return 0, ""
		}
		if strings.EqualFold(service, "iot") {
			return 0, "unknown action " + quote(text)
		}
		return 0, "unsupported action " + quote(text) + ": an IoT policy names iot: actions"
	}
	return compileActionPattern(text, service)
}

func compileActionPattern(text, service string) (actionSet, string) {
	p := compileGlob(strings.ToLower(text))
	var set actionSet
	for a := Action(1); a < actionCount; a++ {
		if p.matchString(strings.ToLower(actionNames[a])) {
			set |= 1 << a
		}
	}
	if set == 0 && !isForeign(service) {
		return 0, "action " + quote(text) + " matches no action"
	}
	return set, ""
}

func isForeign(service string) bool {
	for _, s := range foreignServices {
		if strings.EqualFold(service, s) {
			return true
		}
	}
	return false
}
