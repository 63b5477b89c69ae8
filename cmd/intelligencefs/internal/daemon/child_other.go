//go:build !linux

package daemon

// InitChild finds no daemon child where there is no daemon mode (mounting
// is Linux only).
func InitChild(getenv func(string) string) (*Child, error) { return nil, nil }
