package gateway

// WaitDecisions waits until the sessions put to the engine again by
// Invalidate and Notify so far have been decided.
func (m *MQTT) WaitDecisions() { m.recheck.Wait() }
