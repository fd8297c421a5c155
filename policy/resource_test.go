package policy

import (
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
)

func TestNormalizeResource(t *testing.T) {
	tests := []struct{ in, want string }{
		{"topic/a/b", "topic/a/b"},
		{"*", "*"},
		{"arn:aws:iot:us-east-1:123456789012:topic/a/b", "topic/a/b"},
		{"arn:aws-cn:iot:cn-north-1:210987654321:client/x", "client/x"},
		{"arn:aws:iot:local:000000000000:topic/a:b", "topic/a:b"},
		{"arn:aws:iot:r:a:thing/t/shadow", "thing/t/shadow"},
	}
	for _, tc := range tests {
		got, err := NormalizeResource(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeResource(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
		if got := shortResource(tc.in); got != tc.want {
			t.Errorf("shortResource(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"", "topic", "topic/", "queue/a", "arn:aws:s3:::bucket", "arn:aws:iot:r:topic/x"} {
		if _, err := NormalizeResource(in); imprint.ErrorKind(err) != imprint.Invalid {
			t.Errorf("NormalizeResource(%q) error = %v, want kind Invalid", in, err)
		}
	}
	if got := shortResource("arn:aws:s3:::bucket/key"); got != "arn:aws:s3:::bucket/key" {
		t.Errorf("shortResource(s3 ARN) = %q, want it whole", got)
	}
}

func TestAccountARN(t *testing.T) {
	tests := []struct {
		account Account
		want    string
	}{
		{Account{}, "arn:aws:iot:local:000000000000:policy/p"},
		{DefaultAccount, "arn:aws:iot:local:000000000000:policy/p"},
		{Account{Partition: "aws-cn", Region: "cn-north-1", ID: "123456789012"}, "arn:aws-cn:iot:cn-north-1:123456789012:policy/p"},
	}
	for _, tc := range tests {
		if got := tc.account.PolicyARN("p"); got != tc.want {
			t.Errorf("PolicyARN() = %q, want %q", got, tc.want)
		}
	}
}

func TestCompileResource(t *testing.T) {
	tests := []struct {
		text    string
		matches []string
		misses  []string
	}{
		{"arn:aws:iot:us-east-1:123456789012:topic/a", []string{"topic/a"}, []string{"topic/b"}},
		{"arn:aws:iot:*:*:topic/a", []string{"topic/a"}, []string{"topic/b"}},
		{"arn:aws:iot:aws-region:aws-account-id:topic/a", []string{"topic/a"}, nil},
		{"arn:aws:iot:us-east-1:123456789012:*", []string{"topic/a", "client/x"}, nil},
		{"arn:aws:iot:*", []string{"topic/a", "thing/t"}, nil},
		{"arn:aws:*:*:*:topic/a", []string{"topic/a"}, nil},
		{"topic/a/*", []string{"topic/a/b"}, []string{"topic/b"}},
		{"top*", []string{"topic/a", "topicfilter/a"}, []string{"thing/a"}},
		{"*", []string{"", "topic/a", "*"}, nil},
		{"${iot:ClientId}", nil, []string{"topic/a"}},
	}
	for _, tc := range tests {
		p, msg := compileResource(tc.text)
		if msg != "" {
			t.Errorf("compileResource(%q) = %q", tc.text, msg)
			continue
		}
		for _, s := range tc.matches {
			if !p.match(s, &Request{}) {
				t.Errorf("compileResource(%q) does not match %q", tc.text, s)
			}
		}
		for _, s := range tc.misses {
			if p.match(s, &Request{}) {
				t.Errorf("compileResource(%q) matches %q", tc.text, s)
			}
		}
	}
}

func TestCompileResourceErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"arn:aws:s3:::bucket/*", `names service "s3", not iot`},
		{"arn:aws:iot:us-east-1:topic/a", "is not of the form arn:partition:iot:region:account:resource"},
		{"arn::iot:r:a:topic/a", "has no partition"},
		{"arn:aws:iot:r:a:", "empty resource"},
		{"topics/a", `unknown resource type "topics"`},
		{"policy/p", `unknown resource type "policy"`},
		{"topic", `resource "topic" is not of the form type/name`},
		{"x*", `resource "x" is not of the form type/name`},
		{"topic/${iot:Foo}", "unknown policy variable ${iot:Foo}"},
	}
	for _, tc := range tests {
		if _, msg := compileResource(tc.text); !strings.Contains(msg, tc.want) {
			t.Errorf("compileResource(%q) = %q, want it to contain %q", tc.text, msg, tc.want)
		}
	}
}
