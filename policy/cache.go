package policy

import "sync"

// DefaultCacheSize is the capacity of a Cache made with no size.
const DefaultCacheSize = 10000

// Cache holds compiled policies by name and version ID, so that a policy
// version is compiled once. Policy versions are immutable, so an entry never
// goes stale; remove it when its version is deleted. When full, adding a
// policy evicts an arbitrary one. A Cache is safe for concurrent use; its
// zero value is an empty cache of DefaultCacheSize entries.
type Cache struct {
	mu      sync.RWMutex
	max     int
	entries map[cacheKey]*Policy
}

type cacheKey struct{ name, version string }

// NewCache returns an empty cache of at most size policies, or
// DefaultCacheSize if size is not positive.
func NewCache(size int) *Cache {
	return &Cache{max: size}
}

// Get returns the policy of that name and version, if cached.
func (c *Cache) Get(name, version string) (*Policy, bool) {
	c.mu.RLock()
	p, ok := c.entries[cacheKey{name, version}]
	c.mu.RUnlock()
	return p, ok
}

// Add caches p under its name and version, replacing any policy there.
func (c *Cache) Add(p *Policy) {
	k := cacheKey{p.name, p.version}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[cacheKey]*Policy)
	}
	max := c.max
	if max <= 0 {
		max = DefaultCacheSize
	}
	if _, ok := c.entries[k]; !ok && len(c.entries) >= max {
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[k] = p
}

// Compile returns the cached policy of that name and version, or compiles
// document as that version, caches it and returns it. It returns the errors
// Compile returns; a document that does not compile is not cached.
func (c *Cache) Compile(name, version, document string, opts ...Option) (*Policy, error) {
	if p, ok := c.Get(name, version); ok {
		return p, nil
	}
	opts = append(opts[:len(opts):len(opts)], WithVersion(version))
	p, err := Compile(name, document, opts...)
	if err != nil {
		return nil, err
	}
	c.Add(p)
	return p, nil
}

// Remove removes the policy of that name and version.
func (c *Cache) Remove(name, version string) {
	c.mu.Lock()
	delete(c.entries, cacheKey{name, version})
	c.mu.Unlock()
}

// RemovePolicy removes every version of the policy named name.
func (c *Cache) RemovePolicy(name string) {
	c.mu.Lock()
	for k := range c.entries {
		if k.name == name {
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
}

// Len returns the number of cached policies.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
