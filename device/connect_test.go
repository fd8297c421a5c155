package device

import (
	"bufio"
	"bytes"
	"testing"
)

// TestReadConnack reads MQTT 5 CONNACKs whose properties come in any order
// (the reason string after others, user properties among them), a 3.1.1
// return code, and refuses malformed ones.
func TestReadConnack(t *testing.T) {
	props := func(p ...byte) []byte { return append(appendLength(nil, len(p)), p...) }
	str := func(s string) []byte { return append([]byte{0, byte(len(s))}, s...) }
	var reasonProps []byte
	reasonProps = append(reasonProps, 0x21, 0, 10, 0x24, 1, 0x26)
	reasonProps = append(reasonProps, str("k")...)
	reasonProps = append(reasonProps, str("v")...)
	reasonProps = append(reasonProps, 0x1f)
	reasonProps = append(reasonProps, str("certificate x is REVOKED")...)
	packet := func(body []byte) []byte { return append(appendLength([]byte{0x20}, len(body)), body...) }
	cases := []struct {
		name    string
		version byte
		packet  []byte
		code    byte
		reason  string
		ok      bool
	}{
		{"v5 accepted, no properties", MQTT5, packet(append([]byte{0, 0}, props()...)), 0, "", true},
		{"v5 refused with a reason", MQTT5, packet(append([]byte{0, 0x87}, props(reasonProps...)...)), 0x87, "certificate x is REVOKED", true},
		{"v3.1.1 not authorized", MQTT311, packet([]byte{0, 5}), 5, "not authorized", true},
		{"not a CONNACK", MQTT5, []byte{0x30, 2, 0, 0}, 0, "", false},
		{"properties longer than the packet", MQTT5, packet([]byte{0, 0x87, 9, 0x1f}), 0, "", false},
		{"reason string cut short", MQTT5, packet(append([]byte{0, 0x87}, props(0x1f, 0, 40, 'a')...)), 0, "", false},
		{"unknown property", MQTT5, packet(append([]byte{0, 0x87}, props(0x7f, 1)...)), 0, "", false},
	}
	for _, c := range cases {
		res, err := readConnack(bufio.NewReader(bytes.NewReader(c.packet)), c.version)
		if !c.ok {
			if err == nil {
				t.Errorf("%s: readConnack() = %+v, want an error", c.name, res)
			}
			continue
		}
		if err != nil || res.ReasonCode != c.code || res.Reason != c.reason || res.Accepted != (c.code == 0) {
			t.Errorf("%s: readConnack() = %+v, %v; want code %#x reason %q", c.name, res, err, c.code, c.reason)
		}
	}
	if got := connectPacket("dev-1", MQTT5); !bytes.Equal(got, []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 5, 'd', 'e', 'v', '-', '1'}) {
		t.Errorf("connectPacket() = %v", got)
	}
}
