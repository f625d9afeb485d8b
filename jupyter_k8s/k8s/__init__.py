"""Everything that talks to the Kubernetes API: the client adapter and the services on it."""
