package app

import "fieldsync/contract"

// protocolSetting keeps the server's protocol version on the device, so
// that the app can say the server is newer before it signs in again.
const protocolSetting = "server_protocol"

// ServerProtocol is the version of the protocol the server said it speaks
// when the device last signed in (docs/protocol.md §1.6): contract.Protocol
// when they agree, less for an older server, more for a newer one, and 0
// before any server said.
func (a *App) ServerProtocol() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.protocol
}

// ProtocolNote says, for the user, what the server's protocol version
// means for them: that the app should be updated when the server is newer
// than it, else nothing. A newer server still serves an older app: versions
// only add.
func (a *App) ProtocolNote() string {
	if a.ServerProtocol() > contract.Protocol {
		return "The server is newer than this app; update the app when you can."
	}
	return ""
}
