package registry

// CloseIdleConnections closes the connections the client keeps open for
// the next request, which a long-lived program does when it is done with a
// client: each holds a file descriptor and two goroutines. A transport
// given in Config.Transport is the caller's to close.
func (c *Client) CloseIdleConnections() {
	if c.hosts != nil {
		c.hosts.CloseIdleConnections()
	}
}
