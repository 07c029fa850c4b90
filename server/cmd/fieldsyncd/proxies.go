package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// proxyList is the value of --trusted-proxy: load balancers, each an
// address or a network, given as a comma-separated list, the flag
// repeated, or both. An empty value names none, so that a settings file
// may leave it blank.
type proxyList []netip.Prefix

func (l *proxyList) String() string {
	var s []string
	for _, p := range *l {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

func (l *proxyList) Set(v string) error {
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := parseProxy(item)
		if err != nil {
			return err
		}
		*l = append(*l, p)
	}
	return nil
}

// parseProxy reads an address (a network of one) or a network.
func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or a network, such as 10.0.1.5 or 10.0.1.0/24", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a network, such as 10.0.1.5 or 10.0.1.0/24", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// trustedProxyHelp is the help text of --trusted-proxy.
const trustedProxyHelp = "the load balancers in front of this server (addresses or networks, comma-separated; the flag may repeat): " +
	"for a sign-in that comes through one of them, wrong passwords count against the client address it reports in X-Forwarded-For, " +
	"not against the balancer's own. Never name an address that clients can reach directly"
