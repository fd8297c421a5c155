package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleDir holds the AWS documentation examples, beside the repository in
// CI and on developer machines.
const exampleDir = "../testdata/aws-examples"

// exampleCase is one request against a documented example policy, with the
// decision its documentation gives.
type exampleCase struct {
	name string
	req  Request
	want Result
}

// examples are the documented example policies, written out here so that
// the package's tests stand alone, with the outcomes their documentation
// states. TestAWSExampleFiles checks that the files say the same.
var examples = map[string]struct {
	document string
	cases    []exampleCase
}{
	"policy-claim-certificate": {
		document: doc(`[
			{"Effect":"Allow","Action":["iot:Connect"],"Resource":"*"},
			{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":[
				"arn:aws:iot:aws-region:aws-account-id:topic/$aws/certificates/create/*",
				"arn:aws:iot:aws-region:aws-account-id:topic/$aws/provisioning-templates/templateName/provision/*"]},
			{"Effect":"Allow","Action":"iot:Subscribe","Resource":[
				"arn:aws:iot:aws-region:aws-account-id:topicfilter/$aws/certificates/create/*",
				"arn:aws:iot:aws-region:aws-account-id:topicfilter/$aws/provisioning-templates/templateName/provision/*"]}]`),
		cases: []exampleCase{
			{"connect any client ID", Request{Action: ActionConnect, Resource: "client/any-device", ClientID: "any-device"}, Allowed},
			{"create-from-csr is not below create/", Request{Action: ActionPublish, Resource: "topic/$aws/certificates/create-from-csr/json"}, ImplicitDeny},
			{"publish create", Request{Action: ActionPublish, Resource: "topic/$aws/certificates/create/json"}, Allowed},
			{"receive create accepted", Request{Action: ActionReceive, Resource: "topic/$aws/certificates/create/json/accepted"}, Allowed},
			{"publish provision", Request{Action: ActionPublish, Resource: "arn:aws:iot:us-east-1:123456789012:topic/$aws/provisioning-templates/templateName/provision/json"}, Allowed},
			{"publish other template", Request{Action: ActionPublish, Resource: "topic/$aws/provisioning-templates/other/provision/json"}, ImplicitDeny},
			{"subscribe create accepted", Request{Action: ActionSubscribe, Resource: "topicfilter/$aws/certificates/create/json/accepted"}, Allowed},
			{"subscribe to a topic, not a filter", Request{Action: ActionSubscribe, Resource: "topic/$aws/certificates/create/json/accepted"}, ImplicitDeny},
			{"publish elsewhere", Request{Action: ActionPublish, Resource: "topic/$aws/things/x/shadow/update"}, ImplicitDeny},
			{"receive elsewhere", Request{Action: ActionReceive, Resource: "topic/devices/x"}, ImplicitDeny},
			{"update shadow", Request{Action: ActionUpdateThingShadow, Resource: "thing/x"}, ImplicitDeny},
		},
	},
	"policy-clientid-variable": {
		document: doc(`[
			{"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123451234510:client/${iot:ClientId}"]},
			{"Effect":"Allow","Action":["iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123451234510:topic/my/topic/${iot:ClientId}"]}]`),
		cases: []exampleCase{
			{"connect as itself", Request{Action: ActionConnect, Resource: "client/dev-1", ClientID: "dev-1"}, Allowed},
			{"connect any client ID", Request{Action: ActionConnect, Resource: "client/Z_9-x", ClientID: "Z_9-x"}, Allowed},
			{"publish own topic", Request{Action: ActionPublish, Resource: "topic/my/topic/dev-1", ClientID: "dev-1"}, Allowed},
			{"publish another client's topic", Request{Action: ActionPublish, Resource: "topic/my/topic/dev-2", ClientID: "dev-1"}, ImplicitDeny},
			{"publish below own topic", Request{Action: ActionPublish, Resource: "topic/my/topic/dev-1/x", ClientID: "dev-1"}, ImplicitDeny},
			{"publish without client ID", Request{Action: ActionPublish, Resource: "topic/my/topic/"}, ImplicitDeny},
			{"subscribe", Request{Action: ActionSubscribe, Resource: "topicfilter/my/topic/dev-1", ClientID: "dev-1"}, ImplicitDeny},
		},
	},
	"policy-connect-isattached": {
		document: doc(`[{"Effect":"Allow","Action":["iot:Connect"],"Resource":["*"],
			"Condition":{"Bool":{"iot:Connection.Thing.IsAttached":["true"]}}}]`),
		cases: []exampleCase{
			{"attached", Request{Action: ActionConnect, Resource: "client/lamp-1", ClientID: "lamp-1", Thing: attachedThing("lamp-1")}, Allowed},
			{"thing not attached", Request{Action: ActionConnect, Resource: "client/lamp-1", ClientID: "lamp-1", Thing: &Thing{Name: "lamp-1"}}, ImplicitDeny},
			{"no thing", Request{Action: ActionConnect, Resource: "client/lamp-1", ClientID: "lamp-1"}, ImplicitDeny},
			{"publish", Request{Action: ActionPublish, Resource: "topic/a", Thing: attachedThing("lamp-1")}, ImplicitDeny},
		},
	},
	"policy-deny-receive": {
		document: doc(`[
			{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/device/update"},
			{"Effect":"Deny","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/device/update"}]`),
		cases: []exampleCase{
			{"subscribe succeeds", Request{Action: ActionSubscribe, Resource: "topicfilter/device/update"}, Allowed},
			{"every delivery blocked", Request{Action: ActionReceive, Resource: "topic/device/update"}, ExplicitDeny},
			{"other delivery not allowed", Request{Action: ActionReceive, Resource: "topic/device/other"}, ImplicitDeny},
			{"wildcard subscribe not allowed", Request{Action: ActionSubscribe, Resource: "topicfilter/device/#"}, ImplicitDeny},
		},
	},
	"policy-literal-plus": {
		document: doc(`[
			{"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},
			{"Effect":"Allow","Action":["iot:Subscribe"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/some/+/topic"]}]`),
		cases: []exampleCase{
			{"subscribe to the literal filter", Request{Action: ActionSubscribe, Resource: "topicfilter/some/+/topic"}, Allowed},
			{"subscribe to a matching topic", Request{Action: ActionSubscribe, Resource: "topicfilter/some/abc/topic"}, ImplicitDeny},
			{"subscribe to #", Request{Action: ActionSubscribe, Resource: "topicfilter/some/#"}, ImplicitDeny},
			{"connect as its thing", Request{Action: ActionConnect, Resource: "client/thing-1", ClientID: "thing-1", Thing: attachedThing("thing-1")}, Allowed},
			{"connect as another", Request{Action: ActionConnect, Resource: "client/thing-2", ClientID: "thing-2", Thing: attachedThing("thing-1")}, ImplicitDeny},
			{"connect without a thing", Request{Action: ActionConnect, Resource: "client/thing-1", ClientID: "thing-1"}, ImplicitDeny},
		},
	},
	"policy-publish-thingname-prefix": {
		document: doc(`[
			{"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},
			{"Effect":"Allow","Action":["iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/*"]}]`),
		cases: []exampleCase{
			{"client ID is the thing name", Request{Action: ActionConnect, Resource: "client/meter-7", ClientID: "meter-7", Thing: attachedThing("meter-7")}, Allowed},
			{"client ID is not the thing name", Request{Action: ActionConnect, Resource: "client/meter-8", ClientID: "meter-8", Thing: attachedThing("meter-7")}, ImplicitDeny},
			{"publish below the thing name", Request{Action: ActionPublish, Resource: "topic/meter-7/reading", Thing: attachedThing("meter-7")}, Allowed},
			{"star crosses levels", Request{Action: ActionPublish, Resource: "topic/meter-7/a/b/c", Thing: attachedThing("meter-7")}, Allowed},
			{"publish to the thing name alone", Request{Action: ActionPublish, Resource: "topic/meter-7", Thing: attachedThing("meter-7")}, ImplicitDeny},
			{"publish below another thing", Request{Action: ActionPublish, Resource: "topic/meter-8/reading", Thing: attachedThing("meter-7")}, ImplicitDeny},
			{"publish with a thing name prefix", Request{Action: ActionPublish, Resource: "topic/meter-77/reading", Thing: attachedThing("meter-7")}, ImplicitDeny},
		},
	},
	"policy-star-level": {
		document: doc(`[
			{"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},
			{"Effect":"Allow","Action":["iot:Subscribe"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/some/*/topic"]}]`),
		cases: []exampleCase{
			{"one level", Request{Action: ActionSubscribe, Resource: "topicfilter/some/string1/topic"}, Allowed},
			{"another level", Request{Action: ActionSubscribe, Resource: "topicfilter/some/string2/topic"}, Allowed},
			{"star crosses slashes", Request{Action: ActionSubscribe, Resource: "topicfilter/some/a/b/topic"}, Allowed},
			{"star matches a literal plus", Request{Action: ActionSubscribe, Resource: "topicfilter/some/+/topic"}, Allowed},
			{"no level", Request{Action: ActionSubscribe, Resource: "topicfilter/some/topic"}, ImplicitDeny},
			{"other suffix", Request{Action: ActionSubscribe, Resource: "topicfilter/some/a/topic/x"}, ImplicitDeny},
			{"hash filter", Request{Action: ActionSubscribe, Resource: "topicfilter/some/#"}, ImplicitDeny},
		},
	},
}

func TestExamples(t *testing.T) {
	for name, ex := range examples {
		p := mustCompile(t, name, ex.document)
		runExampleCases(t, name, p, ex.cases)
	}
}

// TestAWSExampleFiles compiles every policy example beside the repository
// and checks the outcomes its documentation states.
func TestAWSExampleFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(exampleDir, "policy-*.json"))
	if err != nil || len(files) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("the AWS examples are required when CI is set: none in %s", exampleDir)
		}
		t.Skipf("no examples in %s (CI unset)", exampleDir)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		ex, ok := examples[name]
		if !ok {
			t.Errorf("%s has no cases in examples; add the outcomes its .md states", file)
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p := mustCompile(t, name, string(data))
		runExampleCases(t, name, p, ex.cases)
	}
}

func runExampleCases(t *testing.T, name string, p *Policy, cases []exampleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(name+"/"+tc.name, func(t *testing.T) {
			if got := Decide(&tc.req, p).Result; got != tc.want {
				t.Errorf("Decide() = %v, want %v", got, tc.want)
			}
			if got := Explain(&tc.req, p).Result; got != tc.want {
				t.Errorf("Explain() = %v, want %v", got, tc.want)
			}
		})
	}
}
