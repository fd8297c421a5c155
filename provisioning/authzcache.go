package provisioning

import (
	"sync"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/policy"
)

// maxCachedAuthorizations bounds the authorization cache; when it is full
// it starts again empty.
const maxCachedAuthorizations = 200_000

// authzCache keeps, per certificate and client ID, what Connect read to
// decide a connection besides the certificate's status: the thing it speaks
// for and its compiled effective policies. An entry is good while nothing
// that decides connections changed since it was read: the store counts the
// changes committed in this process (AuthorizationGeneration, moved on
// before the call that made a change returns), and the changes of other
// replicas arrive as imprint.ChannelAuthorization notifications (flush).
type authzCache struct {
	mu        sync.Mutex
	flushes   uint64 // notifications heard
	store     uint64 // the store's generation the entries were read under
	entries   map[string]authzEntry
	templates map[string]*imprint.ProvisioningTemplate // by name, for first connections
}

type authzEntry struct {
	thing    *policy.Thing
	policies []*policy.Policy
}

// authzStamp is when a lookup began: an entry read after it is kept only if
// nothing changed in between.
type authzStamp struct{ flushes, store uint64 }

func newAuthzCache() *authzCache {
	return &authzCache{entries: map[string]authzEntry{}, templates: map[string]*imprint.ProvisioningTemplate{}}
}

// get returns the entry for key if it is good under the store's generation
// now, and the stamp a lookup in the store must give put.
func (c *authzCache) get(key string, storeGen uint64) (authzEntry, bool, authzStamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp := authzStamp{c.flushes, storeGen}
	if storeGen != c.store {
		return authzEntry{}, false, stamp
	}
	e, ok := c.entries[key]
	return e, ok, stamp
}

// put keeps e for key, read after stamp, unless something changed since.
func (c *authzCache) put(key string, e authzEntry, stamp authzStamp, storeGen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current(stamp, storeGen) {
		c.entries[key] = e
	}
}

// template returns the template kept under name, as get does entries.
func (c *authzCache) template(name string, storeGen uint64) (*imprint.ProvisioningTemplate, authzStamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp := authzStamp{c.flushes, storeGen}
	if storeGen != c.store {
		return nil, stamp
	}
	return c.templates[name], stamp
}

// putTemplate keeps t, read after stamp, unless something changed since.
func (c *authzCache) putTemplate(t *imprint.ProvisioningTemplate, stamp authzStamp, storeGen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current(stamp, storeGen) {
		c.templates[t.Name] = t
	}
}

// current reports whether what was read after stamp may be kept under the
// store's generation storeGen, starting the cache again empty when that
// generation is newer than the one kept. c.mu is held.
func (c *authzCache) current(stamp authzStamp, storeGen uint64) bool {
	if stamp.flushes != c.flushes || stamp.store != storeGen {
		return false // a change came in while it was read
	}
	if storeGen != c.store || len(c.entries) >= maxCachedAuthorizations {
		c.store = storeGen
		clear(c.entries)
		clear(c.templates)
	}
	return true
}

// flush forgets every entry: another replica changed what decides
// connections, or notifications may have been lost.
func (c *authzCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushes++
	clear(c.entries)
	clear(c.templates)
}
